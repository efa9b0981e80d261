/**
 * The manifest suite's concurrent cases: two handles on one backend (two
 * processes, or two hosts) calling at the same moment, many rounds over, so
 * that their calls meet in many orders. Each round checks what must hold in
 * every order.
 */
import { expect, it } from "vitest";
import { newId } from "../ids.js";
import type { Manifest } from "../backends/manifest.js";
import {
  GRACE, HOUR, T0, digestsOf, hex, intent, lease, registered, releasedBlob, stage, staged, type ManifestSuiteContext,
} from "./manifest-fixtures.js";
import { repeat, stagger } from "./support.js";

/** The ids of some records, sorted. */
const idsOf = (records: readonly { id: string }[]): string[] => records.map((r) => r.id).sort();

export function concurrencyCases(suite: ManifestSuiteContext): void {
  it("two handles committing the same scope and digest at once make one attachment, merged once, counted once", async () => {
    const { first: a, second } = await suite.open();
    const b = await second();
    await repeat(suite.rounds, async (round) => {
      const digest = hex(1000 + round);
      const scope = `scope-${round}`;
      const commit = async (m: Manifest, salt: number) => {
        const pin = intent({ digest, tempName: `${newId()}.tmp` });
        await stagger(round, salt);
        await m.pins.beginStage(pin, 10);
        await stagger(round, salt + 1);
        return m.attachments.commitStage(pin.id, staged({ scope, digest }));
      };
      const [fromA, fromB] = await Promise.all([commit(a, 0), commit(b, 2)]);
      expect([fromA.merged, fromB.merged].sort()).toEqual([false, true]);
      expect(fromA.record.id).toBe(fromB.record.id);
      for (const m of [a, b]) {
        expect(idsOf(await m.attachments.list({ scope, limit: 10, includeExpired: true, now: T0 }))).toEqual([fromA.record.id]);
        expect(await m.blobs.get(digest)).toMatchObject({ refs: 1, condemnedBy: null });
      }
    });
    expect(await a.pins.intentTempNames()).toEqual(new Set());
    expect(await b.pins.staleIntents(T0 + HOUR, newId(), 10)).toEqual([]);
  });

  it("the fence on one handle and a stage on the other never forget the row the stage needs", async () => {
    const { first: a, second } = await suite.open();
    const b = await second();
    const deleter = await registered(a, T0);
    const stager = await registered(b, T0);
    await repeat(suite.rounds, async (round) => {
      const digest = hex(2000 + round);
      await releasedBlob(a, digest);
      const pin = intent({ digest, tempName: `${newId()}.tmp`, writer: stager });
      const fence = async () => {
        await stagger(round, 0);
        const condemned = await a.blobs.condemn([digest], T0, deleter);
        await stagger(round, 1); // the bytes are deleted here
        const forgotten = condemned.length === 0 ? [] : await a.blobs.forget([digest], deleter, T0);
        return { condemned, forgotten };
      };
      const begin = async () => {
        await stagger(round, 3);
        return b.pins.beginStage(pin, 10);
      };
      const [{ condemned, forgotten }, began] = await Promise.all([fence(), begin()]);
      if (began === "condemned") {
        // The stage met the condemnation: forget saw its intent and revived the row.
        expect(condemned).toHaveLength(1);
        expect(forgotten).toEqual([]);
      } else {
        // The stage came first (condemn skipped the blob), or after forget (it wrote a fresh row).
        expect(forgotten.length).toBe(condemned.length);
      }
      // In every order: while the intent exists the row is there, not condemned, and nobody may condemn it.
      for (const m of [a, b]) expect(await m.blobs.get(digest)).toMatchObject({ condemnedBy: null });
      expect(await a.blobs.condemn([digest], T0, deleter)).toEqual([]);
      await b.attachments.commitStage(pin.id, staged({ digest, scope: `scope-${round}` }));
      expect(await a.blobs.get(digest)).toMatchObject({ refs: 1, condemnedBy: null });
    });
  });

  it("two sweepers condemning the same unreferenced blobs at once: each blob is condemned by exactly one", async () => {
    const { first: a, second } = await suite.open();
    const b = await second();
    const [wa, wb] = [newId(), newId()];
    await repeat(suite.rounds, async (round) => {
      const digests = [0, 1, 2, 3].map((k) => hex(3000 + round * 4 + k));
      for (const digest of digests) await releasedBlob(a, digest);
      const sweep = async (m: Manifest, w: string, salt: number) => {
        await stagger(round, salt);
        const candidates = await m.blobs.unreferenced(null, 100);
        await stagger(round, salt + 1);
        return m.blobs.condemn(candidates.map((blob) => blob.digest), T0, w);
      };
      const [byA, byB] = await Promise.all([sweep(a, wa, 0), sweep(b, wb, 2)]);
      expect([...digestsOf(byA), ...digestsOf(byB)].sort()).toEqual(digests);
      for (const [condemned, w] of [[byA, wa], [byB, wb]] as const) {
        for (const blob of condemned) expect(await b.blobs.get(blob.digest)).toMatchObject({ condemnedBy: w });
      }
      expect(digestsOf(await a.blobs.forget(digestsOf(byA), wa, T0))).toEqual(digestsOf(byA));
      expect(digestsOf(await b.blobs.forget(digestsOf(byB), wb, T0))).toEqual(digestsOf(byB));
    });
    expect(await a.blobs.list(null, 10)).toEqual([]);
  });

  it("two sweepers taking over a dead writer's condemnations at once: each is taken by exactly one", async () => {
    const { first: a, second } = await suite.open();
    const b = await second();
    const now = T0 + HOUR;
    const staleBefore = now - GRACE;
    const dead = await registered(a, staleBefore);
    const wa = await registered(a, now);
    const wb = await registered(b, now);
    await repeat(suite.rounds, async (round) => {
      const digests = [0, 1, 2, 3].map((k) => hex(4000 + round * 4 + k));
      for (const digest of digests) await releasedBlob(a, digest);
      expect(await a.blobs.condemn(digests, now, dead)).toHaveLength(4);
      const claim = async (m: Manifest, w: string, salt: number) => {
        await stagger(round, salt);
        return m.blobs.claimAbandoned(staleBefore, w, 100);
      };
      const [byA, byB] = await Promise.all([claim(a, wa, 0), claim(b, wb, 2)]);
      expect([...digestsOf(byA), ...digestsOf(byB)].sort()).toEqual(digests);
      for (const [claimed, w] of [[byA, wa], [byB, wb]] as const) {
        for (const blob of claimed) expect(await a.blobs.get(blob.digest)).toMatchObject({ condemnedBy: w });
      }
      await a.blobs.forget(digestsOf(byA), wa, now);
      await b.blobs.forget(digestsOf(byB), wb, now);
    });
    expect(await b.blobs.list(null, 10)).toEqual([]);
  });

  it("two sweepers expiring attachments and reclaiming leases at once: each row is returned by exactly one", async () => {
    const { first: a, second } = await suite.open();
    const b = await second();
    await repeat(suite.rounds, async (round) => {
      const now = T0 + round * 100;
      const due = now + 10;
      const expiring = [];
      for (let k = 0; k < 4; k++) {
        const digest = hex(5000 + round * 4 + k);
        expiring.push((await stage(a, { digest, scope: `scope-${round}`, ttlMs: 5 + k, now })).record);
      }
      const holder = (await stage(a, { digest: hex(6000 + round), persist: true, now })).record;
      const leases = [0, 1, 2, 3].map((k) => lease(holder.id, { digest: holder.digest, createdAt: now, expiresAt: now + 5 + k }));
      for (const pin of leases) await a.pins.addLease(pin, undefined, now);

      const sweep = async (m: Manifest, salt: number) => {
        await stagger(round, salt);
        const expired = await m.attachments.expireDue(due, 100);
        const reclaimed = await m.pins.reclaimLeases(due, 100);
        return { expired, reclaimed };
      };
      const [byA, byB] = await Promise.all([sweep(a, 0), sweep(b, 2)]);
      expect([...idsOf(byA.expired), ...idsOf(byB.expired)].sort()).toEqual(idsOf(expiring));
      expect([...idsOf(byA.reclaimed), ...idsOf(byB.reclaimed)].sort()).toEqual(idsOf(leases));
      // Each expiry counted its blob out once.
      for (const record of expiring) expect(await b.blobs.get(record.digest)).toMatchObject({ refs: 0 });
      expect(await a.blobs.get(holder.digest)).toMatchObject({ refs: 1 });
      expect((await a.metrics(due)).leases).toBe(0);
    });
  });
}
