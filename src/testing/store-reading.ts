/** The store suite's cases for reading, leases and listing. */
import fs from "node:fs/promises";
import { buffer as drain } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import type { StoreSuiteContext } from "./store-fixtures.js";
import { codeOf, writeTemporaryFile } from "./support.js";

export function readingCases(suite: StoreSuiteContext): void {
  describe("reading", () => {
    it("resolves to a local path holding the bytes", async () => {
      const { store } = await suite.setup();
      const a = await store.stage(Buffer.from("on disk"));
      const { path, attachment } = await store.resolve(a.ref);
      expect(attachment.id).toBe(a.id);
      expect((await fs.readFile(path)).toString()).toBe("on disk");
    });

    it("opens a verified stream", async () => {
      const { store } = await suite.setup();
      const bytes = Buffer.alloc(3 << 20, 7);
      const a = await store.stage(bytes);
      expect((await drain(await store.open(a.ref))).equals(bytes)).toBe(true);
    });

    it("hides expired attachments at once", async () => {
      const { store, clock } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
      const a = await store.stage(Buffer.from("leased"));
      const lease = await store.lease(a.ref);
      expect(lease.attachment.id).toBe(a.id);
      expect(await store.release(a.ref)).toBe(true);
      await store.sweep();
      expect((await fs.readFile(lease.path)).toString()).toBe("leased");
      expect((await store.metrics()).leases).toBe(1);
      await lease.release();
      await lease.release();
      expect((await store.metrics()).blobs).toBe(0);
    });

    it("outlives its attachment's expiry, and ends after its own ttl", async () => {
      const { store, clock } = await suite.setup({ gracePeriod: "1m" });
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
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


  describe("local paths", () => {
    it("gives a freshly staged attachment a path to its bytes on the staging host", async () => {
      const { store, harness } = await suite.setup();
      // Larger than the default inlineMaxSize: bytes kept inside the manifest have no path until resolved.
      const bytes = "right here ".repeat(8_000);
      const a = await store.stage(Buffer.from(bytes));
      // Local blob files, or (without) the copy the stage wrote through to the local cache.
      expect(a.path).not.toBeNull();
      expect(await fs.readFile(a.path as string, "utf8")).toBe(bytes);
      expect((await store.get(a.ref)).path).toBe(a.path);
      const { path } = await store.resolve(a.ref);
      expect(await fs.readFile(path, "utf8")).toBe(bytes);
      if (harness.localFiles) expect(path).toBe(a.path);
    });

    it("has a path on another host only once it resolves or leases there, unless the blobs are local files", async () => {
      // Bytes in the blob store (small ones inside the manifest have no path from get(): see the inline suite).
      const { store, harness, clock } = await suite.setup({ inlineMaxSize: 0 });
      const second = await harness.openSecond({ clock: clock.now, inlineMaxSize: 0 });
      const a = await store.stage(Buffer.from("staged on the first host"));
      const b = await store.stage(Buffer.from("leased on the second host"));
      if (harness.localFiles) {
        expect((await second.get(a.ref)).path).toBe(a.path);
        return;
      }
      expect((await second.get(a.ref)).path).toBeNull();
      expect((await second.list()).map((x) => x.path)).toEqual([null, null]);
      const { path } = await second.resolve(a.ref);
      expect(await fs.readFile(path, "utf8")).toBe("staged on the first host");
      expect((await second.get(a.ref)).path).toBe(path);
      expect((await second.get(b.ref)).path).toBeNull();
      const lease = await second.lease(b.ref);
      expect(await fs.readFile(lease.path, "utf8")).toBe("leased on the second host");
      expect((await second.get(b.ref)).path).not.toBeNull();
      await lease.release();
      // Bytes read through a store are verified, cached or not.
      expect((await second.read(b.ref)).toString()).toBe("leased on the second host");
    });

    it("references an outside file in place where the blobs are local files", async ({ skip }) => {
      const { store, harness } = await suite.setup();
      if (!harness.localFiles) return skip("reference mode needs local blob files");
      const file = writeTemporaryFile("outside.txt", "outside bytes");
      const a = await store.stage(file, { mode: "reference" });
      expect(a).toMatchObject({ mode: "reference", path: file, size: 13, name: "outside.txt" });
      expect((await store.read(a.ref)).toString()).toBe("outside bytes");
      expect((await store.resolve(a.ref)).path).toBe(file);
      expect((await store.metrics()).blobs).toBe(0);
    });

    it("refuses reference mode where the blobs are not local files", async ({ skip }) => {
      const { store, harness } = await suite.setup();
      if (harness.localFiles) return skip("reference mode works with local blob files");
      const file = writeTemporaryFile("outside.txt", "outside bytes");
      expect(await codeOf(store.stage(file, { mode: "reference" }))).toBe("INVALID_ARGUMENT");
      expect(await store.list()).toEqual([]);
      const copied = await store.stage(file);
      expect(await fs.readFile((await store.resolve(copied.ref)).path, "utf8")).toBe("outside bytes");
    });
  });
}
