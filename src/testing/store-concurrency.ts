/**
 * The store suite's two-handle cases: two stores on the same backends (two
 * processes, or two hosts) staging, releasing and sweeping at the same
 * moment, many rounds over.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../index.js";
import type { StoreSuiteContext } from "./store-fixtures.js";
import { repeat, stagger } from "./support.js";

export function concurrencyCases(suite: StoreSuiteContext): void {
  describe("two stores at once", () => {
    it("two stores staging the same bytes in the same scope at once end with one attachment", async () => {
      const { store: a, harness, clock } = await suite.setup();
      const b = await harness.openSecond({ clock: clock.now });
      await repeat(suite.rounds, async (round) => {
        const bytes = Buffer.from(`round ${round}: staged twice at once. `.repeat(30));
        const scope = `scope-${round}`;
        const stage = async (store: Store, salt: number) => {
          await stagger(round, salt);
          return store.stage(bytes, { scope });
        };
        const [fromA, fromB] = await Promise.all([stage(a, 0), stage(b, 2)]);
        expect(fromB.id).toBe(fromA.id);
        for (const store of [a, b]) {
          expect((await store.list({ scope })).map((x) => x.id)).toEqual([fromA.id]);
          expect((await store.read(fromA.ref)).equals(bytes)).toBe(true);
        }
      });
      expect(await b.metrics()).toMatchObject({ attachments: suite.rounds, blobs: suite.rounds });
    });

    it("one store releasing and sweeping while another stages the same bytes: the new attachment always reads back verified", async () => {
      const { store: a, harness, clock } = await suite.setup();
      const b = await harness.openSecond({ clock: clock.now });
      const bytes = Buffer.from("bytes deleted by one store and staged again by the other. ".repeat(200));
      await repeat(suite.rounds, async (round) => {
        const released = await a.stage(bytes, { scope: "a" });
        const releaseAndSweep = async () => {
          await stagger(round, 0);
          expect(await a.release(released.ref)).toBe(true);
          await stagger(round, 1);
          await a.sweep();
        };
        const stageAgain = async () => {
          await stagger(round, 3);
          return b.stage(bytes, { scope: "b" });
        };
        const [, staged] = await Promise.all([releaseAndSweep(), stageAgain()]);
        expect((await b.read(staged.ref)).equals(bytes)).toBe(true);
        expect((await a.read(staged.ref)).equals(bytes)).toBe(true);
        // The blob store itself holds the bytes (not only a cached copy).
        expect(await b.verify()).toMatchObject({ blobsChecked: 1, corrupt: [], missing: [] });
        expect(await b.release(staged.ref)).toBe(true);
      });
      expect(await a.metrics()).toMatchObject({ attachments: 0, blobs: 0 });
    });

    it("two stores sweeping at once free each blob once: blobsDeleted summed over both is the number freed", async () => {
      const { store: a, harness, clock } = await suite.setup();
      const b = await harness.openSecond({ clock: clock.now });
      await repeat(Math.ceil(suite.rounds / 2), async (round) => {
        const blobs = [0, 1, 2, 3].map((k) => Buffer.from(`round ${round}: blob ${k} `.repeat(k + 1)));
        for (const bytes of blobs) await a.stage(bytes, { ttl: "1m" });
        // The same bytes twice: one blob freed by two expiries.
        await b.stage(blobs[0] as Buffer, { scope: "other", ttl: "1m" });
        clock.advance(2 * 60_000);
        const [byA, byB] = await Promise.all([a.sweep(), b.sweep()]);
        expect(byA.expired + byB.expired).toBe(5);
        expect(byA.blobsDeleted + byB.blobsDeleted).toBe(4);
        expect(byA.bytesFreed + byB.bytesFreed).toBe(blobs.reduce((sum, bytes) => sum + bytes.length, 0));
        expect(await b.metrics()).toMatchObject({ attachments: 0, blobs: 0 });
      });
      expect(await a.sweep()).toMatchObject({ expired: 0, blobsDeleted: 0 });
    });
  });
}
