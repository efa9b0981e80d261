/**
 * The behaviour every store must show through the public API, whatever its
 * backends. Each backend's test file calls `describeStore` with a harness.
 */
import { Readable } from "node:stream";
import { buffer as drain } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import type { Store, StoreOptions } from "../../src/index.js";
import { sha256, TestClock, type StoreHarness } from "../support/fixtures.js";

const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a1f1e6e60000000049454e44ae426082",
  "hex",
);
const HOUR = 3_600_000;

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

export function describeStore(makeHarness: () => StoreHarness): void {
  async function setup(options: StoreOptions = {}) {
    const clock = new TestClock();
    const harness = makeHarness();
    const store = await harness.open({ clock: clock.now, ...options });
    return { clock, harness, store };
  }

  describe("stage", () => {
    it("returns a complete attachment for bytes", async () => {
      const { store, clock } = await setup();
      const a = await store.stage(Buffer.from("hello"), { name: "greeting.txt", source: "test", metadata: { n: 1 } });
      expect(a.ref).toBe(`attache://${a.id}`);
      expect(a.id).toMatch(/^[0-9a-z]{26}$/);
      expect(a).toMatchObject({
        scope: "default",
        name: "greeting.txt",
        size: 5,
        contentType: "text/plain",
        digest: `sha256:${sha256("hello")}`,
        checksum: sha256("hello"),
        mode: "copy",
        persist: false,
        ttlMs: 24 * HOUR,
        source: "test",
        metadata: { n: 1 },
      });
      expect(a.createdAt.getTime()).toBe(clock.time);
      expect(a.updatedAt.getTime()).toBe(clock.time);
      expect(a.expiresAt?.getTime()).toBe(clock.time + 24 * HOUR);
      expect((await store.read(a.ref)).toString()).toBe("hello");
    });

    it("accepts every in-memory source kind", async () => {
      const { store } = await setup();
      const bytes = Buffer.from("same bytes from every kind of source");
      const sources = [
        bytes,
        new Uint8Array(bytes),
        new Blob([bytes]),
        Readable.from([bytes.subarray(0, 10), bytes.subarray(10)]),
        new Blob([bytes]).stream(),
        (async function* () {
          yield bytes.subarray(0, 3);
          yield bytes.subarray(3);
        })(),
      ];
      for (const [i, source] of sources.entries()) {
        const a = await store.stage(source, { scope: `kind-${i}` });
        expect(a.checksum).toBe(sha256(bytes));
        expect(await store.read(a.ref)).toEqual(bytes);
      }
      expect((await store.metrics()).blobs).toBe(1);
    });

    it("owns the bytes it writes: a source that reuses its buffer after each chunk stages what it yielded", async () => {
      const { store } = await setup();
      const expected: Buffer[] = [];
      const reused = Buffer.alloc(256 * 1024);
      const reusing = (async function* () {
        for (let i = 0; i < 24; i++) {
          reused.fill(i);
          expected.push(Buffer.from(reused));
          yield reused;
        }
      })();
      const a = await store.stage(reusing);
      const bytes = Buffer.concat(expected);
      expect(a.checksum).toBe(sha256(bytes));
      expect((await store.read(a.ref)).equals(bytes)).toBe(true);
      expect(await store.verify()).toMatchObject({ corrupt: [], missing: [] });
    });

    it("takes a File's name and a Blob's type as declared", async () => {
      const { store } = await setup();
      const a = await store.stage(new File(["{}"], "data.json", { type: "application/x-custom" }));
      expect(a.name).toBe("data.json");
      expect(a.contentType).toBe("application/x-custom");
      const b = await store.stage(new File(["{}"], "x.json", { type: "text/plain" }), { scope: "b", contentType: "application/json", name: "y" });
      expect(b).toMatchObject({ name: "y", contentType: "application/json" });
    });

    it("stages zero bytes", async () => {
      const { store } = await setup();
      const a = await store.stage(Buffer.alloc(0));
      expect(a.size).toBe(0);
      expect(a.checksum).toBe(sha256(""));
      expect((await store.read(a.ref)).length).toBe(0);
    });

    it("checks the checksum in either form and any case", async () => {
      const { store } = await setup();
      const hex = sha256("x");
      await expect(store.stage(Buffer.from("x"), { checksum: hex.toUpperCase() })).resolves.toBeDefined();
      await expect(store.stage(Buffer.from("x"), { checksum: `sha256:${hex}` })).resolves.toBeDefined();
      const err = await store.stage(Buffer.from("y"), { checksum: hex }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "CHECKSUM_MISMATCH", expected: `sha256:${hex}`, actual: `sha256:${sha256("y")}` });
      expect(await codeOf(store.stage(Buffer.from("x"), { checksum: "abc" }))).toBe("INVALID_ARGUMENT");
      expect((await store.metrics()).blobs).toBe(1);
    });

    it("refuses more than maxSize as soon as it is crossed", async () => {
      const { store } = await setup({ maxSize: 1000 });
      let pulled = 0;
      const endless = (async function* () {
        for (;;) {
          pulled++;
          yield Buffer.alloc(300);
        }
      })();
      expect(await codeOf(store.stage(endless))).toBe("TOO_LARGE");
      expect(pulled).toBe(4);
      expect(await codeOf(store.stage(Buffer.alloc(1001)))).toBe("TOO_LARGE");
      await expect(store.stage(Buffer.alloc(1000))).resolves.toMatchObject({ size: 1000 });
      const m = await store.metrics();
      expect(m.blobs).toBe(1);
    });

    it("honours an abort signal, before and during the stage", async () => {
      const { store } = await setup();
      expect(await codeOf(store.stage(Buffer.from("x"), { signal: AbortSignal.abort() }))).toBe("ABORTED");
      const controller = new AbortController();
      const hanging = (async function* () {
        yield Buffer.from("first chunk");
        controller.abort();
        await new Promise(() => undefined);
      })();
      expect(await codeOf(store.stage(hanging, { signal: controller.signal }))).toBe("ABORTED");
      expect((await store.metrics()).blobs).toBe(0);
      expect(await store.list()).toEqual([]);
    });

    it("reports a stream that fails part-way as INVALID_SOURCE with its cause", async () => {
      const { store } = await setup();
      const boom = new Error("connection reset");
      const failing = (async function* () {
        yield Buffer.from("partial");
        throw boom;
      })();
      const err = await store.stage(failing).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "INVALID_SOURCE", cause: boom });
      expect((await store.metrics()).blobs).toBe(0);
    });

    it("refuses sources and options it cannot take", async () => {
      const { store } = await setup();
      expect(await codeOf(store.stage(42 as never))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(Buffer.from("x"), { mode: "link" as never }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(Buffer.from("x"), { mode: "move" }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(Buffer.from("x"), { mode: "reference" }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(Buffer.from("x"), { ttl: -1 }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(Buffer.from("x"), { ttl: Number.NaN }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(Buffer.from("x"), { ttl: "soon" }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(Buffer.from("x"), { scope: "" }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(Buffer.from("x"), { metadata: { n: 1n } as never }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(Buffer.from("x"), { metadata: [] as never }))).toBe("INVALID_ARGUMENT");
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      expect(await codeOf(store.stage(Buffer.from("x"), { metadata: cyclic }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.stage(new URL("https://example.invalid/x")))).toBe("INVALID_SOURCE");
      expect(await store.list()).toEqual([]);
    });
  });

  describe("dedup and merge", () => {
    it("stores identical bytes once across scopes and names", async () => {
      const { store } = await setup();
      const a = await store.stage(Buffer.from("shared"), { scope: "a", name: "one.txt" });
      const b = await store.stage(Buffer.from("shared"), { scope: "b", name: "two.txt" });
      expect(b.id).not.toBe(a.id);
      expect(b.digest).toBe(a.digest);
      const m = await store.metrics();
      expect(m).toMatchObject({ attachments: 2, blobs: 1, scopes: 2, logicalBytes: 12, storedBytes: 6, dedupSavedBytes: 6 });
    });

    it("gives the same scope the same attachment back, keeping what was first staged", async () => {
      const { store, clock } = await setup();
      const first = await store.stage(Buffer.from("bytes"), {
        scope: "s", name: "first.txt", contentType: "text/plain", metadata: { v: 1 }, source: "one", ttl: "1h",
      });
      clock.advance(1000);
      const again = await store.stage(Buffer.from("bytes"), {
        scope: "s", name: "second.bin", contentType: "application/x-other", metadata: { v: 2 }, source: "two", ttl: "2h",
      });
      expect(again.id).toBe(first.id);
      expect(again).toMatchObject({ name: "first.txt", contentType: "text/plain", metadata: { v: 1 }, source: "one", ttlMs: 2 * HOUR });
      expect(again.expiresAt?.getTime()).toBe(clock.time + 2 * HOUR);
      expect(again.updatedAt.getTime()).toBe(clock.time);
      expect(again.createdAt.getTime()).toBe(first.createdAt.getTime());
      expect((await store.metrics()).attachments).toBe(1);
    });

    it("extends the expiry but never shortens it", async () => {
      const { store, clock } = await setup();
      const long = await store.stage(Buffer.from("b"), { ttl: "2h" });
      clock.advance(1000);
      const short = await store.stage(Buffer.from("b"), { ttl: "1m" });
      expect(short.expiresAt?.getTime()).toBe(long.expiresAt?.getTime());
      expect(short.ttlMs).toBe(2 * HOUR);
    });

    it("switches persist on, never off", async () => {
      const { store } = await setup();
      await store.stage(Buffer.from("p"), { ttl: "1h" });
      const persisted = await store.stage(Buffer.from("p"), { persist: true });
      expect(persisted).toMatchObject({ persist: true, expiresAt: null, ttlMs: null });
      const again = await store.stage(Buffer.from("p"), { ttl: "1m", persist: false });
      expect(again).toMatchObject({ persist: true, expiresAt: null, ttlMs: null });
      const infinite = await store.stage(Buffer.from("q"), { ttl: Infinity });
      expect(infinite).toMatchObject({ persist: true, expiresAt: null, ttlMs: null });
    });

    it("revives an expired, unswept attachment with a fresh lifetime from the new ttl", async () => {
      const { store, clock } = await setup();
      const a = await store.stage(Buffer.from("e"), { ttl: "1h" });
      clock.advance(2 * HOUR);
      expect(await codeOf(store.get(a.ref))).toBe("NOT_FOUND");
      const revived = await store.stage(Buffer.from("e"), { ttl: "5m" });
      expect(revived.id).toBe(a.id);
      expect(revived.expiresAt?.getTime()).toBe(clock.time + 5 * 60_000);
      expect(revived.ttlMs).toBe(5 * 60_000);
      expect((await store.get(a.ref)).id).toBe(a.id);
    });
  });

  describe("names and content types", () => {
    it("keeps display names safe", async () => {
      const { store } = await setup();
      const cases: [string, string][] = [
        ["../../etc/passwd", "passwd"],
        ["/abs/path/report.pdf", "report.pdf"],
        ["C:\\Users\\x\\photo.jpg", "photo.jpg"],
        ["bad\u0000na\u0007me\n.txt", "badname.txt"],
        ["..", "attachment"],
        ["", "attachment"],
      ];
      for (const [i, [raw, expected]] of cases.entries()) {
        const a = await store.stage(Buffer.from(`n${i}`), { name: raw });
        expect(a.name).toBe(expected);
      }
      const long = await store.stage(Buffer.from("long"), { name: `${"é".repeat(500)}.txt` });
      expect(Buffer.byteLength(long.name)).toBeLessThanOrEqual(255);
      expect(long.name.endsWith(".txt")).toBe(true);
    });

    it("declared, then sniffed, then by extension, then octet-stream", async () => {
      const { store } = await setup();
      expect((await store.stage(PNG, { contentType: "image/x-declared", scope: "1" })).contentType).toBe("image/x-declared");
      expect((await store.stage(PNG, { name: "wrong.txt", scope: "2" })).contentType).toBe("image/png");
      expect((await store.stage(Buffer.from("a,b\n"), { name: "t.csv" })).contentType).toBe("text/csv");
      expect((await store.stage(Buffer.from("???"), { name: "noext" })).contentType).toBe("text/plain");
      expect((await store.stage(Buffer.from([0, 1, 2, 0xff]), { name: "noext" })).contentType).toBe("application/octet-stream");
    });
  });

  describe("reading", () => {
    it("resolves to a local path holding the bytes", async () => {
      const { store } = await setup();
      const a = await store.stage(Buffer.from("on disk"));
      const { path, attachment } = await store.resolve(a.ref);
      expect(attachment.id).toBe(a.id);
      const fs = await import("node:fs/promises");
      expect((await fs.readFile(path)).toString()).toBe("on disk");
    });

    it("opens a verified stream", async () => {
      const { store } = await setup();
      const bytes = Buffer.alloc(3 << 20, 7);
      const a = await store.stage(bytes);
      expect((await drain(await store.open(a.ref))).equals(bytes)).toBe(true);
    });

    it("hides expired attachments at once", async () => {
      const { store, clock } = await setup();
      const now0 = await store.stage(Buffer.from("zero"), { ttl: 0 });
      expect(await codeOf(store.get(now0.ref))).toBe("NOT_FOUND");
      const a = await store.stage(Buffer.from("soon"), { ttl: "1s" });
      await expect(store.get(a.ref)).resolves.toBeDefined();
      clock.advance(1000);
      for (const op of [store.get(a.ref), store.resolve(a.ref), store.read(a.ref), store.open(a.ref), store.lease(a.ref)]) {
        expect(await codeOf(op)).toBe("NOT_FOUND");
      }
      expect(await store.release(a.ref)).toBe(false);
      expect(await store.list()).toEqual([]);
      expect((await store.list({ includeExpired: true })).map((x) => x.id).sort()).toEqual([now0.id, a.id].sort());
    });

    it("refuses malformed refs and reports unknown ones as NOT_FOUND", async () => {
      const { store } = await setup();
      for (const bad of ["", "attache://", "attache://../../x", "http://x", "attache://ZZZ", 42 as never]) {
        expect(await codeOf(store.get(bad))).toBe("INVALID_ARGUMENT");
      }
      const unknown = "attache://01m7yjjjy88fprwvxfcc2w15ac";
      const err = await store.get(unknown).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "NOT_FOUND", ref: unknown });
      const a = await store.stage(Buffer.from("bare id"));
      expect((await store.get(a.id)).id).toBe(a.id);
      expect((await store.get(a.ref.toUpperCase().replace("ATTACHE://", "attache://"))).id).toBe(a.id);
    });
  });

  describe("leases", () => {
    it("pins the bytes through release and sweep until it ends", async () => {
      const { store } = await setup();
      const a = await store.stage(Buffer.from("leased"));
      const lease = await store.lease(a.ref);
      expect(lease.attachment.id).toBe(a.id);
      expect(await store.release(a.ref)).toBe(true);
      await store.sweep();
      const fs = await import("node:fs/promises");
      expect((await fs.readFile(lease.path)).toString()).toBe("leased");
      expect((await store.metrics()).leases).toBe(1);
      await lease.release();
      await lease.release();
      expect((await store.metrics()).blobs).toBe(0);
    });

    it("outlives its attachment's expiry, and ends after its own ttl", async () => {
      const { store, clock } = await setup({ gracePeriod: "1m" });
      const a = await store.stage(Buffer.from("short"), { ttl: "1m" });
      const lease = await store.lease(a.ref, { ttl: "10m" });
      expect(lease.expiresAt.getTime()).toBe(clock.time + 10 * 60_000);
      clock.advance(2 * 60_000);
      const swept = await store.sweep();
      expect(swept.expired).toBe(1);
      expect(swept.blobsDeleted).toBe(0);
      expect((await store.metrics()).blobs).toBe(1);
      clock.advance(9 * 60_000);
      const after = await store.sweep();
      expect(after.blobsDeleted).toBe(1);
      expect(after.orphansReclaimed).toBeGreaterThanOrEqual(1);
      expect((await store.metrics()).leases).toBe(0);
    });

    it("ends on dispose", async () => {
      const { store } = await setup();
      const a = await store.stage(Buffer.from("disposable"));
      {
        await using lease = await store.lease(a.ref);
        expect(lease.path).toBeTruthy();
        expect((await store.metrics()).leases).toBe(1);
      }
      expect((await store.metrics()).leases).toBe(0);
      expect(await codeOf(store.lease(a.ref, { ttl: "never" }))).toBe("INVALID_ARGUMENT");
    });
  });

  describe("listing", () => {
    it("lists in creation order with cursor pagination and filters", async () => {
      const { store } = await setup();
      const staged = [];
      for (let i = 0; i < 7; i++) staged.push(await store.stage(Buffer.from(`item ${i}`), { scope: i % 2 ? "odd" : "even" }));
      expect((await store.list()).map((a) => a.id)).toEqual(staged.map((a) => a.id));
      const page1 = await store.list({ limit: 3 });
      const page2 = await store.list({ limit: 3, after: page1[2]?.id });
      const page3 = await store.list({ limit: 3, after: page2[2]?.id });
      expect([...page1, ...page2, ...page3].map((a) => a.id)).toEqual(staged.map((a) => a.id));
      expect(page3).toHaveLength(1);
      expect((await store.list({ scope: "odd" })).map((a) => a.id)).toEqual(staged.filter((_, i) => i % 2).map((a) => a.id));
      await store.release(page1[1]?.ref as string);
      expect((await store.list({ after: page1[1]?.id, limit: 1 }))[0]?.id).toBe(staged[2]?.id);
      const iterated = [];
      for await (const a of store.iterate({ scope: "even" })) iterated.push(a.id);
      expect(iterated).toEqual(staged.filter((_, i) => i % 2 === 0).map((a) => a.id));
      expect(await codeOf(store.list({ limit: -1 }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.list({ after: "nope" }))).toBe("INVALID_ARGUMENT");
    });
  });

  describe("release and scopes", () => {
    it("frees a blob as soon as nothing needs it", async () => {
      const { store } = await setup();
      const a = await store.stage(Buffer.from("one"), { scope: "a" });
      const b = await store.stage(Buffer.from("one"), { scope: "b" });
      expect(await store.release(a.ref)).toBe(true);
      expect(await store.release(a.ref)).toBe(false);
      expect((await store.read(b.ref)).toString()).toBe("one");
      expect((await store.metrics()).blobs).toBe(1);
      expect(await store.release(b.ref)).toBe(true);
      expect((await store.metrics()).blobs).toBe(0);
    });

    it("releases a whole scope, leaving the others", async () => {
      const { store } = await setup();
      await store.stage(Buffer.from("1"), { scope: "chat" });
      await store.stage(Buffer.from("2"), { scope: "chat" });
      const kept = await store.stage(Buffer.from("2"), { scope: "other" });
      expect(await store.releaseScope("chat")).toBe(2);
      expect(await store.releaseScope("chat")).toBe(0);
      expect((await store.list()).map((a) => a.id)).toEqual([kept.id]);
      expect((await store.metrics()).blobs).toBe(1);
    });

    it("confines a scoped handle to its scope", async () => {
      const { store } = await setup();
      const chat = store.scope("chat:1");
      const other = store.scope("chat:2");
      const mine = await chat.stage(Buffer.from("mine"), { ttl: "30m" });
      const theirs = await other.stage(Buffer.from("theirs"));
      const shared = await other.stage(Buffer.from("mine"));
      expect(mine.scope).toBe("chat:1");
      for (const op of [chat.get(theirs.ref), chat.resolve(theirs.ref), chat.read(theirs.ref), chat.open(theirs.ref), chat.lease(theirs.ref)]) {
        expect(await codeOf(op)).toBe("NOT_FOUND");
      }
      expect(await chat.release(theirs.ref)).toBe(false);
      expect(await chat.release(shared.ref)).toBe(false);
      expect((await chat.list()).map((a) => a.id)).toEqual([mine.id]);
      const iterated = [];
      for await (const a of chat.iterate()) iterated.push(a.id);
      expect(iterated).toEqual([mine.id]);
      expect(await codeOf(chat.stage(Buffer.from("x"), { scope: "chat:2" } as never))).toBe("INVALID_ARGUMENT");
      expect(await chat.release()).toBe(1);
      expect((await other.read(shared.ref)).toString()).toBe("mine");
      expect(() => store.scope("")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    });

    it("releases a temporary attachment on dispose", async () => {
      const { store } = await setup();
      let ref: string;
      {
        await using temp = await store.temporary(Buffer.from("scratch"), { scope: "turn" });
        ref = temp.ref;
        expect((await store.read(ref)).toString()).toBe("scratch");
      }
      expect(await codeOf(store.get(ref))).toBe("NOT_FOUND");
      expect((await store.metrics()).blobs).toBe(0);
      const scoped = await store.scope("turn").temporary(Buffer.from("again"));
      expect(await scoped.release()).toBe(true);
      expect(await scoped.release()).toBe(true);
    });
  });

  describe("sweep", () => {
    it("drops expired attachments and their blobs, and nothing live", async () => {
      const { store, clock } = await setup();
      const gone = await store.stage(Buffer.from("expiring"), { ttl: "1m" });
      const alsoGone = await store.stage(Buffer.from("expiring"), { ttl: "1m", scope: "x" });
      const kept = await store.stage(Buffer.from("kept"), { ttl: "1h" });
      const forever = await store.stage(Buffer.from("forever"), { persist: true });
      clock.advance(2 * 60_000);
      const report = await store.sweep();
      expect(report).toMatchObject({ expired: 2, blobsDeleted: 1, bytesFreed: 8 });
      expect(report.durationMs).toBeGreaterThanOrEqual(0);
      expect(await store.list({ includeExpired: true })).toHaveLength(2);
      for (const a of [gone, alsoGone]) expect(await codeOf(store.get(a.ref))).toBe("NOT_FOUND");
      expect((await store.read(kept.ref)).toString()).toBe("kept");
      expect((await store.read(forever.ref)).toString()).toBe("forever");
      expect(await store.sweep()).toMatchObject({ expired: 0, blobsDeleted: 0, bytesFreed: 0, orphansReclaimed: 0 });
    });
  });

  describe("metrics", () => {
    it("counts live, persistent, expirable and expired attachments apart", async () => {
      const { store, clock } = await setup();
      expect(await store.metrics()).toEqual({
        attachments: 0, blobs: 0, scopes: 0, logicalBytes: 0, storedBytes: 0, dedupSavedBytes: 0,
        persistent: { count: 0, bytes: 0 }, expirable: { count: 0, bytes: 0 }, expired: { count: 0, bytes: 0 },
        leases: 0, nextExpiryAt: null,
      });
      await store.stage(Buffer.from("aaaa"), { scope: "s1", persist: true });
      await store.stage(Buffer.from("aaaa"), { scope: "s2", ttl: "1h" });
      const b = await store.stage(Buffer.from("bb"), { scope: "s2", ttl: "10m" });
      await store.stage(Buffer.from("c"), { scope: "s3", ttl: "1m" });
      await store.lease(b.ref);
      clock.advance(2 * 60_000);
      const m = await store.metrics();
      expect(m).toEqual({
        attachments: 3,
        blobs: 3,
        scopes: 2,
        logicalBytes: 10,
        storedBytes: 7,
        dedupSavedBytes: 4,
        persistent: { count: 1, bytes: 4 },
        expirable: { count: 2, bytes: 6 },
        expired: { count: 1, bytes: 1 },
        leases: 1,
        nextExpiryAt: new Date(b.expiresAt?.getTime() as number),
      });
    });

    it("gives one scope's counts and bytes, and the largest scopes, through expiry, release and a sweep", async () => {
      const { store, clock } = await setup();
      const none = { count: 0, bytes: 0 };
      const empty = (scope: string) => ({
        scope, attachments: 0, logicalBytes: 0, persistent: none, expirable: none, expired: none, leases: 0, nextExpiryAt: null,
      });
      expect(await store.metrics({ scope: "s1" })).toEqual(empty("s1"));
      expect(await store.largestScopes()).toEqual([]);
      await store.stage(Buffer.from("aaaa"), { scope: "s1", persist: true });
      const d = await store.stage(Buffer.from("dddddd"), { scope: "s1", ttl: "1h" });
      const a2 = await store.stage(Buffer.from("aaaa"), { scope: "s2", ttl: "1h" });
      const b = await store.stage(Buffer.from("bb"), { scope: "s2", ttl: "10m" });
      await store.stage(Buffer.from("c"), { scope: "s3", ttl: "1m" });
      await store.lease(b.ref);
      clock.advance(2 * 60_000);

      const s1 = {
        scope: "s1", attachments: 2, logicalBytes: 10, persistent: { count: 1, bytes: 4 }, expirable: { count: 1, bytes: 6 },
        expired: none, leases: 0, nextExpiryAt: d.expiresAt,
      };
      const s2 = {
        scope: "s2", attachments: 2, logicalBytes: 6, persistent: none, expirable: { count: 2, bytes: 6 },
        expired: none, leases: 1, nextExpiryAt: b.expiresAt,
      };
      expect(await store.metrics({ scope: "s1" })).toEqual(s1);
      expect(await store.metrics({ scope: "s2" })).toEqual(s2);
      expect(await store.scope("s2").metrics()).toEqual(s2);
      expect(await store.metrics({ scope: "s3" })).toEqual({ ...empty("s3"), expired: { count: 1, bytes: 1 } });
      expect(await store.largestScopes()).toEqual([s1, s2]);
      expect(await store.largestScopes({ limit: 1 })).toEqual([s1]);

      // Released with its lease still open: the lease pins bytes store-wide, but no longer counts for the scope.
      expect(await store.release(b.ref)).toBe(true);
      const s2Released = { ...s2, attachments: 1, logicalBytes: 4, expirable: { count: 1, bytes: 4 }, leases: 0, nextExpiryAt: a2.expiresAt };
      expect(await store.scope("s2").metrics()).toEqual(s2Released);
      expect((await store.metrics()).leases).toBe(1);
      expect(await store.sweep()).toMatchObject({ expired: 1 });
      expect(await store.metrics({ scope: "s3" })).toEqual(empty("s3"));

      clock.advance(HOUR);
      expect(await store.metrics({ scope: "s1" })).toEqual({
        ...s1, attachments: 1, logicalBytes: 4, expirable: none, expired: { count: 1, bytes: 6 }, nextExpiryAt: null,
      });
      expect(await store.metrics({ scope: "s2" })).toEqual({ ...empty("s2"), expired: { count: 1, bytes: 4 } });
      expect((await store.largestScopes()).map((m) => m.scope)).toEqual(["s1"]);
      await store.sweep();
      expect(await store.metrics({ scope: "s2" })).toEqual(empty("s2"));
      expect(await store.metrics({ scope: "s1" })).toEqual({ ...s1, attachments: 1, logicalBytes: 4, expirable: none, nextExpiryAt: null });
      expect(await store.largestScopes({ limit: 5 })).toEqual([{ ...s1, attachments: 1, logicalBytes: 4, expirable: none, nextExpiryAt: null }]);
    });

    it("refuses a bad scope or limit", async () => {
      const { store } = await setup();
      expect(await codeOf(store.metrics({ scope: "" }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.metrics({ scope: 7 as unknown as string }))).toBe("INVALID_ARGUMENT");
      expect(await codeOf(store.metrics(null as unknown as { scope: string }))).toBe("INVALID_ARGUMENT");
      for (const limit of [0, -1, 1.5, Number.NaN, "3"]) {
        expect(await codeOf(store.largestScopes({ limit: limit as number }))).toBe("INVALID_ARGUMENT");
      }
      expect((await store.metrics({})).attachments).toBe(0);
    });
  });

  describe("reset and close", () => {
    it("reset drops everything and leaves the store usable", async () => {
      const { store } = await setup();
      const a = await store.stage(Buffer.from("before"));
      await store.lease(a.ref);
      await store.reset();
      expect(await codeOf(store.get(a.ref))).toBe("NOT_FOUND");
      expect((await store.metrics()).attachments).toBe(0);
      expect((await store.metrics()).blobs).toBe(0);
      expect((await store.metrics()).leases).toBe(0);
      const b = await store.stage(Buffer.from("before"));
      expect((await store.read(b.ref)).toString()).toBe("before");
    });

    it("refuses every call after close, also through a scope handle", async () => {
      const { store } = await setup();
      const a = await store.stage(Buffer.from("x"));
      const scoped = store.scope("s");
      await store.close();
      await store.close();
      const calls: Promise<unknown>[] = [
        store.stage(Buffer.from("y")), store.get(a.ref), store.resolve(a.ref), store.read(a.ref), store.open(a.ref),
        store.lease(a.ref), store.list(), store.temporary(Buffer.from("t")), store.release(a.ref), store.releaseScope("s"),
        store.sweep(), store.metrics(), store.verify(), store.reset(),
        scoped.stage(Buffer.from("z")), scoped.get(a.ref), scoped.list(), scoped.release(),
        (async () => { for await (const _ of store.iterate()) void _; })(),
      ];
      for (const call of calls) expect(await codeOf(call)).toBe("STORE_CLOSED");
    });

    it("closes through Symbol.asyncDispose", async () => {
      const harness = makeHarness();
      let ref: string;
      let closedStore: Store | undefined;
      {
        await using store = await harness.open();
        ref = (await store.stage(Buffer.from("kept"), { persist: true })).ref;
        closedStore = store;
      }
      expect(await codeOf((closedStore as Store).get(ref))).toBe("STORE_CLOSED");
      const reopened = await harness.open();
      expect((await reopened.read(ref)).toString()).toBe("kept");
    });
  });
}
