/** The store suite's cases for release, scopes, the sweep, metrics, reset and close. */
import { describe, expect, it } from "vitest";
import type { Store } from "../index.js";
import { HOUR, type StoreSuiteContext } from "./store-fixtures.js";
import { codeOf } from "./support.js";

export function lifecycleCases(suite: StoreSuiteContext): void {
  describe("release and scopes", () => {
    it("frees a blob as soon as nothing needs it", async () => {
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
      await store.stage(Buffer.from("1"), { scope: "chat" });
      await store.stage(Buffer.from("2"), { scope: "chat" });
      const kept = await store.stage(Buffer.from("2"), { scope: "other" });
      expect(await store.releaseScope("chat")).toBe(2);
      expect(await store.releaseScope("chat")).toBe(0);
      expect((await store.list()).map((a) => a.id)).toEqual([kept.id]);
      expect((await store.metrics()).blobs).toBe(1);
    });

    it("confines a scoped handle to its scope", async () => {
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const { store, clock } = await suite.setup();
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
      const { store, clock } = await suite.setup();
      expect(await store.metrics()).toEqual({
        attachments: 0, blobs: 0, scopes: 0, logicalBytes: 0, storedBytes: 0, dedupSavedBytes: 0,
        persistent: { count: 0, bytes: 0 }, expirable: { count: 0, bytes: 0 }, expired: { count: 0, bytes: 0 },
        leases: 0, nextExpiryAt: null, remote: { count: 0, bytes: 0, destinations: {} },
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
        remote: { count: 0, bytes: 0, destinations: {} },
      });
    });

    it("gives one scope's counts and bytes, and the largest scopes, through expiry, release and a sweep", async () => {
      const { store, clock } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const { store } = await suite.setup();
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
      const harness = await suite.harness();
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
