/**
 * A child process for the PostgreSQL tests, bundled on the fly by
 * postgres-processes.ts (the built package has no PostgreSQL entry to
 * import). Its task comes in argv: `<task> <url> <schema> [dir]`.
 *
 *   migrate  opens a manifest on the schema (migrating it), prints "opened <version>", closes it and exits.
 *   idle     opens a store in `dir` on the schema, stages bytes, prints "staged", and leaves the store open and
 *            unused: the process must exit on its own, the pool's idle connections included.
 */
import pg from "pg";
import { memoryBlobStore, openStore } from "../../src/index.js";
import { postgresManifest } from "../../src/backends/postgres/index.js";

const [task, url, schema, dir] = process.argv.slice(2) as [string, string, string, string | undefined];

if (task === "migrate") {
  const manifest = postgresManifest({ connectionString: url, schema });
  await manifest.open();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ version: number }>(`SELECT version FROM "${schema}".attache_schema`);
  await client.end();
  console.log(`opened ${rows[0]?.version ?? "none"}`);
  await manifest.close();
} else if (task === "idle") {
  const store = await openStore({
    dir: dir ?? "",
    manifest: postgresManifest({ connectionString: url, schema }),
    blobStore: memoryBlobStore(),
    sweepInterval: false,
  });
  await store.stage(Buffer.from("left open"), { scope: "idle" });
  console.log("staged");
  // Neither the store nor the manifest is closed: nothing here may keep the event loop alive.
} else {
  throw new Error(`unknown task ${task}`);
}
