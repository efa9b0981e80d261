/** What every Manifest must do. Backend test files call `describeManifest` with a factory. */
import { describe, expect, it } from "vitest";
import type { Manifest, StagedAttachment } from "../../src/index.js";

const T0 = 1_000_000;
const HOUR = 3_600_000;
let counter = 0;
const hex = (n: number) => n.toString(16).padStart(64, "0");
const id = () => `01m7yjjjy8${(counter++).toString(32).padStart(16, "0")}`;

function staged(overrides: Partial<StagedAttachment> = {}): StagedAttachment {
  return {
    id: id(), scope: "s", digest: hex(1), size: 10, name: "n", contentType: "text/plain", mode: "copy",
    referencePath: null, persist: false, ttlMs: HOUR, now: T0, source: null, metadata: {}, ...overrides,
  };
}

async function stage(m: Manifest, overrides: Partial<StagedAttachment> = {}) {
  const s = staged(overrides);
  const intentId = id();
  if (s.referencePath === null) await m.beginStage({ id: intentId, digest: s.digest, tempName: "t.tmp", createdAt: s.now }, s.size);
  return m.commitStage(s.referencePath === null ? intentId : null, s);
}

export function describeManifest(name: string, make: () => Promise<Manifest>): void {
  describe(`Manifest conformance: ${name}`, () => {
    it("records a stage: intent first, then the attachment and a referenced blob", async () => {
      const m = await make();
      await m.beginStage({ id: "intent1", digest: hex(1), tempName: "a.tmp", createdAt: T0 }, 10);
      expect(await m.intentTempNames()).toEqual(new Set(["a.tmp"]));
      expect(await m.getBlob(hex(1))).toEqual({ digest: hex(1), size: 10, refs: 0, createdAt: T0 });
      const { record, merged } = await m.commitStage("intent1", staged());
      expect(merged).toBe(false);
      expect(await m.getAttachment(record.id)).toEqual(record);
      expect(record).toMatchObject({ expiresAt: T0 + HOUR, ttlMs: HOUR, persist: false, createdAt: T0, updatedAt: T0 });
      expect((await m.getBlob(hex(1)))?.refs).toBe(1);
      expect(await m.intentTempNames()).toEqual(new Set());
      expect(await m.staleIntents(T0 + HOUR, 10)).toEqual([]);
    });

    it("refuses to commit a stage whose intent a sweep reclaimed", async () => {
      const m = await make();
      await m.beginStage({ id: "slow", digest: hex(1), tempName: "s.tmp", createdAt: T0 }, 10);
      await m.abandonStage("slow");
      await expect(m.commitStage("slow", staged())).rejects.toMatchObject({ code: "IO_ERROR" });
      expect(await m.listAttachments({ limit: Infinity, includeExpired: true, now: T0 })).toEqual([]);
    });

    it("merges a second staging of the same bytes in the same scope", async () => {
      const m = await make();
      const first = await stage(m, { name: "first" });
      const second = await stage(m, { name: "second", ttlMs: 2 * HOUR, now: T0 + 5 });
      expect(second.merged).toBe(true);
      expect(second.record).toMatchObject({ id: first.record.id, name: "first", expiresAt: T0 + 5 + 2 * HOUR, updatedAt: T0 + 5 });
      expect((await m.getBlob(hex(1)))?.refs).toBe(1);
      const other = await stage(m, { scope: "other" });
      expect(other.merged).toBe(false);
      expect((await m.getBlob(hex(1)))?.refs).toBe(2);
    });

    it("counts no blob reference for reference mode, and one once a managed stage upgrades it", async () => {
      const m = await make();
      const ref = await stage(m, { mode: "reference", referencePath: "/outside/file" });
      expect(await m.getBlob(hex(1))).toBeUndefined();
      expect(await m.listReferences(null, 10)).toEqual([ref.record]);
      const upgraded = await stage(m, { mode: "copy" });
      expect(upgraded.record).toMatchObject({ id: ref.record.id, mode: "copy", referencePath: null });
      expect((await m.getBlob(hex(1)))?.refs).toBe(1);
      expect(await m.listReferences(null, 10)).toEqual([]);
    });

    it("lists by id with cursor, scope and expiry filters", async () => {
      const m = await make();
      const a = await stage(m, { digest: hex(1), scope: "x" });
      const b = await stage(m, { digest: hex(2), scope: "y", ttlMs: 1 });
      const c = await stage(m, { digest: hex(3), scope: "x" });
      const all = { limit: Infinity, includeExpired: false, now: T0 };
      expect((await m.listAttachments(all)).map((r) => r.id)).toEqual([a, b, c].map((r) => r.record.id));
      expect((await m.listAttachments({ ...all, now: T0 + 1 })).map((r) => r.id)).toEqual([a, c].map((r) => r.record.id));
      expect((await m.listAttachments({ ...all, now: T0 + 1, includeExpired: true })).length).toBe(3);
      expect((await m.listAttachments({ ...all, scope: "x", afterId: a.record.id })).map((r) => r.id)).toEqual([c.record.id]);
      expect((await m.listAttachments({ ...all, limit: 1 })).map((r) => r.id)).toEqual([a.record.id]);
    });

    it("releases only live attachments, of the given scope", async () => {
      const m = await make();
      const a = await stage(m, { scope: "x" });
      expect(await m.releaseAttachment(a.record.id, "y", T0)).toBeUndefined();
      expect(await m.releaseAttachment(a.record.id, undefined, T0 + HOUR)).toBeUndefined();
      expect((await m.releaseAttachment(a.record.id, "x", T0))?.id).toBe(a.record.id);
      expect(await m.releaseAttachment(a.record.id, "x", T0)).toBeUndefined();
      expect((await m.getBlob(hex(1)))?.refs).toBe(0);
      await stage(m, { scope: "z", digest: hex(2) });
      await stage(m, { scope: "z", digest: hex(3), ttlMs: 1 });
      expect((await m.releaseScope("z", T0 + 1)).map((r) => r.digest)).toEqual([hex(2)]);
    });

    it("leases only live attachments", async () => {
      const m = await make();
      const a = await stage(m, { scope: "x" });
      const lease = { id: "lease1", attachmentId: a.record.id, digest: hex(1), createdAt: T0, expiresAt: T0 + 10 };
      expect(await m.addLease(lease, "other", T0)).toBeUndefined();
      expect(await m.addLease(lease, "x", T0 + HOUR)).toBeUndefined();
      expect((await m.addLease(lease, "x", T0))?.id).toBe(a.record.id);
      expect((await m.metrics(T0)).leases).toBe(1);
      expect(await m.removeLease("lease1")).toEqual(lease);
      expect(await m.removeLease("lease1")).toBeUndefined();
    });

    it("expires due attachments earliest first, in batches", async () => {
      const m = await make();
      await stage(m, { digest: hex(1), ttlMs: 30 });
      await stage(m, { digest: hex(2), ttlMs: 10 });
      await stage(m, { digest: hex(3), ttlMs: 20 });
      await stage(m, { digest: hex(4), persist: true });
      expect(await m.expireDue(T0 + 5, 10)).toEqual([]);
      expect((await m.expireDue(T0 + 30, 2)).map((r) => r.digest)).toEqual([hex(2), hex(3)]);
      expect((await m.expireDue(T0 + 30, 2)).map((r) => r.digest)).toEqual([hex(1)]);
      expect((await m.unreferencedBlobs(null, 10)).map((b) => b.digest)).toEqual([hex(1), hex(2), hex(3)]);
      expect((await m.unreferencedBlobs(hex(1), 1)).map((b) => b.digest)).toEqual([hex(2)]);
    });

    it("deletes a blob only when no attachment, intent or lease needs it", async () => {
      const m = await make();
      const a = await stage(m);
      let removed = 0;
      const remove = async () => void removed++;
      expect(await m.deleteBlobIfUnneeded(hex(1), T0, remove)).toBeUndefined();
      await m.addLease({ id: "l", attachmentId: a.record.id, digest: hex(1), createdAt: T0, expiresAt: T0 + 100 }, undefined, T0);
      await m.releaseAttachment(a.record.id, undefined, T0);
      expect(await m.deleteBlobIfUnneeded(hex(1), T0, remove)).toBeUndefined();
      await m.beginStage({ id: "i", digest: hex(1), tempName: null, createdAt: T0 }, 10);
      expect(await m.deleteBlobIfUnneeded(hex(1), T0 + 100, remove)).toBeUndefined();
      await m.abandonStage("i");
      expect(removed).toBe(0);
      await expect(m.deleteBlobIfUnneeded(hex(1), T0 + 100, async () => { throw new Error("EIO"); })).rejects.toThrow();
      expect(await m.getBlob(hex(1))).toBeDefined();
      expect(await m.deleteBlobIfUnneeded(hex(1), T0 + 100, remove)).toMatchObject({ digest: hex(1) });
      expect(removed).toBe(1);
      expect(await m.getBlob(hex(1))).toBeUndefined();
      expect(await m.deleteBlobIfUnneeded(hex(1), T0 + 100, remove)).toBeUndefined();
    });

    it("removes bytes left under a digest that has no row, unless an intent or lease needs them", async () => {
      const m = await make();
      let removed = 0;
      const remove = async () => void removed++;
      await m.beginStage({ id: "i", digest: hex(7), tempName: null, createdAt: T0 }, 10);
      await m.reset(); // drops the intent under the stage; the blob row stays until the fence removes it
      expect(await m.deleteBlobIfUnneeded(hex(7), T0, remove)).toMatchObject({ digest: hex(7) });
      // The stage then renames its bytes into place and fails to commit: no row, nothing needs them.
      expect(await m.deleteBlobIfUnneeded(hex(7), T0, remove)).toBeUndefined();
      expect(removed).toBe(2);
      await m.beginStage({ id: "j", digest: hex(8), tempName: null, createdAt: T0 }, 10);
      await m.abandonStage("j");
      await m.beginStage({ id: "k", digest: hex(8), tempName: null, createdAt: T0 }, 10);
      expect(await m.deleteBlobIfUnneeded(hex(8), T0, remove)).toBeUndefined();
      expect(removed).toBe(2);
    });

    it("swaps a blob's file under the fence only while its row exists, serialised with a deletion", async () => {
      const m = await make();
      const a = await stage(m);
      const events: string[] = [];
      expect(await m.whileBlobKept(hex(1), async () => void events.push("swap while kept"))).toBe(true);
      await m.releaseAttachment(a.record.id, undefined, T0);
      // A deletion and a swap started together: whichever runs first, a deleted blob is never swapped back.
      const deletion = m.deleteBlobIfUnneeded(hex(1), T0, async () => void events.push("delete"));
      const swap = m.whileBlobKept(hex(1), async () => void events.push("swap after delete"));
      expect(await deletion).toMatchObject({ digest: hex(1) });
      expect(await swap).toBe(false);
      expect(events).toEqual(["swap while kept", "delete"]);
      expect(await m.whileBlobKept(hex(9), async () => void events.push("unknown"))).toBe(false);
    });

    it("serialises a stage of the same bytes behind a deletion in progress", async () => {
      const m = await make();
      const a = await stage(m);
      await m.releaseAttachment(a.record.id, undefined, T0);
      const events: string[] = [];
      let finishRemoval!: () => void;
      const removal = m.deleteBlobIfUnneeded(hex(1), T0, async () => {
        events.push("removing");
        await new Promise<void>((resolve) => (finishRemoval = resolve));
        events.push("removed");
      });
      while (events.length === 0) await new Promise((r) => setImmediate(r));
      const restage = m.beginStage({ id: "again", digest: hex(1), tempName: "b.tmp", createdAt: T0 }, 10).then(() => events.push("intent"));
      await new Promise((r) => setTimeout(r, 20));
      expect(events).toEqual(["removing"]);
      finishRemoval();
      await removal;
      await restage;
      expect(events).toEqual(["removing", "removed", "intent"]);
      expect(await m.getBlob(hex(1))).toMatchObject({ refs: 0 });
      expect(await m.deleteBlobIfUnneeded(hex(1), T0, async () => undefined)).toBeUndefined();
    });

    it("finds stale intents and stale leases by age", async () => {
      const m = await make();
      await m.beginStage({ id: "old", digest: hex(1), tempName: "old.tmp", createdAt: T0 }, 1);
      await m.beginStage({ id: "new", digest: hex(2), tempName: null, createdAt: T0 + 100 }, 1);
      expect((await m.staleIntents(T0 + 50, 10)).map((i) => i.id)).toEqual(["old"]);
      const a = await stage(m, { digest: hex(3) });
      await m.addLease({ id: "l1", attachmentId: a.record.id, digest: hex(3), createdAt: T0, expiresAt: T0 + 10 }, undefined, T0);
      await m.addLease({ id: "l2", attachmentId: a.record.id, digest: hex(3), createdAt: T0, expiresAt: T0 + 90 }, undefined, T0);
      expect((await m.reclaimLeases(T0 + 50, 10)).map((l) => l.id)).toEqual(["l1"]);
      expect((await m.metrics(T0)).leases).toBe(1);
    });

    it("drops the attachments of a damaged blob, and single attachments", async () => {
      const m = await make();
      const a = await stage(m, { scope: "a" });
      await stage(m, { scope: "b" });
      const ref = await stage(m, { scope: "c", mode: "reference", referencePath: "/x" });
      expect((await m.dropAttachmentsOfBlob(hex(1))).length).toBe(2);
      expect(await m.getAttachment(a.record.id)).toBeUndefined();
      expect((await m.getBlob(hex(1)))?.refs).toBe(0);
      expect((await m.dropAttachment(ref.record.id))?.id).toBe(ref.record.id);
      expect(await m.dropAttachment(ref.record.id)).toBeUndefined();
    });

    it("repairs a damaged blob only when no stage is in flight and the recheck still holds", async () => {
      const m = await make();
      const a = await stage(m, { scope: "a" });
      const b = await stage(m, { scope: "b" });
      const ref = await stage(m, { scope: "c", mode: "reference", referencePath: "/x" });
      let removed = 0;
      const remove = async () => void removed++;
      // The blob changed since verify looked (a release and a fresh stage): nothing happens.
      expect(await m.repairBlob(hex(1), T0, async () => false, remove)).toBeUndefined();
      // A stage of the same bytes is in flight: it may be rewriting them, so nothing happens, whatever the recheck says.
      await m.beginStage({ id: "inflight", digest: hex(1), tempName: "r.tmp", createdAt: T0 }, 10);
      expect(await m.repairBlob(hex(1), T0, async () => true, remove)).toBeUndefined();
      await m.abandonStage("inflight");
      expect(removed).toBe(0);
      expect((await m.getBlob(hex(1)))?.refs).toBe(2);
      // A failed removal changes nothing.
      await expect(m.repairBlob(hex(1), T0, async () => true, async () => { throw new Error("EIO"); })).rejects.toThrow();
      expect((await m.getAttachment(a.record.id))?.id).toBe(a.record.id);
      expect((await m.getBlob(hex(1)))?.refs).toBe(2);

      const repaired = await m.repairBlob(hex(1), T0, async () => true, remove);
      expect(repaired?.dropped.map((r) => r.id).sort()).toEqual([a.record.id, b.record.id].sort());
      expect(repaired?.deletedBlob).toMatchObject({ digest: hex(1), size: 10 });
      expect(removed).toBe(1);
      expect(await m.getAttachment(a.record.id)).toBeUndefined();
      expect(await m.getBlob(hex(1))).toBeUndefined();
      // Reference attachments of the same digest have their own file: not this repair's business.
      expect((await m.getAttachment(ref.record.id))?.id).toBe(ref.record.id);
      // No row left: nothing to drop, only the bytes go.
      expect(await m.repairBlob(hex(1), T0, async () => true, remove)).toEqual({ dropped: [], deletedBlob: undefined });
      expect(removed).toBe(2);
    });

    it("repairs a leased blob's attachments and bytes but keeps its row until the lease ends", async () => {
      const m = await make();
      const a = await stage(m);
      await m.addLease({ id: "l", attachmentId: a.record.id, digest: hex(1), createdAt: T0, expiresAt: T0 + 100 }, undefined, T0);
      let removed = 0;
      const repaired = await m.repairBlob(hex(1), T0, async () => true, async () => void removed++);
      expect(repaired?.dropped.map((r) => r.id)).toEqual([a.record.id]);
      expect(repaired?.deletedBlob).toBeUndefined();
      expect(removed).toBe(1);
      expect(await m.getBlob(hex(1))).toMatchObject({ refs: 0 });
      expect(await m.deleteBlobIfUnneeded(hex(1), T0 + 100, async () => undefined)).toMatchObject({ digest: hex(1) });
    });

    it("runs the repair's recheck inside the fence: a stage of the same bytes waits for it", async () => {
      const m = await make();
      await stage(m);
      const events: string[] = [];
      let finishRecheck!: () => void;
      const repair = m.repairBlob(hex(1), T0, async () => {
        events.push("rechecking");
        // The recheck may read the manifest while the fence is held.
        events.push(`refs ${(await m.getBlob(hex(1)))?.refs}`);
        await new Promise<void>((resolve) => (finishRecheck = resolve));
        events.push("rechecked");
        return true;
      }, async () => void events.push("removed"));
      while (!events.includes("refs 1")) await new Promise((r) => setImmediate(r));
      const restage = m.beginStage({ id: "again", digest: hex(1), tempName: "b.tmp", createdAt: T0 }, 10).then(() => events.push("intent"));
      await new Promise((r) => setTimeout(r, 20));
      expect(events).toEqual(["rechecking", "refs 1"]);
      finishRecheck();
      expect((await repair)?.dropped).toHaveLength(1);
      await restage;
      expect(events).toEqual(["rechecking", "refs 1", "rechecked", "removed", "intent"]);
      expect(await m.getBlob(hex(1))).toMatchObject({ refs: 0 });
    });

    it("finds nothing wrong with a sound manifest", async () => {
      const m = await make();
      await stage(m);
      expect(await m.checkIntegrity()).toEqual([]);
    });

    it("computes metrics and resets", async () => {
      const m = await make();
      await stage(m, { scope: "a", size: 4, digest: hex(1), persist: true });
      await stage(m, { scope: "b", size: 4, digest: hex(1) });
      await stage(m, { scope: "b", size: 2, digest: hex(2), ttlMs: 1 });
      const metrics = await m.metrics(T0 + 1);
      expect(metrics).toEqual({
        attachments: 2, scopes: 2, logicalBytes: 8, distinctLiveBytes: 4, blobs: 2, storedBytes: 6,
        persistent: { count: 1, bytes: 4 }, expirable: { count: 1, bytes: 4 }, expired: { count: 1, bytes: 2 },
        leases: 0, nextExpiryAt: T0 + HOUR,
      });
      expect((await m.listBlobs(null, 10)).map((b) => b.digest)).toEqual([hex(1), hex(2)]);
      await m.reset();
      expect((await m.metrics(T0)).attachments).toBe(0);
      // Blob rows stay, unreferenced, until the store has deleted their files through the fence.
      expect((await m.listBlobs(null, 10)).every((b) => b.refs === 0)).toBe(true);
    });

    it("computes one scope's metrics and the largest scopes, live bytes first", async () => {
      const m = await make();
      const none = { count: 0, bytes: 0 };
      const empty = (scope: string) => ({
        scope, attachments: 0, logicalBytes: 0, persistent: none, expirable: none, expired: none, leases: 0, nextExpiryAt: null,
      });
      expect(await m.scopeMetrics("a", T0)).toEqual(empty("a"));
      expect(await m.largestScopes(10, T0)).toEqual([]);
      await stage(m, { scope: "a", size: 4, digest: hex(1), persist: true });
      await stage(m, { scope: "a", size: 3, digest: hex(3), ttlMs: HOUR });
      const b = await stage(m, { scope: "b", size: 4, digest: hex(1), ttlMs: 2 * HOUR });
      await stage(m, { scope: "b", size: 2, digest: hex(2), ttlMs: 1 });
      await stage(m, { scope: "c", size: 5, digest: hex(4), ttlMs: 1 });
      await stage(m, { scope: "e", size: 5, digest: hex(5), persist: true });
      await stage(m, { scope: "0", size: 4, digest: hex(6), persist: true });
      await stage(m, { scope: "d", size: 1, digest: hex(7), ttlMs: 3 * HOUR });
      await m.addLease({ id: "l1", attachmentId: b.record.id, digest: hex(1), createdAt: T0, expiresAt: T0 + HOUR }, "b", T0);
      await m.addLease({ id: "l2", attachmentId: b.record.id, digest: hex(1), createdAt: T0, expiresAt: T0 + 1 }, "b", T0);

      const now = T0 + 1;
      const a = {
        scope: "a", attachments: 2, logicalBytes: 7, persistent: { count: 1, bytes: 4 }, expirable: { count: 1, bytes: 3 },
        expired: none, leases: 0, nextExpiryAt: T0 + HOUR,
      };
      const bMetrics = {
        scope: "b", attachments: 1, logicalBytes: 4, persistent: none, expirable: { count: 1, bytes: 4 },
        expired: { count: 1, bytes: 2 }, leases: 1, nextExpiryAt: T0 + 2 * HOUR,
      };
      const e = { ...empty("e"), attachments: 1, logicalBytes: 5, persistent: { count: 1, bytes: 5 } };
      const zero = { ...empty("0"), attachments: 1, logicalBytes: 4, persistent: { count: 1, bytes: 4 } };
      const d = { ...empty("d"), attachments: 1, logicalBytes: 1, expirable: { count: 1, bytes: 1 }, nextExpiryAt: T0 + 3 * HOUR };
      expect(await m.scopeMetrics("a", now)).toEqual(a);
      expect(await m.scopeMetrics("b", now)).toEqual(bMetrics);
      expect(await m.scopeMetrics("c", now)).toEqual({ ...empty("c"), expired: { count: 1, bytes: 5 } });
      expect(await m.scopeMetrics("nope", now)).toEqual(empty("nope"));
      // b holds 6 bytes but 2 of them expired: it ranks after e (5) and, on a tie of live bytes, after "0".
      // c holds nothing live and is left out.
      expect(await m.largestScopes(10, now)).toEqual([a, e, zero, bMetrics, d]);
      expect(await m.largestScopes(2, now)).toEqual([a, e]);
      expect(await m.largestScopes(4, now)).toEqual([a, e, zero, bMetrics]);

      // Later a's expirable attachment expires too; a merge that persists b's bytes moves them to persistent.
      await stage(m, { scope: "b", size: 4, digest: hex(1), persist: true, now: T0 + 2 });
      const later = T0 + HOUR;
      expect(await m.scopeMetrics("a", later)).toEqual({ ...a, attachments: 1, logicalBytes: 4, expirable: none, expired: { count: 1, bytes: 3 }, nextExpiryAt: null });
      expect(await m.scopeMetrics("b", later)).toEqual({
        ...bMetrics, persistent: { count: 1, bytes: 4 }, expirable: none, leases: 0, nextExpiryAt: null,
      });

      // Release and expiry take rows out of the totals.
      expect(await m.releaseScope("a", later)).toHaveLength(1);
      expect(await m.scopeMetrics("a", later)).toEqual({ ...empty("a"), expired: { count: 1, bytes: 3 } });
      expect(await m.expireDue(later, 100)).toHaveLength(3);
      expect(await m.scopeMetrics("a", later)).toEqual(empty("a"));
      expect(await m.scopeMetrics("b", later)).toEqual({ ...empty("b"), attachments: 1, logicalBytes: 4, persistent: { count: 1, bytes: 4 } });
      expect(await m.scopeMetrics("c", later)).toEqual(empty("c"));
      expect((await m.largestScopes(10, later)).map((s) => [s.scope, s.logicalBytes])).toEqual([["e", 5], ["0", 4], ["b", 4], ["d", 1]]);
      await m.reset();
      expect(await m.scopeMetrics("e", later)).toEqual(empty("e"));
      expect(await m.largestScopes(10, later)).toEqual([]);
    });
  });
}
