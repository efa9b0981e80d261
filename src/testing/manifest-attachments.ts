/** The manifest suite's cases for the attachments room: stages, merges, listing, release, expiry, metrics. */
import { expect, it } from "vitest";
import { newId } from "../ids.js";
import { HOUR, T0, hex, intent, lease, stage, staged, type ManifestSuiteContext } from "./manifest-fixtures.js";

export function attachmentCases(suite: ManifestSuiteContext): void {
  it("records a stage: intent first, then the attachment and a referenced blob", async () => {
    const { first: m } = await suite.open();
    await m.pins.beginStage(intent({ id: "intent1", tempName: "a.tmp" }), 10);
    expect(await m.pins.intentTempNames()).toEqual(new Set(["a.tmp"]));
    expect(await m.blobs.get(hex(1))).toEqual({ digest: hex(1), size: 10, refs: 0, createdAt: T0, condemnedBy: null });
    const { record, merged } = await m.attachments.commitStage("intent1", staged());
    expect(merged).toBe(false);
    expect(await m.attachments.get(record.id)).toEqual(record);
    expect(record).toMatchObject({ expiresAt: T0 + HOUR, ttlMs: HOUR, persist: false, createdAt: T0, updatedAt: T0 });
    expect((await m.blobs.get(hex(1)))?.refs).toBe(1);
    expect(await m.pins.intentTempNames()).toEqual(new Set());
    expect(await m.pins.staleIntents(T0 + HOUR, newId(), 10)).toEqual([]);
  });

  it("refuses to commit a stage whose intent a sweep reclaimed", async () => {
    const { first: m } = await suite.open();
    await m.pins.beginStage(intent({ id: "slow", tempName: "s.tmp" }), 10);
    await m.pins.dropIntent("slow");
    await expect(m.attachments.commitStage("slow", staged())).rejects.toMatchObject({ code: "IO_ERROR" });
    expect(await m.attachments.list({ limit: Infinity, includeExpired: true, now: T0 })).toEqual([]);
  });

  it("merges a second staging of the same bytes in the same scope", async () => {
    const { first: m } = await suite.open();
    const first = await stage(m, { name: "first" });
    const second = await stage(m, { name: "second", ttlMs: 2 * HOUR, now: T0 + 5 });
    expect(second.merged).toBe(true);
    expect(second.record).toMatchObject({ id: first.record.id, name: "first", expiresAt: T0 + 5 + 2 * HOUR, updatedAt: T0 + 5 });
    expect((await m.blobs.get(hex(1)))?.refs).toBe(1);
    const other = await stage(m, { scope: "other" });
    expect(other.merged).toBe(false);
    expect((await m.blobs.get(hex(1)))?.refs).toBe(2);
  });

  it("counts no blob reference for reference mode, and one once a managed stage upgrades it", async () => {
    const { first: m } = await suite.open();
    const ref = await stage(m, { mode: "reference", referencePath: "/outside/file" });
    expect(await m.blobs.get(hex(1))).toBeUndefined();
    expect(await m.attachments.listReferences(null, 10)).toEqual([ref.record]);
    const upgraded = await stage(m, { mode: "copy" });
    expect(upgraded.record).toMatchObject({ id: ref.record.id, mode: "copy", referencePath: null });
    expect((await m.blobs.get(hex(1)))?.refs).toBe(1);
    expect(await m.attachments.listReferences(null, 10)).toEqual([]);
  });

  it("lists by id with cursor, scope and expiry filters", async () => {
    const { first: m } = await suite.open();
    const a = await stage(m, { digest: hex(1), scope: "x" });
    const b = await stage(m, { digest: hex(2), scope: "y", ttlMs: 1 });
    const c = await stage(m, { digest: hex(3), scope: "x" });
    const all = { limit: Infinity, includeExpired: false, now: T0 };
    const ids = (records: { id: string }[]) => records.map((r) => r.id);
    expect(ids(await m.attachments.list(all))).toEqual(ids([a, b, c].map((r) => r.record)));
    expect(ids(await m.attachments.list({ ...all, now: T0 + 1 }))).toEqual(ids([a, c].map((r) => r.record)));
    expect((await m.attachments.list({ ...all, now: T0 + 1, includeExpired: true })).length).toBe(3);
    expect(ids(await m.attachments.list({ ...all, scope: "x", afterId: a.record.id }))).toEqual([c.record.id]);
    expect(ids(await m.attachments.list({ ...all, limit: 1 }))).toEqual([a.record.id]);
  });

  it("updates only live attachments, of the given scope", async () => {
    const { first: m } = await suite.open();
    const a = await stage(m, { scope: "x", name: "old", metadata: { v: 1 } });
    expect(await m.attachments.update(a.record.id, "y", { name: "new" }, T0)).toBeUndefined();
    expect(await m.attachments.update(a.record.id, undefined, { name: "new" }, T0 + HOUR)).toBeUndefined();
    const renamed = await m.attachments.update(a.record.id, "x", { name: "new", metadata: { v: 2 } }, T0 + 5);
    expect(renamed).toMatchObject({ id: a.record.id, name: "new", metadata: { v: 2 }, updatedAt: T0 + 5, expiresAt: T0 + HOUR });
    const persisted = await m.attachments.update(a.record.id, undefined, { lifetime: { ttlMs: null } }, T0 + 6);
    expect(persisted).toMatchObject({ persist: true, ttlMs: null, expiresAt: null, name: "new" });
    const shortened = await m.attachments.update(a.record.id, "x", { lifetime: { ttlMs: 10 } }, T0 + 7);
    expect(shortened).toMatchObject({ persist: false, ttlMs: 10, expiresAt: T0 + 17 });
    expect(await m.attachments.get(a.record.id)).toEqual(shortened);
  });

  it("releases only live attachments, of the given scope", async () => {
    const { first: m } = await suite.open();
    const a = await stage(m, { scope: "x" });
    expect(await m.attachments.release(a.record.id, "y", T0)).toBeUndefined();
    expect(await m.attachments.release(a.record.id, undefined, T0 + HOUR)).toBeUndefined();
    expect((await m.attachments.release(a.record.id, "x", T0))?.id).toBe(a.record.id);
    expect(await m.attachments.release(a.record.id, "x", T0)).toBeUndefined();
    expect((await m.blobs.get(hex(1)))?.refs).toBe(0);
    await stage(m, { scope: "z", digest: hex(2) });
    await stage(m, { scope: "z", digest: hex(3), ttlMs: 1 });
    expect((await m.attachments.releaseScope("z", T0 + 1)).map((r) => r.digest)).toEqual([hex(2)]);
  });

  it("expires due attachments earliest first, in batches, and finds the blobs they leave unreferenced", async () => {
    const { first: m } = await suite.open();
    await stage(m, { digest: hex(1), ttlMs: 30 });
    await stage(m, { digest: hex(2), ttlMs: 10 });
    await stage(m, { digest: hex(3), ttlMs: 20 });
    await stage(m, { digest: hex(4), persist: true });
    expect(await m.attachments.expireDue(T0 + 5, 10)).toEqual([]);
    expect((await m.attachments.expireDue(T0 + 30, 2)).map((r) => r.digest)).toEqual([hex(2), hex(3)]);
    expect((await m.attachments.expireDue(T0 + 30, 2)).map((r) => r.digest)).toEqual([hex(1)]);
    expect((await m.blobs.unreferenced(null, 10)).map((b) => b.digest)).toEqual([hex(1), hex(2), hex(3)]);
    expect((await m.blobs.unreferenced(hex(1), 1)).map((b) => b.digest)).toEqual([hex(2)]);
    // A condemned blob is some writer's to delete already: not a candidate for another.
    await m.blobs.condemn([hex(2)], T0 + 30, newId());
    expect((await m.blobs.unreferenced(null, 10)).map((b) => b.digest)).toEqual([hex(1), hex(3)]);
  });

  it("drops single attachments whatever their state", async () => {
    const { first: m } = await suite.open();
    const expired = await stage(m, { ttlMs: 1 });
    const ref = await stage(m, { scope: "c", mode: "reference", referencePath: "/x" });
    expect((await m.attachments.drop(expired.record.id))?.id).toBe(expired.record.id);
    expect((await m.blobs.get(hex(1)))?.refs).toBe(0);
    expect((await m.attachments.drop(ref.record.id))?.id).toBe(ref.record.id);
    expect(await m.attachments.drop(ref.record.id)).toBeUndefined();
  });

  it("tells whether any blob of a size is stored", async () => {
    const { first: m } = await suite.open();
    expect(await m.blobs.hasSize(10)).toBe(false);
    await stage(m, { digest: hex(1), size: 10 });
    expect(await m.blobs.hasSize(10)).toBe(true);
    expect(await m.blobs.hasSize(11)).toBe(false);
    // A reference attachment stores no blob.
    await stage(m, { digest: hex(2), size: 11, mode: "reference", referencePath: "/outside/file" });
    expect(await m.blobs.hasSize(11)).toBe(false);
    // A row without attachments still counts: its bytes may still be stored.
    const { record } = await stage(m, { digest: hex(3), size: 12 });
    await m.attachments.release(record.id, undefined, T0);
    expect(await m.blobs.hasSize(12)).toBe(true);
  });

  it("finds nothing wrong with a sound manifest", async () => {
    const { first: m } = await suite.open();
    await stage(m);
    expect(await m.checkIntegrity()).toEqual([]);
  });

  it("computes metrics and resets, keeping blob rows and writers", async () => {
    const { first: m } = await suite.open();
    const a = await stage(m, { scope: "a", size: 4, digest: hex(1), persist: true });
    await stage(m, { scope: "b", size: 4, digest: hex(1) });
    await stage(m, { scope: "b", size: 2, digest: hex(2), ttlMs: 1 });
    await m.pins.addLease(lease(a.record.id, { id: "l", expiresAt: T0 + 10 }), undefined, T0);
    await m.pins.beginStage(intent({ id: "i", digest: hex(2) }), 2);
    const w = newId();
    await m.pins.registerWriter({ id: w, host: "h", pid: 1, startedAt: T0, heartbeatAt: T0 });
    const metrics = await m.metrics(T0 + 1);
    expect(metrics).toEqual({
      attachments: 2, scopes: 2, logicalBytes: 8, distinctLiveBytes: 4, blobs: 2, storedBytes: 6,
      persistent: { count: 1, bytes: 4 }, expirable: { count: 1, bytes: 4 }, expired: { count: 1, bytes: 2 },
      leases: 1, nextExpiryAt: T0 + HOUR,
    });
    expect((await m.blobs.list(null, 10)).map((b) => b.digest)).toEqual([hex(1), hex(2)]);
    expect((await m.blobs.list(hex(1), 10)).map((b) => b.digest)).toEqual([hex(2)]);
    await m.reset();
    expect(await m.metrics(T0)).toMatchObject({ attachments: 0, leases: 0, expired: { count: 0, bytes: 0 } });
    expect(await m.pins.hasLease("l")).toBe(false);
    expect(await m.pins.staleIntents(T0, w, 10)).toEqual([]);
    // Blob rows stay, unreferenced, until the store has deleted their bytes through the fence.
    expect((await m.blobs.list(null, 10)).map((b) => [b.digest, b.refs])).toEqual([[hex(1), 0], [hex(2), 0]]);
    expect(await m.pins.liveWriters(T0 - 1)).toEqual(new Set([w]));
  });

  it("computes one scope's metrics and the largest scopes, live bytes first", async () => {
    const { first: m } = await suite.open();
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
    await m.pins.addLease(lease(b.record.id, { id: "l1", expiresAt: T0 + HOUR }), "b", T0);
    await m.pins.addLease(lease(b.record.id, { id: "l2", expiresAt: T0 + 1 }), "b", T0);

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
    expect(await m.attachments.releaseScope("a", later)).toHaveLength(1);
    expect(await m.scopeMetrics("a", later)).toEqual({ ...empty("a"), expired: { count: 1, bytes: 3 } });
    expect(await m.attachments.expireDue(later, 100)).toHaveLength(3);
    expect(await m.scopeMetrics("a", later)).toEqual(empty("a"));
    expect(await m.scopeMetrics("b", later)).toEqual({ ...empty("b"), attachments: 1, logicalBytes: 4, persistent: { count: 1, bytes: 4 } });
    expect(await m.scopeMetrics("c", later)).toEqual(empty("c"));
    expect((await m.largestScopes(10, later)).map((s) => [s.scope, s.logicalBytes])).toEqual([["e", 5], ["0", 4], ["b", 4], ["d", 1]]);
    await m.reset();
    expect(await m.scopeMetrics("e", later)).toEqual(empty("e"));
    expect(await m.largestScopes(10, later)).toEqual([]);
  });
}
