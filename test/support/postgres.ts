/**
 * A PostgreSQL server for the tests that need one.
 *
 * With PGTEST_URL set (`postgres://user@127.0.0.1:5432/db`, a superuser on a
 * database the tests may fill with schemas), the tests use that server: CI
 * starts one cluster for the whole run and exports its URL. Otherwise the
 * first test of a file that asks for it starts a private cluster: `initdb`
 * into a temp directory (as the `postgres` user when running as root), then
 * `pg_ctl start` on a free loopback port with its socket in that directory
 * and durability off (fsync, synchronous_commit, full_page_writes: the tests
 * crash nothing but the backends they terminate). The file's `afterAll`
 * stops it and removes the directory.
 *
 * Missing binaries fail the tests with a message saying what to install —
 * unless ATTACHE_SKIP_POSTGRES=1, which skips them (say so where you set it).
 * Each test gets a schema of its own, dropped after the test. The cluster's
 * start-up lives in postgres-cluster.mjs, shared with the benchmarks.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, onTestFinished } from "vitest";
import { findPostgresBinaries, NO_DURABILITY_SETTINGS, startPostgresCluster, type PostgresCluster } from "./postgres-cluster.mjs";

/** True when the PostgreSQL tests are to be skipped (ATTACHE_SKIP_POSTGRES=1). */
export const SKIP_POSTGRES = process.env.ATTACHE_SKIP_POSTGRES === "1";

/** Starts a private cluster (postgres-cluster.mjs, shared with the benchmarks); see the file's comment. */
async function startCluster(): Promise<PostgresCluster> {
  const binaries = findPostgresBinaries();
  if (binaries === null) {
    throw new Error(
      "The PostgreSQL tests need a server: no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin. " +
        "Install PostgreSQL 15 (Debian: apt-get install postgresql-15), or set PGTEST_URL to a server to test against, " +
        "or set ATTACHE_SKIP_POSTGRES=1 to skip these tests.",
    );
  }
  return startPostgresCluster({ binaries, database: "attache_test", settings: NO_DURABILITY_SETTINGS });
}

/** What a test file uses: the server's URL, a fresh schema per test, and a superuser connection to inspect or tamper with. */
export interface PostgresForTests {
  /** The database's URL (the cluster starts on the first call). */
  url(): Promise<string>;
  /** A fresh schema name (the manifest creates the schema), dropped when the test finishes. */
  freshSchema(): Promise<string>;
  /** A pool of superuser connections to the test database, ended after the file. */
  admin(): Promise<pg.Pool>;
}

/** Call once at the top of a test file: the cluster (or PGTEST_URL's server) for its tests, stopped after them. */
export function postgresForTests(): PostgresForTests {
  let cluster: Promise<PostgresCluster> | undefined;
  let adminPool: pg.Pool | undefined;
  const url = async () => {
    const given = process.env.PGTEST_URL;
    if (given !== undefined && given !== "") return given;
    // Started once; a failure is kept, so every test fails at once with its message.
    cluster ??= startCluster();
    return (await cluster).url;
  };
  const admin = async () => {
    if (adminPool === undefined) {
      adminPool = new pg.Pool({ connectionString: await url(), max: 4, allowExitOnIdle: true });
      // Tests terminate backends on purpose; an idle admin connection that dies is simply replaced.
      adminPool.on("error", () => undefined);
    }
    return adminPool;
  };
  afterAll(async () => {
    await adminPool?.end().catch(() => undefined);
    if (cluster !== undefined) await (await cluster.catch(() => undefined))?.stop();
  });
  return {
    url,
    admin,
    async freshSchema() {
      const pool = await admin();
      const schema = `t_${randomBytes(6).toString("hex")}`;
      onTestFinished(async () => {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      });
      return schema;
    },
  };
}
