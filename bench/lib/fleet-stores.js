// Opening the two kinds of store the fleet scenario compares: the pair
// (PostgreSQL manifest + S3 blob store, each handle with its own cacheDir, as
// on another host) and the embedded default (SQLite + filesystem under dir).
import { randomBytes } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { s3ClientFor } from "../../test/support/s3-server.mjs";
import { DIST } from "./common.js";

const distDir = path.dirname(DIST);
const entry = (name) => import(pathToFileURL(path.join(distDir, name)).href);

/** The built library's entries: openStore, postgresManifest, s3BlobStore. */
export async function loadFleetLibrary() {
  const [{ openStore }, { postgresManifest }, { s3BlobStore }] = await Promise.all([entry("index.js"), entry("postgres.js"), entry("s3.js")]);
  return { openStore, postgresManifest, s3BlobStore };
}

/** An S3 client for s3rver (path-style, its dummy account, checksums only where required), with retries for bursts. */
export function s3rverClient(endpoint) {
  return s3ClientFor(endpoint, { maxAttempts: 5 });
}

/** A fresh fleet store's location: its own schema and bucket prefix on the shared servers. */
export function freshLocation(servers) {
  const id = randomBytes(5).toString("hex");
  return { url: servers.postgresUrl, schema: `bench_${id}`, endpoint: servers.s3.endpoint, bucket: servers.s3.bucket, prefix: `bench-${id}/` };
}

/**
 * Counts of what a pair handle sends: S3 requests by command (as the store
 * sends them, before the SDK's retries) and PostgreSQL round trips, of which
 * `transactions` began a transaction (BEGIN … COMMIT is 2 + its statements).
 */
export function requestCounter() {
  return { s3: {}, pgRoundTrips: 0, pgTransactions: 0 };
}

/** `counter` minus `before`, divided by `per` (a copy; zero entries left out). */
export function countsSince(counter, before, per = 1) {
  const s3 = {};
  for (const [command, n] of Object.entries(counter.s3)) {
    const d = n - (before.s3[command] ?? 0);
    if (d > 0) s3[command] = d / per;
  }
  return { s3, pgRoundTrips: (counter.pgRoundTrips - before.pgRoundTrips) / per, pgTransactions: (counter.pgTransactions - before.pgTransactions) / per };
}

export const snapshotCounts = (counter) => ({ ...counter, s3: { ...counter.s3 } });

/** The manifest's own pool as postgresManifest builds it (src/backends/postgres/manifest.ts), with clients that count their queries. */
function countingPool(location, counter, max) {
  class CountingClient extends pg.Client {
    query(...args) {
      counter.pgRoundTrips++;
      const text = typeof args[0] === "string" ? args[0] : args[0]?.text;
      if (typeof text === "string" && text.startsWith("BEGIN")) counter.pgTransactions++;
      return super.query(...args);
    }
  }
  return new pg.Pool({
    Client: CountingClient,
    connectionString: location.url,
    max,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 10_000,
    allowExitOnIdle: true,
    application_name: "attache-store",
    options: "-c lock_timeout=10000",
  });
}

/**
 * A handle on the pair at `location`, with `dir` and `dir/cache` of its own
 * (a fresh `dir` is a host whose cache is empty): `{ store, counter, close() }`.
 * `close()` also ends its pool and destroys its S3 client.
 */
export async function openPairStore(lib, location, dir, extra = {}, counter = requestCounter()) {
  const client = s3rverClient(location.endpoint);
  client.middlewareStack.add(
    (next, context) => (args) => {
      counter.s3[context.commandName] = (counter.s3[context.commandName] ?? 0) + 1;
      return next(args);
    },
    { step: "initialize", name: "attacheBenchCountRequests" },
  );
  const pool = countingPool(location, counter, 8);
  pool.on("error", () => undefined);
  let store;
  try {
    store = await lib.openStore({
      dir,
      cacheDir: path.join(dir, "cache"),
      sweepInterval: false,
      manifest: lib.postgresManifest({ pool, schema: location.schema }),
      blobStore: lib.s3BlobStore({ client, bucket: location.bucket, prefix: location.prefix }),
      ...extra,
    });
  } catch (err) {
    await pool.end();
    client.destroy();
    throw err;
  }
  return {
    store,
    counter,
    async close() {
      await store.close();
      await pool.end();
      client.destroy();
    },
  };
}

/** A handle on the embedded store (SQLite + filesystem) under `dir`, default durability: `{ store, close() }`. */
export async function openEmbeddedStore(lib, dir, extra = {}) {
  const store = await lib.openStore({ dir, sweepInterval: false, ...extra });
  return { store, close: () => store.close() };
}
