/** The manifest suite's cases for the pins room: leases, intents, holds and the writers whose heartbeats protect them. */
import { expect, it } from "vitest";
import { newId } from "../ids.js";
import { GRACE, HOUR, T0, hex, intent, lease, registered, releasedBlob, stage, writer, type ManifestSuiteContext } from "./manifest-fixtures.js";

export function pinCases(suite: ManifestSuiteContext): void {
  it("leases only live attachments, and knows a lease until it is removed", async () => {
    const { first: m } = await suite.open();
    const a = await stage(m, { scope: "x" });
    const pin = lease(a.record.id, { id: "lease1", expiresAt: T0 + 10 });
    expect(await m.pins.addLease(pin, "other", T0)).toBeUndefined();
    expect(await m.pins.addLease(pin, "x", T0 + HOUR)).toBeUndefined();
    expect(await m.pins.hasLease("lease1")).toBe(false);
    expect((await m.pins.addLease(pin, "x", T0))?.id).toBe(a.record.id);
    expect(await m.pins.hasLease("lease1")).toBe(true);
    expect((await m.metrics(T0)).leases).toBe(1);
    // Expired, it is still owned (its named path too) until it is removed.
    expect((await m.metrics(T0 + 10)).leases).toBe(0);
    expect(await m.pins.hasLease("lease1")).toBe(true);
    expect(await m.pins.removeLease("lease1")).toEqual(pin);
    expect(await m.pins.removeLease("lease1")).toBeUndefined();
    expect(await m.pins.hasLease("lease1")).toBe(false);
  });

  it("tells which digests a lease unexpired at `now` pins", async () => {
    const { first: m } = await suite.open();
    const a = await stage(m, { digest: hex(1) });
    const b = await stage(m, { digest: hex(2) });
    await m.pins.addLease(lease(a.record.id, { digest: hex(1), expiresAt: T0 + 10 }), undefined, T0);
    await m.pins.addLease(lease(b.record.id, { digest: hex(2), expiresAt: T0 + 20 }), undefined, T0);
    const digests = [hex(1), hex(2), hex(3)];
    expect(await m.pins.leasedDigests(digests, T0)).toEqual(new Set([hex(1), hex(2)]));
    expect(await m.pins.leasedDigests(digests, T0 + 10)).toEqual(new Set([hex(2)]));
    expect(await m.pins.leasedDigests([hex(1)], T0 + 5)).toEqual(new Set([hex(1)]));
    expect(await m.pins.leasedDigests([], T0)).toEqual(new Set());
    expect(await m.pins.leasedDigests(digests, T0 + 20)).toEqual(new Set());
  });

  it("reclaims leases that expired at or before a time", async () => {
    const { first: m } = await suite.open();
    const a = await stage(m, { digest: hex(3) });
    await m.pins.addLease(lease(a.record.id, { id: "l1", digest: hex(3), expiresAt: T0 + 10 }), undefined, T0);
    await m.pins.addLease(lease(a.record.id, { id: "l2", digest: hex(3), expiresAt: T0 + 50 }), undefined, T0);
    await m.pins.addLease(lease(a.record.id, { id: "l3", digest: hex(3), expiresAt: T0 + 90 }), undefined, T0);
    expect((await m.pins.reclaimLeases(T0 + 50, 10)).map((l) => l.id).sort()).toEqual(["l1", "l2"]);
    expect(await m.pins.reclaimLeases(T0 + 50, 10)).toEqual([]);
    expect((await m.metrics(T0)).leases).toBe(1);
    expect(await m.pins.hasLease("l3")).toBe(true);
  });

  it("records intents with their writer and the outside file a move linked in", async () => {
    const { first: m } = await suite.open();
    const w = await registered(m, T0);
    const moved = intent({ id: "moved", tempName: "m.tmp", linkedFrom: "/outside/file", writer: w });
    await m.pins.beginStage(moved, 10);
    await m.pins.beginStage({ id: "bare", digest: hex(2), tempName: null, createdAt: T0 - 1 }, 3);
    expect(await m.pins.intentTempNames()).toEqual(new Set(["m.tmp"]));
    // The caller's own intents are stale to it (it leaves out those it still has in hand).
    const bare = { id: "bare", digest: hex(2), tempName: null, linkedFrom: null, writer: null, createdAt: T0 - 1 };
    expect(await m.pins.staleIntents(T0, w, 10)).toEqual([bare, moved]);
    await m.pins.dropIntent("moved");
    await m.pins.dropIntent("moved");
    expect(await m.pins.intentTempNames()).toEqual(new Set());
  });

  it("finds stale intents by age: of gone writers, of none, or of the caller, never of a live other writer", async () => {
    const { first: m } = await suite.open();
    const now = T0 + HOUR;
    const staleBefore = now - GRACE;
    const live = await registered(m, now);
    const gone = await registered(m, staleBefore);
    const me = await registered(m, now);
    const unknown = newId();
    const old = staleBefore - 10;
    await m.pins.beginStage(intent({ id: "live", digest: hex(1), writer: live, createdAt: old }), 1);
    await m.pins.beginStage(intent({ id: "gone", digest: hex(2), writer: gone, createdAt: old + 1 }), 1);
    await m.pins.beginStage(intent({ id: "unknown", digest: hex(3), writer: unknown, createdAt: old + 2 }), 1);
    await m.pins.beginStage(intent({ id: "none", digest: hex(4), writer: null, createdAt: old + 3 }), 1);
    await m.pins.beginStage(intent({ id: "mine", digest: hex(5), writer: me, createdAt: old + 4 }), 1);
    await m.pins.beginStage(intent({ id: "young", digest: hex(6), writer: null, createdAt: staleBefore + 1 }), 1);
    const ids = async (limit = 10) => (await m.pins.staleIntents(staleBefore, me, limit)).map((i) => i.id);
    // Oldest first; the young one is not old enough whatever its writer.
    expect(await ids()).toEqual(["gone", "unknown", "none", "mine"]);
    expect(await ids(2)).toEqual(["gone", "unknown"]);
    // Once the live writer's heartbeat stops, its intents are stale too.
    expect((await m.pins.staleIntents(now, me, 10)).map((i) => i.id)).toEqual(["live", "gone", "unknown", "none", "mine", "young"]);
  });

  it("holds a blob only while its row exists and is not condemned", async () => {
    const { first: m } = await suite.open();
    const w = newId();
    expect(await m.pins.holdBlob(intent({ id: "missing", digest: hex(9), writer: w }))).toBe(false);
    expect(await m.pins.staleIntents(T0, w, 10)).toEqual([]);
    await releasedBlob(m, hex(1));
    const hold = intent({ id: "hold", digest: hex(1), writer: w });
    expect(await m.pins.holdBlob(hold)).toBe(true);
    // The hold pins the blob: nothing condemns it meanwhile.
    expect(await m.blobs.condemn([hex(1)], T0, newId())).toEqual([]);
    await m.pins.dropIntent("hold");
    expect(await m.blobs.condemn([hex(1)], T0, w)).toHaveLength(1);
    expect(await m.pins.holdBlob(intent({ id: "late", digest: hex(1), writer: w }))).toBe(false);
    expect(await m.pins.staleIntents(T0, w, 10)).toEqual([]);
  });

  it("registers writers, refreshes their heartbeats and unregisters them", async () => {
    const { first: m } = await suite.open();
    const a = writer(T0);
    await m.pins.registerWriter(a);
    expect(await m.pins.liveWriters(T0 - 1)).toEqual(new Set([a.id]));
    expect(await m.pins.liveWriters(T0)).toEqual(new Set());
    expect(await m.pins.heartbeat(a.id, T0 + 5)).toBe(true);
    expect(await m.pins.liveWriters(T0 + 4)).toEqual(new Set([a.id]));
    // Registering a known id again refreshes it.
    await m.pins.registerWriter({ ...a, heartbeatAt: T0 + 9 });
    expect(await m.pins.liveWriters(T0 + 8)).toEqual(new Set([a.id]));
    const b = await registered(m, T0 + 9);
    expect(await m.pins.liveWriters(T0 + 8)).toEqual(new Set([a.id, b]));
    await m.pins.removeWriter(a.id);
    await m.pins.removeWriter(a.id);
    expect(await m.pins.liveWriters(T0)).toEqual(new Set([b]));
    // A writer whose row is gone learns it from its heartbeat, and registers again.
    expect(await m.pins.heartbeat(a.id, T0 + 10)).toBe(false);
    expect(await m.pins.heartbeat(newId(), T0 + 10)).toBe(false);
    expect(await m.pins.liveWriters(T0)).toEqual(new Set([b]));
  });

  it("forgets stale writers only once they hold no intent and no condemnation", async () => {
    const { first: m } = await suite.open();
    const now = T0 + HOUR;
    const staleBefore = now - GRACE;
    const live = await registered(m, now);
    const idle = await registered(m, staleBefore);
    const staging = await registered(m, staleBefore - 1);
    const deleting = await registered(m, staleBefore - 2);
    await m.pins.beginStage(intent({ id: "in-flight", digest: hex(1), writer: staging }), 1);
    await releasedBlob(m, hex(2));
    expect(await m.blobs.condemn([hex(2)], T0, deleting)).toHaveLength(1);
    expect(await m.pins.forgetStaleWriters(staleBefore)).toBe(1);
    expect(await m.pins.heartbeat(idle, now)).toBe(false);
    expect(await m.pins.liveWriters(0)).toEqual(new Set([live, staging, deleting]));
    await m.pins.dropIntent("in-flight");
    await m.blobs.spare([hex(2)], deleting);
    expect(await m.pins.forgetStaleWriters(staleBefore)).toBe(2);
    expect(await m.pins.liveWriters(0)).toEqual(new Set([live]));
    expect(await m.pins.forgetStaleWriters(staleBefore)).toBe(0);
  });
}
