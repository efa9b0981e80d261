/**
 * The PostgreSQL manifest: both conformance suites (two manifests on one
 * database and schema, as two hosts), then what only a server shows — the
 * advisory-locked migration with two processes at once, SKIP LOCKED sweeps,
 * a backend terminated mid-transaction, and an idle pool that lets its
 * process exit. See test/support/postgres.ts for the server.
 */
import path from "node:path";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AttacheError, memoryBlobStore, openStore, type Manifest } from "../../src/index.js";
import { postgresManifest, type PostgresManifestOptions } from "../../src/backends/postgres/index.js";
import { Session } from "../../src/backends/postgres/database.js";
import { MIGRATION_LOCK, SCHEMA_VERSION, migrate } from "../../src/backends/postgres/schema.js";
import { describeManifest, describeStore } from "../../src/testing/index.js";
import { GRACE, HOUR, T0, hex, intent, lease, registered, releasedBlob, stage, staged } from "../../src/testing/manifest-fixtures.js";
import { tempDir } from "../support/fixtures.js";
import { postgresForTests, SKIP_POSTGRES } from "../support/postgres.js";
import { runWorker } from "./postgres-processes.js";

const server = postgresForTests();

async function opened(options: PostgresManifestOptions): Promise<Manifest> {
  const manifest = postgresManifest(options);
  await manifest.open();
  return manifest;
}

/** A fresh schema and an opened manifest on it (closed after the test by the caller). */
async function fresh(options: Partial<PostgresManifestOptions> = {}) {
  const url = await server.url();
  const schema = await server.freshSchema();
  return { url, schema, manifest: await opened({ connectionString: url, schema, ...options }) };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

if (SKIP_POSTGRES) {
  it.skip("PostgreSQL backend (skipped: ATTACHE_SKIP_POSTGRES=1)", () => undefined);
} else {
  describeManifest("postgres", {
    async open() {
      const url = await server.url();
      const schema = await server.freshSchema();
      // Two manifests on one database and schema: two hosts sharing it.
      return { first: await opened({ connectionString: url, schema }), second: () => opened({ connectionString: url, schema }) };
    },
  });

  describeStore("PostgreSQL manifest + memory blobs", {
    async create() {
      const url = await server.url();
      const schema = await server.freshSchema();
      const blobStore = memoryBlobStore();
      const dir = tempDir();
      // Every store gets a manifest of its own on the shared schema, as a process on another host would.
      const manifest = () => postgresManifest({ connectionString: url, schema });
      return {
        localFiles: false,
        open: (options = {}) => openStore({ dir, sweepInterval: false, blobStore, manifest: manifest(), ...options }),
        openSecond(options = {}) {
          const elsewhere = tempDir("attache-other-host-");
          const cacheDir = path.join(elsewhere, "cache");
          return openStore({ dir: elsewhere, cacheDir, sweepInterval: false, blobStore, manifest: manifest(), ...options });
        },
      };
    },
  });

  describe("PostgreSQL: schema and migrations", () => {
    it("creates an empty schema at the current version; opening it again changes nothing", async () => {
      const { url, schema, manifest } = await fresh();
      const admin = await server.admin();
      const version = async () => (await admin.query(`SELECT version, migrated_at FROM "${schema}".attache_schema`)).rows;
      const first = await version();
      expect(first).toEqual([{ version: SCHEMA_VERSION, migrated_at: expect.any(Date) }]);
      const again = await opened({ connectionString: url, schema });
      expect(await version()).toEqual(first);
      expect(await again.checkIntegrity()).toEqual([]);
      await again.close();
      await manifest.close();
    });

    it("two processes opening one empty schema at once: both wait on the advisory lock, one migrates, both see the result", async () => {
      const url = await server.url();
      const schema = await server.freshSchema();
      const admin = await server.admin();
      const holder = await admin.connect();
      const waiting = async () =>
        (
          await admin.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext($1)::oid AND NOT granted",
            [schema],
          )
        ).rows[0]?.n;
      try {
        // Hold the migration lock, so that both processes are sure to meet it.
        await holder.query("BEGIN");
        await holder.query(MIGRATION_LOCK, [schema]);
        const runs = [await runWorker("migrate", url, schema), await runWorker("migrate", url, schema)];
        await until("both processes wait for the migration lock", async () => (await waiting()) === 2, 15_000);
        expect((await admin.query("SELECT to_regclass($1) AS t", [`"${schema}".attachments`])).rows).toEqual([{ t: null }]);
        await holder.query("COMMIT");
        const results = await Promise.all(runs.map((run) => run.exited));
        for (const result of results) expect(result).toMatchObject({ code: 0, output: `opened ${SCHEMA_VERSION}\n` });
      } finally {
        await holder.query("ROLLBACK").catch(() => undefined);
        holder.release();
      }
      const manifest = await opened({ connectionString: url, schema });
      expect(await manifest.checkIntegrity()).toEqual([]);
      await manifest.close();
    });

    it("migrates a version 1 schema in place, filling the running totals from the rows already there", async () => {
      const url = await server.url();
      const schema = await server.freshSchema();
      const admin = await server.admin();
      const client = await admin.connect();
      try {
        expect(await migrate(new Session(client), schema, `"${schema}"`, 1)).toBe(0);
        const insert = `INSERT INTO "${schema}".attachments (id, scope, digest, size, name, content_type, mode, reference_path, persist,
          ttl_ms, created_at, updated_at, expires_at, source, metadata) VALUES ($1, $2, $3, $4, 'n', 'text/plain', 'copy', NULL, $5, $6, 0, 0, $7, NULL, '{}')`;
        await client.query(insert, ["a1", "a", hex(1), 3, true, null, null]);
        await client.query(insert, ["b1", "b", hex(1), 3, false, HOUR, T0 + HOUR]);
        await client.query(insert, ["b2", "b", hex(2), 5, false, 1, 1]);
        await client.query(`INSERT INTO "${schema}".blobs (digest, size, refs, created_at) VALUES ($1, 3, 2, 0), ($2, 5, 1, 0)`, [hex(1), hex(2)]);
      } finally {
        client.release();
      }
      const manifest = await opened({ connectionString: url, schema });
      expect(await manifest.metrics(T0)).toEqual({
        attachments: 2, scopes: 2, logicalBytes: 6, distinctLiveBytes: 3, blobs: 2, storedBytes: 8,
        persistent: { count: 1, bytes: 3 }, expirable: { count: 1, bytes: 3 }, expired: { count: 1, bytes: 5 },
        leases: 0, nextExpiryAt: T0 + HOUR,
      });
      expect((await manifest.largestScopes(10, T0)).map((s) => [s.scope, s.logicalBytes])).toEqual([["a", 3], ["b", 3]]);
      expect(await manifest.checkIntegrity()).toEqual([]);
      // The triggers keep the totals from here on.
      await manifest.attachments.expireDue(T0, 10);
      expect(await manifest.scopeMetrics("b", T0)).toMatchObject({ attachments: 1, logicalBytes: 3, expired: { count: 0, bytes: 0 } });
      expect(await manifest.checkIntegrity()).toEqual([]);
      await manifest.close();
    });

    it("migrates a version 2 schema holding attachments and blobs to version 3: rows kept as blob-store rows, inline blobs from then on", async () => {
      const url = await server.url();
      const schema = await server.freshSchema();
      const admin = await server.admin();
      const client = await admin.connect();
      try {
        expect(await migrate(new Session(client), schema, `"${schema}"`, 2)).toBe(0);
        const insert = `INSERT INTO "${schema}".attachments (id, scope, digest, size, name, content_type, mode, reference_path, persist,
          ttl_ms, created_at, updated_at, expires_at, source, metadata) VALUES ($1, $2, $3, $4, 'n', 'text/plain', 'copy', $5, $6, $7, 0, 0, $8, NULL, '{}')`;
        await client.query(insert, ["a1", "a", hex(1), 3, null, true, null, null]);
        await client.query(insert, ["b1", "b", hex(2), 5, null, false, HOUR, T0 + HOUR]);
        await client.query(insert, ["r1", "r", hex(3), 4, "/outside", true, null, null]);
        // The totals triggers of version 2 count these rows; a fence row (size 0) too.
        await client.query(`INSERT INTO "${schema}".blobs (digest, size, refs, created_at, condemned_by) VALUES ($1, 3, 1, 0, NULL), ($2, 5, 1, 0, NULL),
          ($3, 0, 0, 0, 'gone-writer')`, [hex(1), hex(2), hex(9)]);
      } finally {
        client.release();
      }
      const manifest = await opened({ connectionString: url, schema });
      expect((await admin.query(`SELECT version FROM "${schema}".attache_schema`)).rows).toEqual([{ version: 3 }]);
      expect(await manifest.blobs.get(hex(1))).toStrictEqual({ digest: hex(1), size: 3, refs: 1, createdAt: 0, condemnedBy: null });
      const a1 = await manifest.attachments.get("a1");
      expect(a1 !== undefined && "inline" in a1).toBe(false);
      expect(await manifest.blobs.readInline?.(hex(1))).toBeUndefined();
      expect(await manifest.metrics(T0)).toMatchObject({ attachments: 3, blobs: 3, storedBytes: 8 });
      expect(await manifest.checkIntegrity()).toEqual([]);
      // Known bytes stay where they are; new small ones go inline; the fence row takes a restage's size, totals with it.
      expect(await manifest.attachments.commitInline?.(staged({ scope: "c", digest: hex(1), size: 3 }), Buffer.from("abc"))).toBe("elsewhere");
      const fresh = await manifest.attachments.commitInline?.(staged({ scope: "c", digest: hex(4), size: 3 }), Buffer.from("xyz"));
      expect(fresh).toMatchObject({ wrote: true, merged: false, record: { inline: true } });
      expect(await manifest.pins.beginStage(intent({ digest: hex(9) }), 6)).toBe("condemned");
      expect(await manifest.metrics(T0)).toMatchObject({ attachments: 4, blobs: 4, storedBytes: 17 });
      expect(await manifest.checkIntegrity()).toEqual([]);
      // The bytes column is stored out of line, uncompressed.
      const storage = await admin.query(
        `SELECT a.attstorage FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = 'bytes'`,
        [`"${schema}".blob_bytes`],
      );
      expect(storage.rows).toEqual([{ attstorage: "e" }]);
      await manifest.close();
    });

    it("reports inline rows without their bytes, and bytes without an inline row", async () => {
      const { schema, manifest } = await fresh();
      await manifest.attachments.commitInline?.(staged({ scope: "s", digest: hex(1), size: 2 }), Buffer.from("hi"));
      await manifest.attachments.commitInline?.(staged({ scope: "s", digest: hex(2), size: 2 }), Buffer.from("yo"));
      const admin = await server.admin();
      // Behind the triggers' back: bytes dropped by hand, and bytes for a row that says it has none.
      await admin.query(`ALTER TABLE "${schema}".blobs DISABLE TRIGGER blob_bytes_uninlined`);
      await admin.query(`DELETE FROM "${schema}".blob_bytes WHERE digest = $1`, [hex(1)]);
      await admin.query(`UPDATE "${schema}".blobs SET inline = false WHERE digest = $1`, [hex(2)]);
      expect(await manifest.checkIntegrity()).toEqual([
        `blob ${hex(1)}: inline, but its bytes are missing`,
        `blob ${hex(2)}: bytes kept inline, but its row is not an inline blob`,
      ]);
      await manifest.close();
    });

    it("reports running totals that disagree with the rows", async () => {
      const { schema, manifest } = await fresh();
      await stage(manifest, { scope: "s", size: 7 });
      const admin = await server.admin();
      await admin.query(`UPDATE "${schema}".scope_totals SET bytes = bytes + 1`);
      await admin.query(`UPDATE "${schema}".blobs SET refs = 5`);
      const problems = await manifest.checkIntegrity();
      expect(problems).toHaveLength(2);
      expect(problems.join("\n")).toMatch(/blob 0+1: refs is 5 but 1 managed attachment\(s\) use it/);
      expect(problems.join("\n")).toMatch(/scope s: running totals 1 attachment\(s\), 8 bytes/);
      await manifest.close();
    });
  });

  describe("PostgreSQL: small blobs inline", () => {
    const objects = async (blobStore: ReturnType<typeof memoryBlobStore>) => {
      const found: (string | null)[] = [];
      for await (const object of blobStore.list()) found.push(object.digest);
      return found.sort();
    };

    it("a small stage makes no blob-store object and reads back; dedups with a file blob either way; the sweep deletes it", async () => {
      const url = await server.url();
      const schema = await server.freshSchema();
      const admin = await server.admin();
      const blobStore = memoryBlobStore();
      const open = (inlineMaxSize?: number) =>
        openStore({ dir: tempDir(), sweepInterval: false, blobStore, manifest: postgresManifest({ connectionString: url, schema }), inlineMaxSize });
      const store = await open();
      const fileOnly = await open(0);
      const rows = async () =>
        (await admin.query<{ digest: string; inline: boolean; bytes: number | null }>(
          `SELECT b.digest, b.inline, length(x.bytes) AS bytes FROM "${schema}".blobs b LEFT JOIN "${schema}".blob_bytes x USING (digest) ORDER BY b.digest`,
        )).rows;
      try {
        const note = await store.stage(Buffer.from("a small note"), { scope: "chat:1", name: "note.txt" });
        expect(note).toMatchObject({ created: true, deduplicated: false, path: null, size: 12 });
        expect(await objects(blobStore)).toEqual([]);
        expect(await rows()).toEqual([{ digest: note.checksum, inline: true, bytes: 12 }]);
        expect((await store.read(note.ref)).toString()).toBe("a small note");
        // Another host (inline off there) reads it from the manifest too, and its stage of the same bytes dedups with the inline row.
        expect((await fileOnly.read(note.ref)).toString()).toBe("a small note");
        expect(await fileOnly.stage(Buffer.from("a small note"), { scope: "chat:2" })).toMatchObject({ created: true, deduplicated: true });
        expect(await objects(blobStore)).toEqual([]);

        // Small bytes already in the blob store stay there: the inline handle dedups with the file blob.
        const file = await fileOnly.stage(Buffer.from("kept as a file"), { scope: "chat:1" });
        expect(await objects(blobStore)).toEqual([file.checksum]);
        const again = await store.stage(Buffer.from("kept as a file"), { scope: "chat:3" });
        expect(again).toMatchObject({ created: true, deduplicated: true, digest: file.digest });
        expect((await store.read(again.ref)).toString()).toBe("kept as a file");
        expect((await rows()).find((row) => row.digest === file.checksum)).toEqual({ digest: file.checksum, inline: false, bytes: null });
        expect(await store.metrics()).toMatchObject({ blobs: 2, storedBytes: 26, attachments: 4 });

        // Released everywhere, the inline blob is deleted at once, its bytes with its row; the file blob stays (chat:3).
        expect(await store.releaseScope("chat:1")).toBe(2);
        expect(await fileOnly.releaseScope("chat:2")).toBe(1);
        expect((await rows()).map((row) => row.digest)).toEqual([file.checksum]);
        await expect(store.read(note.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
        // Expired, a small blob goes with the sweep: no blob-store call, its bytes with its row.
        const brief = await store.stage(Buffer.from("gone soon"), { scope: "chat:4", ttl: 0 });
        expect((await rows()).map((row) => row.digest).sort()).toEqual([brief.checksum, file.checksum].sort());
        expect(await store.sweep()).toMatchObject({ expired: 1, blobsDeleted: 1, bytesFreed: 9 });
        expect(await rows()).toEqual([{ digest: file.checksum, inline: false, bytes: null }]);
        expect(await objects(blobStore)).toEqual([file.checksum]);
        expect(await store.verify()).toMatchObject({ corrupt: [], missing: [] });
      } finally {
        await fileOnly.close();
        await store.close();
      }
    });

    it("damaged inline bytes: read fails with INTEGRITY_ERROR, verify finds them and its repair drops the attachments and the bytes", async () => {
      const url = await server.url();
      const schema = await server.freshSchema();
      const admin = await server.admin();
      const store = await openStore({ dir: tempDir(), sweepInterval: false, blobStore: memoryBlobStore(), manifest: postgresManifest({ connectionString: url, schema }) });
      try {
        const a = await store.stage(Buffer.from("precious"), { scope: "a" });
        await admin.query(`UPDATE "${schema}".blob_bytes SET bytes = 'tampered'::bytea`);
        await expect(store.read(a.ref)).rejects.toMatchObject({ code: "INTEGRITY_ERROR" });
        const report = await store.verify({ repair: true });
        expect(report).toMatchObject({ corrupt: [a.digest], missing: [] });
        await expect(store.get(a.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
        expect((await admin.query(`SELECT count(*)::int AS n FROM "${schema}".blob_bytes`)).rows).toEqual([{ n: 0 }]);
        // Staged again, the bytes are whole.
        const b = await store.stage(Buffer.from("precious"), { scope: "a" });
        expect((await store.read(b.ref)).toString()).toBe("precious");
      } finally {
        await store.close();
      }
    });
  });

  describe("PostgreSQL: concurrency and failures", () => {
    it("sweeps skip the rows another transaction holds (FOR UPDATE SKIP LOCKED) instead of waiting for them", async () => {
      const { manifest: m, schema } = await fresh({ lockTimeoutMs: 5_000 });
      const now = T0 + HOUR;
      const dead = await registered(m, now - 2 * GRACE);
      const me = await registered(m, now);
      const holder = (await stage(m, { digest: hex(100), persist: true })).record;
      for (let k = 0; k < 4; k++) {
        await stage(m, { digest: hex(10 + k), ttlMs: 1 });
        await m.pins.addLease(lease(holder.id, { id: `lease-${k}`, digest: holder.digest, expiresAt: T0 + 1 }), undefined, T0);
        await releasedBlob(m, hex(20 + k));
        await releasedBlob(m, hex(30 + k));
      }
      expect(await m.blobs.condemn([20, 21, 22, 23].map(hex), now, dead)).toHaveLength(4);
      const admin = await server.admin();
      const other = await admin.connect();
      try {
        // Another worker's transaction holds half of each kind of row.
        await other.query("BEGIN");
        await other.query(`SELECT 1 FROM "${schema}".attachments WHERE digest = ANY($1) FOR UPDATE`, [[hex(10), hex(11)]]);
        await other.query(`SELECT 1 FROM "${schema}".leases WHERE id = ANY($1) FOR UPDATE`, [["lease-0", "lease-1"]]);
        await other.query(`SELECT 1 FROM "${schema}".blobs WHERE digest = ANY($1) FOR UPDATE`, [[hex(20), hex(21), hex(30), hex(31)]]);
        const started = Date.now();
        expect((await m.attachments.expireDue(now, 100)).map((r) => r.digest)).toEqual([hex(12), hex(13)]);
        expect((await m.pins.reclaimLeases(now, 100)).map((l) => l.id)).toEqual(["lease-2", "lease-3"]);
        expect((await m.blobs.claimAbandoned(now - GRACE, me, 100)).map((b) => b.digest)).toEqual([hex(22), hex(23)]);
        expect((await m.blobs.condemn([30, 31, 32, 33].map(hex), now, me)).map((b) => b.digest)).toEqual([hex(32), hex(33)]);
        expect(Date.now() - started).toBeLessThan(2_000);
        await other.query("COMMIT");
      } finally {
        await other.query("ROLLBACK").catch(() => undefined);
        other.release();
      }
      // Released, the rest are there for the next sweep.
      expect((await m.attachments.expireDue(now, 100)).map((r) => r.digest)).toEqual([hex(10), hex(11)]);
      expect((await m.pins.reclaimLeases(now, 100)).map((l) => l.id)).toEqual(["lease-0", "lease-1"]);
      // (With the caller's own condemnations, which claimAbandoned also returns.)
      expect((await m.blobs.claimAbandoned(now - GRACE, me, 100)).map((b) => b.digest)).toEqual([20, 21, 22, 23, 32, 33].map(hex));
      expect((await m.blobs.condemn([30, 31].map(hex), now, me)).map((b) => b.digest)).toEqual([hex(30), hex(31)]);
      expect(await m.checkIntegrity()).toEqual([]);
      await m.close();
    });

    it("a backend terminated mid-transaction: a retryable IO_ERROR, nothing half-done, and the next call runs on a fresh connection", async () => {
      const applicationName = `attache-kill-${randomBytes(4).toString("hex")}`;
      const { manifest: m, schema } = await fresh({ applicationName });
      const admin = await server.admin();
      const pin = intent({ id: "stage-1", digest: hex(1), tempName: "t1.tmp" });
      expect(await m.pins.beginStage(pin, 10)).toBe("ok");
      // Another transaction inserts the same scope and bytes and stays open: the commit deletes its intent, then
      // waits on that row — mid-transaction, with a write done — until its backend is terminated.
      const other = await admin.connect();
      try {
        await other.query("BEGIN");
        await other.query(
          `INSERT INTO "${schema}".attachments (id, scope, digest, size, name, content_type, mode, persist, created_at, updated_at, metadata)
           VALUES ('other', 's', $1, 10, 'n', 'text/plain', 'copy', true, 0, 0, '{}')`,
          [hex(1)],
        );
        const commit = m.attachments.commitStage(pin.id, staged({ scope: "s", digest: hex(1) }));
        const failure = commit.then(
          () => undefined,
          (err: unknown) => err,
        );
        const waitingPid = async () =>
          (
            await admin.query<{ pid: number }>(
              "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
              [applicationName],
            )
          ).rows[0]?.pid;
        await until("the commit waits on the other transaction's row", async () => (await waitingPid()) !== undefined);
        await admin.query("SELECT pg_terminate_backend($1)", [await waitingPid()]);
        const err = await failure;
        expect(err).toBeInstanceOf(AttacheError);
        expect(err).toMatchObject({ code: "IO_ERROR", retryable: true, cause: { code: "57P01" } });
      } finally {
        await other.query("ROLLBACK").catch(() => undefined);
        other.release();
      }
      // Nothing of the terminated transaction was kept: the intent is still there, no attachment, no reference.
      expect(await m.pins.intentTempNames()).toEqual(new Set(["t1.tmp"]));
      expect(await m.attachments.list({ limit: 10, includeExpired: true, now: T0 })).toEqual([]);
      expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 0, condemnedBy: null });
      // The same call again succeeds, on a new connection.
      const { record, merged } = await m.attachments.commitStage(pin.id, staged({ scope: "s", digest: hex(1) }));
      expect(merged).toBe(false);
      expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 1 });
      // Idle pooled connections terminated too: the pool drops them without an uncaught error, and carries on.
      const backends = async () =>
        (await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [applicationName]))
          .rows[0]?.n;
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [applicationName]);
      await until("the manifest's connections are gone", async () => (await backends()) === 0);
      expect((await m.attachments.get(record.id))?.id).toBe(record.id);
      expect(await m.metrics(T0)).toMatchObject({ attachments: 1, blobs: 1, storedBytes: 10 });
      expect(await m.checkIntegrity()).toEqual([]);
      await m.close();
    });

    it("a server that cannot be reached: open fails with a retryable IO_ERROR", async () => {
      // Port 1 on loopback: nothing listens there, so the connection is refused at once.
      const manifest = postgresManifest({ connectionString: "postgres://nobody@127.0.0.1:1/none", connectTimeoutMs: 2_000 });
      await expect(manifest.open()).rejects.toMatchObject({ code: "IO_ERROR", retryable: true, cause: { code: "ECONNREFUSED" } });
      await manifest.close();
    });

    it("an idle store does not keep its process alive: a worker that stops using its store exits on its own", async () => {
      const url = await server.url();
      const schema = await server.freshSchema();
      const run = await runWorker("idle", url, schema, tempDir());
      const result = await run.exited;
      expect(result).toMatchObject({ code: 0, signal: null, output: "staged\n" });
      // Well before the pool's idle timeout (10 s) would have closed its connections.
      expect(result.ms).toBeLessThan(8_000);
      const manifest = await opened({ connectionString: url, schema });
      expect((await manifest.attachments.list({ limit: 10, includeExpired: false, now: Date.now() })).map((r) => r.scope)).toEqual(["idle"]);
      await manifest.close();
    });
  });
}
