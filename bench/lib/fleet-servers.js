// The servers of the fleet scenario: a private PostgreSQL cluster and s3rver,
// both on loopback, started with the tests' own start-up code
// (test/support/postgres-cluster.mjs and s3-server.mjs).
//
// PostgreSQL runs with its default durability (fsync, synchronous_commit and
// full_page_writes on: each commit waits for its WAL flush), as a production
// server does; the tests turn all three off, the benchmark does not.
// s3rver is a Node process writing each object to local disk (no fsync).
import { findPostgresBinaries, startPostgresCluster } from "../../test/support/postgres-cluster.mjs";
import { startS3rver } from "../../test/support/s3-server.mjs";

/** The settings the benchmark's cluster runs with: PostgreSQL's defaults, written out so the report can print them. */
export const POSTGRES_SETTINGS = Object.freeze({ fsync: "on", synchronous_commit: "on", full_page_writes: "on" });

export const BUCKET = "attache-bench";

/**
 * Starts both servers, or resolves to `{ skipped }` when PostgreSQL is not
 * installed (no initdb / pg_ctl): the scenario then reports that instead of failing.
 */
export async function startFleetServers() {
  const binaries = findPostgresBinaries();
  if (binaries === null) return { skipped: "no PostgreSQL (initdb and pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin)" };
  const postgres = await startPostgresCluster({ binaries, database: "attache_bench", settings: POSTGRES_SETTINGS, maxConnections: 100 });
  let s3;
  try {
    // keepEmptyDirectories: several processes put and delete temp objects under one tmp/ (see test/support/s3.ts).
    s3 = await startS3rver({ bucket: BUCKET, keepEmptyDirectories: true });
  } catch (err) {
    await postgres.stop();
    throw err;
  }
  return {
    skipped: null,
    postgresUrl: postgres.url,
    postgresBinaries: binaries,
    s3,
    async stop() {
      await s3.stop().catch(() => undefined);
      await postgres.stop();
    },
  };
}
