/**
 * `update(ref, { name, metadata, ttl, persist })` on both backend pairs: an
 * explicit change of one live attachment's display fields or lifetime,
 * without staging it again (DESIGN.md, "What agents hit first").
 */
import { describe, expect, it } from "vitest";
import { isAttacheError } from "../../src/index.js";
import { embeddedHarness, memoryHarness, TestClock, type StoreHarness } from "../support/fixtures.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

for (const makeHarness of [embeddedHarness, memoryHarness]) {
  describe(`update on ${makeHarness().name} backends`, () => {
    async function open(harness: StoreHarness = makeHarness()) {
      const clock = new TestClock();
      const store = await harness.open({ clock: clock.now, defaultTtl: "24h" });
      return { store, clock };
    }

    it("renames and replaces metadata, keeping the ref, the bytes and the lifetime", async () => {
      const { store, clock } = await open();
      const a = await store.stage(Buffer.from("%PDF- report"), { name: "draft.pdf", metadata: { v: 1, keep: "no" }, ttl: "2h" });
      clock.advance(MINUTE);
      const updated = await store.update(a.ref, { name: "../final report.pdf", metadata: { v: 2 } });
      expect(updated).toMatchObject({ ref: a.ref, name: "final report.pdf", metadata: { v: 2 }, checksum: a.checksum });
      expect(updated.expiresAt).toEqual(a.expiresAt);
      expect(updated.ttlMs).toBe(2 * HOUR);
      expect(updated.updatedAt.getTime()).toBe(clock.time);
      expect(await store.get(a.ref)).toEqual(updated);
      expect((await store.read(a.ref)).toString()).toBe("%PDF- report");
    });

    it("sets a lifetime counted from now, which may shorten it; persist switches it on and off", async () => {
      const { store, clock } = await open();
      const a = await store.stage(Buffer.from("photo"), { ttl: "7d" });
      clock.advance(HOUR);
      const shorter = await store.update(a.ref, { ttl: "30m" });
      expect(shorter.expiresAt?.getTime()).toBe(clock.time + 30 * MINUTE);
      expect(shorter.ttlMs).toBe(30 * MINUTE);
      const kept = await store.update(a.ref, { persist: true });
      expect(kept).toMatchObject({ persist: true, expiresAt: null, ttlMs: null });
      expect((await store.metrics()).persistent.count).toBe(1);
      clock.advance(HOUR);
      const unpinned = await store.update(a.ref, { persist: false });
      expect(unpinned).toMatchObject({ persist: false, ttlMs: 24 * HOUR });
      expect(unpinned.expiresAt?.getTime()).toBe(clock.time + 24 * HOUR);
      expect((await store.update(a.ref, { ttl: Infinity })).persist).toBe(true);
      const expiring = await store.update(a.ref, { ttl: "1m" });
      expect(expiring.persist).toBe(false);
      clock.advance(2 * MINUTE);
      await expect(store.get(a.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect((await store.sweep()).expired).toBe(1);
    });

    it("is confined to the scope of a scoped handle, and refuses what is not live", async () => {
      const { store, clock } = await open();
      const mine = await store.scope("chat:1").stage(Buffer.from("mine"));
      const other = store.scope("chat:2");
      await expect(other.update(mine.ref, { name: "stolen.txt" })).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect((await store.scope("chat:1").update(mine.ref, { name: "ok.txt" })).name).toBe("ok.txt");
      await store.release(mine.ref);
      await expect(store.update(mine.ref, { name: "late.txt" })).rejects.toMatchObject({ code: "NOT_FOUND" });
      const brief = await store.stage(Buffer.from("brief"), { ttl: "1m" });
      clock.advance(2 * MINUTE);
      // Expired is gone: update cannot revive it (staging it again can).
      await expect(store.update(brief.ref, { ttl: "1h" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    });

    it("refuses malformed changes with INVALID_ARGUMENT and changes nothing", async () => {
      const { store } = await open();
      const a = await store.stage(Buffer.from("x"), { name: "x.txt" });
      const bad: unknown[] = [
        null,
        "rename",
        { name: 42 },
        { ttl: -1 },
        { ttl: "soon" },
        { persist: "yes" },
        { persist: true, ttl: "1h" },
        { metadata: [1, 2] },
        { scope: "other" },
        { contentType: "text/html" },
      ];
      for (const changes of bad) {
        const err = await store.update(a.ref, changes as never).catch((e: unknown) => e);
        expect(isAttacheError(err, "INVALID_ARGUMENT"), `${JSON.stringify(changes)}: ${String(err)}`).toBe(true);
      }
      await expect(store.update("not a ref", { name: "y" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(await store.get(a.ref)).toEqual(await store.get(a.ref));
      expect((await store.get(a.ref)).name).toBe("x.txt");
    });

    it("survives a reopen", async () => {
      const harness = makeHarness();
      const { store } = await open(harness);
      const a = await store.stage(Buffer.from("kept"), { name: "a.txt" });
      await store.update(a.ref, { name: "b.txt", persist: true, metadata: { by: "update" } });
      await store.close();
      const again = await harness.open();
      expect(await again.get(a.ref)).toMatchObject({ name: "b.txt", persist: true, metadata: { by: "update" } });
    });
  });
}
