/**
 * The store conformance suite on the fleet pair: a PostgreSQL manifest and an
 * S3 blob store (s3rver), as many hosts share them. Each test gets a schema
 * and a bucket prefix of its own, shared by the test's stores; every store
 * opens its own manifest and blob store handles (its own pool and client
 * state) and has a directory and a `cacheDir` of its own, as a process on
 * another host would. See test/support/s3.ts and test/support/postgres.ts.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, it } from "vitest";
import { openStore, type StoreOptions } from "../../src/index.js";
import { s3BlobStore } from "../../src/backends/s3/index.js";
import { postgresManifest } from "../../src/backends/postgres/index.js";
import { describeStore } from "../../src/testing/index.js";
import { tempDir } from "../support/fixtures.js";
import { postgresForTests, SKIP_POSTGRES } from "../support/postgres.js";
import { startS3Server, type S3TestServer } from "../support/s3.js";

const postgres = postgresForTests();
let server: S3TestServer | undefined;
beforeAll(async () => {
  if (!SKIP_POSTGRES) server = await startS3Server({ keepEmptyDirectories: true });
});
afterAll(() => server?.stop());

if (SKIP_POSTGRES) {
  it.skip("S3 + PostgreSQL fleet (skipped: ATTACHE_SKIP_POSTGRES=1)", () => undefined);
} else {
  describeStore("S3 (s3rver) + PostgreSQL", {
    rounds: 8,
    async create() {
      const s3 = server as S3TestServer;
      const url = await postgres.url();
      const schema = await postgres.freshSchema();
      const prefix = `fleet-${randomBytes(6).toString("hex")}/`;
      const client = s3.client();
      /** A store on the shared schema and prefix, as a process on a host of its own. */
      const host = (options: StoreOptions = {}) => {
        const dir = tempDir("attache-fleet-host-");
        return openStore({
          dir,
          cacheDir: path.join(dir, "cache"),
          sweepInterval: false,
          manifest: postgresManifest({ connectionString: url, schema, max: 4 }),
          blobStore: s3BlobStore({ client, bucket: s3.bucket, prefix }),
          ...options,
        });
      };
      return { localFiles: false, open: host, openSecond: host };
    },
  });
}
