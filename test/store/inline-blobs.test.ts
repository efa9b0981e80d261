/**
 * Small blobs kept inside the manifest (`inlineMaxSize`, issue 13): one
 * transaction per stage, no file under blobs/, every guarantee kept — dedup
 * (also with file blobs), verified reads, local paths through the cache,
 * leases, sweep, verify/repair, metrics, and space given back to the
 * filesystem.
 */
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { auditStore, readManifest, sha256Hex } from "../helpers/store-audit.js";
import { freshDir } from "../helpers/temp-dirs.js";

const stores: Store[] = [];
async function open(dir: string, options: Parameters<typeof openStore>[0] = {}): Promise<Store> {
  const store = await openStore({ dir, sweepInterval: false, ...options });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

const blobFiles = (dir: string): string[] =>
  fs.existsSync(path.join(dir, "blobs")) ? fs.readdirSync(path.join(dir, "blobs"), { recursive: true }).map(String).filter((f) => /[0-9a-f]{64}$/.test(f)) : [];
const temps = (dir: string): string[] => (fs.existsSync(path.join(dir, "tmp")) ? fs.readdirSync(path.join(dir, "tmp")) : []);

describe("inline blobs", () => {
  it("keeps small bytes in the manifest: no file, no temp, path null; resolve writes a read-only copy", async () => {
    const dir = freshDir("inline");
    const store = await open(dir);
    const a = await store.stage(Buffer.from("a small note"), { scope: "chat:1", name: "note.txt" });
    expect(a).toMatchObject({ created: true, deduplicated: false, path: null, size: 12, contentType: "text/plain" });
    expect(blobFiles(dir)).toEqual([]);
    expect(temps(dir)).toEqual([]);
    expect(readManifest(dir).blobs).toMatchObject([{ digest: a.checksum, inline: 1, size: 12 }]);
    expect((await store.read(a.ref)).toString()).toBe("a small note");
    const chunks: Buffer[] = [];
    for await (const chunk of await store.open(a.ref)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("a small note");

    const { path: copy, attachment } = await store.resolve(a.ref);
    expect(fs.readFileSync(copy, "utf8")).toBe("a small note");
    expect(fs.statSync(copy).mode & 0o777).toBe(0o400);
    expect(copy.startsWith(path.join(dir, "cache"))).toBe(true);
    expect(attachment.path).toBe(copy);
    // get() does not look for the copy: the bytes' home is the manifest.
    expect((await store.get(a.ref)).path).toBeNull();
    await using lease = await store.lease(a.ref);
    expect([lease.path, lease.attachment.path]).toEqual([copy, copy]);
    expect((await store.metrics()).storedBytes).toBe(12);
    expect(auditStore(dir).violations).toEqual([]);
  });

  it("dedups across scopes, and with file blobs staged before (or by a handle with inline off)", async () => {
    const dir = freshDir("inline-dedup");
    const store = await open(dir);
    const a = await store.stage(Buffer.from("shared"), { scope: "a" });
    const b = await store.stage(Buffer.from("shared"), { scope: "b" });
    expect(b).toMatchObject({ created: true, deduplicated: true });
    const again = await store.stage(Buffer.from("shared"), { scope: "a" });
    expect(again).toMatchObject({ id: a.id, created: false, deduplicated: true });
    expect((await store.metrics()).blobs).toBe(1);

    // A file blob of small bytes (inline off), then a stage with inline on: no second copy.
    const files = await open(dir, { inlineMaxSize: 0 });
    const f = await files.stage(Buffer.from("was a file"), { scope: "c" });
    expect(f.path).not.toBeNull();
    const g = await store.stage(Buffer.from("was a file"), { scope: "d" });
    expect(g).toMatchObject({ created: true, deduplicated: true });
    expect(g.path).toBe(f.path);
    // And the other way round: inline bytes staged by a handle with inline off are not written to a file.
    const h = await files.stage(Buffer.from("shared"), { scope: "e" });
    expect(h.deduplicated).toBe(true);
    expect(blobFiles(dir)).toEqual([path.join("sha256", f.checksum.slice(0, 2), f.checksum.slice(2, 4), f.checksum)]);
    expect((await store.metrics()).blobs).toBe(2);
    expect(auditStore(dir).violations).toEqual([]);
  });

  it("spills a stream that outgrows the limit into a file blob, bytes intact", async () => {
    const dir = freshDir("inline-spill");
    const store = await open(dir, { inlineMaxSize: "4KiB" });
    const bytes = Buffer.alloc(40_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) % 251;
    const chunks = Array.from({ length: 40 }, (_, i) => bytes.subarray(i * 1000, (i + 1) * 1000));
    const a = await store.stage(Readable.from(chunks));
    expect(a.checksum).toBe(sha256Hex(bytes));
    expect(a.path).not.toBeNull();
    expect(fs.readFileSync(a.path as string).equals(bytes)).toBe(true);
    const small = await store.stage(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000, 4096)]));
    expect(small.path).toBeNull();
    expect((await store.read(small.ref)).equals(bytes.subarray(0, 4096))).toBe(true);
    expect(auditStore(dir).violations).toEqual([]);
  });

  it("a lease keeps the copy; release and sweep delete the row, the bytes and the copy, and give pages back", async () => {
    const dir = freshDir("inline-sweep");
    const store = await open(dir);
    const staged = [];
    for (let i = 0; i < 1500; i++) staged.push(await store.stage(Buffer.alloc(4096, i % 256).fill(String(i), 0), { scope: `s${i % 3}` }));
    const lease = await store.lease(staged[0]!.ref);
    expect(fs.readFileSync(lease.path).equals(await store.read(staged[0]!.ref))).toBe(true);
    const dbFile = path.join(dir, "manifest.db");
    const db = new Database(dbFile, { readonly: true });
    try {
      expect(db.pragma("auto_vacuum", { simple: true })).toBe(2);
    } finally {
      db.close();
    }
    for (const scope of ["s0", "s1", "s2"]) await store.releaseScope(scope);
    // The leased bytes stay until the lease ends.
    expect(fs.readFileSync(lease.path).length).toBe(4096);
    await lease.release();
    await store.sweep();
    await store.close();
    expect(readManifest(dir).blobs).toEqual([]);
    expect(fs.existsSync(lease.path)).toBe(false);
    const after = new Database(dbFile, { readonly: true });
    try {
      // 1,500 × 4 KiB were freed; at most a few pages stay on the free list.
      expect(after.pragma("freelist_count", { simple: true }) as number).toBeLessThan(64);
    } finally {
      after.close();
    }
    expect(auditStore(dir).violations).toEqual([]);
  });

  it("damaged inline bytes are caught by read and verify, and repaired; the next stage stores them afresh", async () => {
    const dir = freshDir("inline-damage");
    const store = await open(dir);
    const a = await store.stage(Buffer.from("precious words"), { scope: "x" });
    const db = new Database(path.join(dir, "manifest.db"));
    db.prepare("UPDATE blob_bytes SET bytes = ? WHERE digest = ?").run(Buffer.from("precious wordz"), a.checksum);
    db.close();
    await expect(store.read(a.ref)).rejects.toMatchObject({ code: "INTEGRITY_ERROR" });
    expect(await store.verify()).toMatchObject({ corrupt: [a.digest], missing: [] });
    const repaired = await store.verify({ repair: true });
    expect(repaired.repaired).toBeGreaterThan(0);
    await expect(store.get(a.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
    const b = await store.stage(Buffer.from("precious words"), { scope: "x" });
    expect(b.deduplicated).toBe(false);
    expect((await store.read(b.ref)).toString()).toBe("precious words");
    expect(await store.verify()).toMatchObject({ corrupt: [], missing: [], orphanFiles: [] });
    expect(auditStore(dir).violations).toEqual([]);
  });

  it("checks checksums, sizes and limits as file blobs do, leaving nothing behind", async () => {
    const dir = freshDir("inline-limits");
    const store = await open(dir, { maxSize: 10 });
    await expect(store.stage(Buffer.from("eleven byte"))).rejects.toMatchObject({ code: "TOO_LARGE" });
    await expect(store.stage(Buffer.from("ten bytes!"), { checksum: "0".repeat(64) })).rejects.toMatchObject({ code: "CHECKSUM_MISMATCH" });
    const ok = await store.stage(Buffer.from("ten bytes!"), { checksum: sha256Hex("ten bytes!") });
    expect(ok.path).toBeNull();
    expect((await store.metrics()).blobs).toBe(1);
    expect(temps(dir)).toEqual([]);
  });

  it("is refused above 16 MiB, and off with 0", async () => {
    await expect(openStore({ dir: freshDir("inline-opt"), inlineMaxSize: "32MiB" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    const dir = freshDir("inline-off");
    const store = await open(dir, { inlineMaxSize: 0 });
    const a = await store.stage(Buffer.from("tiny"));
    expect(a.path).not.toBeNull();
    expect(readManifest(dir).blobs[0]?.inline).toBe(0);
  });
});

describe("a fence row met by a stage", () => {
  // Two sweepers that both saw an unreferenced inline blob: the first deletes it, the second
  // condemns the digest it no longer finds (a fence row of size 0). A stage meeting that fence
  // writes the bytes again, and the revived row must carry their size, or the totals and the
  // blob's size would be wrong.
  for (const kind of ["sqlite", "memory"] as const) {
    it(`takes the stage's size (${kind})`, async () => {
      const { memoryManifest, sqliteManifest } = await import("../../src/index.js");
      const manifest = kind === "memory" ? memoryManifest() : sqliteManifest({ file: path.join(freshDir("fence-size"), "manifest.db") });
      await manifest.open();
      try {
        const digest = "a".repeat(64);
        const now = Date.now();
        await manifest.pins.registerWriter({ id: "sweeper", host: "h", pid: 1, startedAt: now, heartbeatAt: now });
        const fenced = await manifest.blobs.condemn([digest], now, "sweeper");
        expect(fenced).toMatchObject([{ digest, size: 0, rowless: true }]);
        expect(await manifest.pins.beginStage({ id: "i1", digest, tempName: null, writer: null, createdAt: now }, 14)).toBe("condemned");
        await manifest.blobs.forget([digest], "sweeper", now);
        expect(await manifest.blobs.get(digest)).toMatchObject({ size: 14, condemnedBy: null });
        expect((await manifest.metrics(now)).storedBytes).toBe(14);
        expect(await manifest.checkIntegrity()).toEqual([]);
      } finally {
        await manifest.close();
      }
    });
  }
});
