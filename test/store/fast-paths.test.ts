/**
 * The fast paths of issue 13, each checked for what it must never do:
 * group commit (writes that arrive together share a transaction, yet each
 * fails or succeeds on its own), the lookup cache (never returns an
 * attachment another connection released), and a stream staged with the
 * checksum of stored bytes (verified as read, not written).
 */
import path from "node:path";
import { Readable } from "node:stream";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { nodeFileSystem, openStore, sqliteManifest, type StageResult, type Store } from "../../src/index.js";
import { intent, staged } from "../../src/testing/manifest-fixtures.js";
import { auditStore } from "../helpers/store-audit.js";
import { freshDir } from "../helpers/temp-dirs.js";

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

describe("group commit", () => {
  it("writes that arrive together each fail or succeed on their own (one failing write rolls back alone)", async () => {
    const dir = freshDir("group-commit");
    const manifest = sqliteManifest({ file: path.join(dir, "manifest.db") });
    await manifest.open();
    try {
      const good = Array.from({ length: 20 }, (_, i) => staged({ id: `good-${i}`, scope: `s${i}`, digest: String(i).padStart(64, "0") }));
      // An intent that was never recorded: its commit must fail, alone.
      const outcomes = await Promise.allSettled([
        ...good.slice(0, 10).map((s) => manifest.attachments.commitStage(null, s)),
        manifest.attachments.commitStage("no-such-intent", staged({ id: "bad", scope: "bad", digest: "f".repeat(64) })),
        ...good.slice(10).map((s) => manifest.attachments.commitStage(null, s)),
      ]);
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(20);
      expect(outcomes[10]).toMatchObject({ status: "rejected", reason: { code: "IO_ERROR" } });
      for (const s of good) expect(await manifest.attachments.get(s.id)).toMatchObject({ id: s.id, scope: s.scope });
      expect(await manifest.attachments.get("bad")).toBeUndefined();
      // The bad commit's blob row went with its savepoint.
      expect(await manifest.blobs.get("f".repeat(64))).toBeUndefined();
      // And an intent that exists commits in the same kind of batch.
      await manifest.pins.beginStage(intent({ id: "real", digest: "e".repeat(64) }), 5);
      await manifest.attachments.commitStage("real", staged({ id: "ok", digest: "e".repeat(64) }));
      expect(await manifest.attachments.get("ok")).toBeDefined();
    } finally {
      await manifest.close();
    }
  });

  it("stages 200 small files with 50 in flight: all there, the store consistent", async () => {
    const dir = freshDir("group-stages");
    const store = await openStore({ dir, sweepInterval: false, durability: "full" });
    stores.push(store);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.stage(Buffer.from(`note ${i}`), { scope: `c${i % 7}` })));
    expect(new Set(results.map((r) => r.id)).size).toBe(200);
    expect((await store.metrics()).attachments).toBe(200);
    expect(auditStore(dir).violations).toEqual([]);
  });
});

describe("lookup cache", () => {
  it("never returns an attachment that another connection released or changed", async () => {
    const dir = freshDir("lookup-cache");
    const store = await openStore({ dir, sweepInterval: false });
    stores.push(store);
    const a = await store.stage(Buffer.from("looked up often"), { name: "a.txt" });
    for (let i = 0; i < 3; i++) expect((await store.get(a.ref)).name).toBe("a.txt");
    // Another connection (another process, as far as SQLite can tell) renames, then deletes the row.
    const other = new Database(path.join(dir, "manifest.db"));
    try {
      other.prepare("UPDATE attachments SET name = 'renamed.txt' WHERE id = ?").run(a.id);
      expect((await store.get(a.ref)).name).toBe("renamed.txt");
      other.prepare("DELETE FROM attachments WHERE id = ?").run(a.id);
      await expect(store.get(a.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
    } finally {
      other.close();
    }
    // This process's own release too.
    const b = await store.stage(Buffer.from("released here"));
    expect((await store.get(b.ref)).id).toBe(b.id);
    await store.release(b.ref);
    await expect(store.get(b.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("is kept exact by this process's own writes, from every store it opens on the file", async () => {
    const dir = freshDir("lookup-own-writes");
    const now = Date.now();
    // Three handles on one file share a connection and its cache; b's clock is 2 h ahead, so its sweep expires a's 1 h attachments.
    const a = await openStore({ dir, sweepInterval: false, clock: () => now });
    const b = await openStore({ dir, sweepInterval: false, clock: () => now + 2 * 3_600_000 });
    const c = await openStore({ dir, sweepInterval: false, clock: () => now });
    stores.push(a, b, c);
    const staged = await Promise.all(["one", "two", "three", "four"].map((text) => a.stage(Buffer.from(text), { scope: `s:${text}`, ttl: "1h", name: `${text}.txt` })));
    const [one, two, three, four] = staged as [StageResult, StageResult, StageResult, StageResult] & StageResult[];
    for (const x of staged) expect((await a.get(x.ref)).name).toBe(x.name);

    await c.update(one.ref, { name: "renamed.txt", ttl: "1d" });
    expect(await a.get(one.ref)).toMatchObject({ name: "renamed.txt" });
    await c.release(two.ref);
    await expect(a.get(two.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await c.releaseScope("s:three")).toBe(1);
    await expect(a.get(three.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
    // Not expired by a's clock: only the cache forgetting what b's sweep dropped keeps a honest.
    expect((await b.sweep()).expired).toBe(1);
    await expect(a.get(four.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect((await a.get(one.ref)).name).toBe("renamed.txt");
    // A stage merging into the scope's attachment changes the cached record too.
    const again = await b.stage(Buffer.from("one"), { scope: "s:one", persist: true });
    expect(again.id).toBe(one.id);
    expect(await a.get(one.ref)).toMatchObject({ persist: true, expiresAt: null });
  });

  it("never returns an attachment past its expiry, cached or not", async () => {
    const dir = freshDir("lookup-expiry");
    let now = Date.now();
    const store = await openStore({ dir, sweepInterval: false, clock: () => now });
    stores.push(store);
    const a = await store.stage(Buffer.from("short-lived"), { ttl: "1s" });
    expect((await store.get(a.ref)).id).toBe(a.id);
    now += 1_001;
    await expect(store.get(a.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("a stream with the checksum of stored bytes", () => {
  it("is verified as it is read and not written; a wrong one is CHECKSUM_MISMATCH", async () => {
    const dir = freshDir("known-stream");
    const opened: string[] = [];
    const fileSystem = {
      ...nodeFileSystem,
      open: ((file: string, ...rest: unknown[]) => {
        opened.push(String(file));
        return (nodeFileSystem.open as (...args: unknown[]) => unknown)(file, ...rest);
      }) as typeof nodeFileSystem.open,
    };
    const store = await openStore({ dir, sweepInterval: false, fileSystem });
    stores.push(store);
    const bytes = Buffer.alloc(300_000, 7);
    const first = await store.stage(bytes, { scope: "a" });
    opened.length = 0;
    const again = await store.stage(Readable.from([bytes.subarray(0, 100_000), bytes.subarray(100_000)]), { scope: "b", checksum: first.checksum });
    expect(again).toMatchObject({ created: true, deduplicated: true, digest: first.digest });
    expect(opened.filter((file) => file.includes(`${path.sep}tmp${path.sep}`))).toEqual([]);
    const wrong = Buffer.from(bytes);
    wrong[5] = 8;
    await expect(store.stage(Readable.from([wrong]), { scope: "c", checksum: first.checksum })).rejects.toMatchObject({ code: "CHECKSUM_MISMATCH" });
    expect((await store.list({ scope: "c" })).length).toBe(0);
    expect(auditStore(dir).violations).toEqual([]);
  });
});
