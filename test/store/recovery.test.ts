/** Sweep of crash leftovers, verify and repair, on the embedded store. */
import "../helpers/file-blobs.js";
import fs from "node:fs";
import path from "node:path";
import { buffer as drain } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { nodeFileSystem, type FileSystem } from "../../src/index.js";
import { embeddedHarness, sha256, TestClock, writeTempFile } from "../support/fixtures.js";
import { openSqlite } from "../support/sqlite.js";

const MINUTE = 60_000;

function blobFile(dir: string, hex: string): string {
  return path.join(dir, "blobs", "sha256", hex.slice(0, 2), hex.slice(2, 4), hex);
}

async function codeOf(promise: Promise<unknown>) {
  return promise.then(() => undefined, (err: { code?: string }) => err.code);
}

describe("sweep of orphans", () => {
  it("reclaims temp files older than the grace period, and only those", async () => {
    const clock = new TestClock(Date.now());
    const harness = embeddedHarness();
    const store = await harness.open({ clock: clock.now, gracePeriod: "15m" });
    const old = path.join(harness.dir, "tmp", "crashed.tmp");
    const young = path.join(harness.dir, "tmp", "in-progress.tmp");
    fs.writeFileSync(old, "half written");
    fs.writeFileSync(young, "being written");
    const past = new Date(clock.time - 20 * MINUTE);
    fs.utimesSync(old, past, past);
    const report = await store.sweep();
    expect(report.orphansReclaimed).toBe(1);
    expect(fs.existsSync(old)).toBe(false);
    expect(fs.existsSync(young)).toBe(true);
    clock.advance(16 * MINUTE);
    expect((await store.sweep()).orphansReclaimed).toBe(1);
    expect(fs.readdirSync(path.join(harness.dir, "tmp"))).toEqual([]);
  });

  it("reclaims a stage that crashed between rename and commit", async () => {
    const clock = new TestClock(Date.now());
    const harness = embeddedHarness();
    const store = await harness.open({ clock: clock.now });
    const live = await store.stage(Buffer.from("live"));
    // The state a kill -9 leaves after "record the intent, rename into place": an intent, a blob row, a blob file.
    const hex = sha256("orphaned");
    fs.mkdirSync(path.dirname(blobFile(harness.dir, hex)), { recursive: true });
    fs.writeFileSync(blobFile(harness.dir, hex), "orphaned");
    const db = openSqlite(path.join(harness.dir, "manifest.db"));
    db.prepare("INSERT INTO intents (id, digest, temp_name, created_at) VALUES ('crashed', ?, 'gone.tmp', ?)").run(hex, clock.time);
    db.prepare("INSERT INTO blobs (digest, size, refs, created_at) VALUES (?, 8, 0, ?)").run(hex, clock.time);
    db.close();
    expect((await store.sweep()).blobsDeleted).toBe(0);
    expect(fs.existsSync(blobFile(harness.dir, hex))).toBe(true);
    clock.advance(16 * MINUTE);
    const report = await store.sweep();
    expect(report).toMatchObject({ orphansReclaimed: 1, blobsDeleted: 1, bytesFreed: 8 });
    expect(fs.existsSync(blobFile(harness.dir, hex))).toBe(false);
    expect((await store.read(live.ref)).toString()).toBe("live");
  });

  it("fails a stage that outlived the grace period instead of committing it without bytes", async () => {
    const harness = embeddedHarness();
    const late = new TestClock(Date.now() + 60 * MINUTE);
    const other: { sweeper?: Awaited<ReturnType<typeof harness.open>> } = {};
    const sweepingRename: FileSystem = {
      ...nodeFileSystem,
      rename: async (from, to) => {
        // Another process sweeps, an hour later by its clock, just as this stage renames its bytes in.
        await other.sweeper?.sweep();
        return nodeFileSystem.rename(from, to);
      },
    };
    const store = await harness.open({ fileSystem: sweepingRename });
    other.sweeper = await harness.open({ clock: late.now, gracePeriod: 0 });
    const err = await store.stage(Buffer.from("slow stage")).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "IO_ERROR" });
    expect(await store.list({ includeExpired: true })).toEqual([]);
    expect((await store.metrics()).blobs).toBe(0);
    expect(fs.readdirSync(path.join(harness.dir, "tmp"))).toEqual([]);
    expect(fs.existsSync(blobFile(harness.dir, sha256("slow stage")))).toBe(false);
  });

  it("does no per-attachment work when there is nothing to do", async () => {
    const calls: string[] = [];
    const counting = Object.fromEntries(
      Object.entries(nodeFileSystem).map(([name, fn]) => [
        name,
        (...args: unknown[]) => {
          calls.push(name);
          return (fn as (...a: unknown[]) => unknown)(...args);
        },
      ]),
    ) as unknown as FileSystem;
    const store = await embeddedHarness().open({ fileSystem: counting });
    for (let i = 0; i < 50; i++) await store.stage(Buffer.from(`attachment ${i}`), { ttl: "1h" });
    calls.length = 0;
    await store.sweep();
    // Two small listings: leases/ (named paths of live leases only) and tmp/.
    expect(calls).toEqual(["readdir", "readdir"]);
  });
});

describe("verify", () => {
  it("finds a corrupt blob through read, open and verify, and repairs it", async () => {
    const harness = embeddedHarness();
    const store = await harness.open();
    const a = await store.stage(Buffer.from("original bytes"), { scope: "a" });
    const b = await store.stage(Buffer.from("original bytes"), { scope: "b" });
    const fine = await store.stage(Buffer.from("fine"));
    fs.chmodSync((a.path as string), 0o600);
    fs.writeFileSync((a.path as string), "tampered bytes");
    const err = await store.read(a.ref).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INTEGRITY_ERROR", ref: a.ref, expected: a.digest });
    expect(await codeOf(drain(await store.open(a.ref)))).toBe("INTEGRITY_ERROR");
    const progress: unknown[] = [];
    expect(await store.verify({ onProgress: (p) => progress.push(p) })).toEqual({
      blobsChecked: 2, bytesChecked: 18, corrupt: [a.digest], missing: [], orphanFiles: [], repaired: 0, manifestProblems: [],
    });
    expect(progress).toEqual([{ blobsChecked: 1, bytesChecked: 14 }, { blobsChecked: 2, bytesChecked: 18 }]);
    const repaired = await store.verify({ repair: true });
    expect(repaired.corrupt).toEqual([a.digest]);
    expect(repaired.repaired).toBe(3);
    for (const ref of [a.ref, b.ref]) expect(await codeOf(store.get(ref))).toBe("NOT_FOUND");
    expect(fs.existsSync((a.path as string))).toBe(false);
    expect((await store.read(fine.ref)).toString()).toBe("fine");
    expect(await store.verify()).toMatchObject({ corrupt: [], missing: [], orphanFiles: [] });
  });

  it("finds missing blobs, stray files and unreadable references", async () => {
    const harness = embeddedHarness();
    const store = await harness.open();
    const gone = await store.stage(Buffer.from("will vanish"));
    fs.rmSync(gone.path as string);
    expect(await codeOf(store.read(gone.ref))).toBe("INTEGRITY_ERROR");
    expect(await codeOf(store.resolve(gone.ref))).toBe("INTEGRITY_ERROR");
    const outside = writeTempFile("outside.txt", "outside");
    const ref = await store.stage(outside, { mode: "reference" });
    fs.writeFileSync(outside, "outsidE");
    const stray = blobFile(harness.dir, sha256("stray"));
    fs.mkdirSync(path.dirname(stray), { recursive: true });
    fs.writeFileSync(stray, "stray");
    const report = await store.verify();
    expect(report.missing).toEqual([gone.digest]);
    expect(report.corrupt).toEqual([ref.digest]);
    expect(report.orphanFiles).toEqual([stray]);
    const repaired = await store.verify({ repair: true });
    expect(repaired.repaired).toBe(4);
    expect(fs.existsSync(stray)).toBe(false);
    expect(fs.readFileSync(outside, "utf8")).toBe("outsidE");
    expect(await store.list()).toEqual([]);
    expect(await store.verify()).toEqual({
      blobsChecked: 0, bytesChecked: 0, corrupt: [], missing: [], orphanFiles: [], repaired: 0, manifestProblems: [],
    });
  });
});

describe("background sweeper", () => {
  it("sweeps on its interval and stops on close", async () => {
    const clock = new TestClock();
    const store = await embeddedHarness().open({ clock: clock.now, sweepInterval: "20ms" });
    const a = await store.stage(Buffer.from("expiring"), { ttl: "1m" });
    clock.advance(2 * MINUTE);
    const deadline = Date.now() + 5_000;
    while ((await store.metrics()).expired.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect((await store.metrics()).expired.count).toBe(0);
    expect((await store.list({ includeExpired: true })).map((x) => x.id)).not.toContain(a.id);
    await store.close();
  });
});
