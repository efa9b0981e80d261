/** The store suite's cases for staging: sources, options, limits, dedup and merge, names and content types. */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { HOUR, PNG, type StoreSuiteContext } from "./store-fixtures.js";
import { codeOf, sha256 } from "./support.js";

export function stagingCases(suite: StoreSuiteContext): void {
  describe("stage", () => {
    it("returns a complete attachment for bytes", async () => {
      const { store, clock } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
      const a = await store.stage(new File(["{}"], "data.json", { type: "application/x-custom" }));
      expect(a.name).toBe("data.json");
      expect(a.contentType).toBe("application/x-custom");
      const b = await store.stage(new File(["{}"], "x.json", { type: "text/plain" }), { scope: "b", contentType: "application/json", name: "y" });
      expect(b).toMatchObject({ name: "y", contentType: "application/json" });
    });

    it("stages zero bytes", async () => {
      const { store } = await suite.setup();
      const a = await store.stage(Buffer.alloc(0));
      expect(a.size).toBe(0);
      expect(a.checksum).toBe(sha256(""));
      expect((await store.read(a.ref)).length).toBe(0);
    });

    it("checks the checksum in either form and any case", async () => {
      const { store } = await suite.setup();
      const hex = sha256("x");
      await expect(store.stage(Buffer.from("x"), { checksum: hex.toUpperCase() })).resolves.toBeDefined();
      await expect(store.stage(Buffer.from("x"), { checksum: `sha256:${hex}` })).resolves.toBeDefined();
      const err = await store.stage(Buffer.from("y"), { checksum: hex }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "CHECKSUM_MISMATCH", expected: `sha256:${hex}`, actual: `sha256:${sha256("y")}` });
      expect(await codeOf(store.stage(Buffer.from("x"), { checksum: "abc" }))).toBe("INVALID_ARGUMENT");
      expect((await store.metrics()).blobs).toBe(1);
    });

    it("refuses more than maxSize as soon as it is crossed", async () => {
      const { store } = await suite.setup({ maxSize: 1000 });
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
      const a = await store.stage(Buffer.from("shared"), { scope: "a", name: "one.txt" });
      const b = await store.stage(Buffer.from("shared"), { scope: "b", name: "two.txt" });
      expect(b.id).not.toBe(a.id);
      expect(b.digest).toBe(a.digest);
      const m = await store.metrics();
      expect(m).toMatchObject({ attachments: 2, blobs: 1, scopes: 2, logicalBytes: 12, storedBytes: 6, dedupSavedBytes: 6 });
    });

    it("gives the same scope the same attachment back, keeping what was first staged", async () => {
      const { store, clock } = await suite.setup();
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
      const { store, clock } = await suite.setup();
      const long = await store.stage(Buffer.from("b"), { ttl: "2h" });
      clock.advance(1000);
      const short = await store.stage(Buffer.from("b"), { ttl: "1m" });
      expect(short.expiresAt?.getTime()).toBe(long.expiresAt?.getTime());
      expect(short.ttlMs).toBe(2 * HOUR);
    });

    it("switches persist on, never off", async () => {
      const { store } = await suite.setup();
      await store.stage(Buffer.from("p"), { ttl: "1h" });
      const persisted = await store.stage(Buffer.from("p"), { persist: true });
      expect(persisted).toMatchObject({ persist: true, expiresAt: null, ttlMs: null });
      const again = await store.stage(Buffer.from("p"), { ttl: "1m", persist: false });
      expect(again).toMatchObject({ persist: true, expiresAt: null, ttlMs: null });
      const infinite = await store.stage(Buffer.from("q"), { ttl: Infinity });
      expect(infinite).toMatchObject({ persist: true, expiresAt: null, ttlMs: null });
    });

    it("revives an expired, unswept attachment with a fresh lifetime from the new ttl", async () => {
      const { store, clock } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
      expect((await store.stage(PNG, { contentType: "image/x-declared", scope: "1" })).contentType).toBe("image/x-declared");
      expect((await store.stage(PNG, { name: "wrong.txt", scope: "2" })).contentType).toBe("image/png");
      expect((await store.stage(Buffer.from("a,b\n"), { name: "t.csv" })).contentType).toBe("text/csv");
      expect((await store.stage(Buffer.from("???"), { name: "noext" })).contentType).toBe("text/plain");
      expect((await store.stage(Buffer.from([0, 1, 2, 0xff]), { name: "noext" })).contentType).toBe("application/octet-stream");
    });
  });

}
