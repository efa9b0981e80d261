/**
 * The manifest suite's cases for the blob fence: condemn → delete → forget,
 * the revival of a row a stage needs, repairs of damaged bytes, and the
 * takeover of condemnations whose writer is gone.
 */
import { expect, it } from "vitest";
import { newId } from "../ids.js";
import {
  GRACE, HOUR, T0, digestsOf, hex, intent, lease, registered, releasedBlob, stage, staged, type ManifestSuiteContext,
} from "./manifest-fixtures.js";

export function fenceCases(suite: ManifestSuiteContext): void {
  it("condemns only blobs that nothing needs: no attachment, no intent, no unexpired lease", async () => {
    const { first: m } = await suite.open();
    const w = newId();
    await stage(m, { digest: hex(1) });
    await releasedBlob(m, hex(2));
    await m.pins.beginStage(intent({ id: "in-flight", digest: hex(3) }), 10);
    for (const [digest, expiresAt] of [[hex(4), T0 + 100], [hex(5), T0 + 10]] as const) {
      const { record } = await stage(m, { digest });
      await m.pins.addLease(lease(record.id, { digest, expiresAt }), undefined, T0);
      await m.attachments.release(record.id, undefined, T0);
    }
    const condemned = await m.blobs.condemn([hex(1), hex(2), hex(2), hex(3), hex(4), hex(5)], T0 + 10, w);
    const row = (digest: string) => ({ digest, size: 10, refs: 0, createdAt: T0, condemnedBy: w });
    expect([...condemned].sort((a, b) => (a.digest < b.digest ? -1 : 1))).toEqual([row(hex(2)), row(hex(5))]);
    expect(condemned.some((blob) => blob.rowless === true)).toBe(false);
    expect(await m.blobs.get(hex(2))).toEqual(row(hex(2)));
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 1, condemnedBy: null });
    // Condemned already: no other writer condemns it again.
    expect(await m.blobs.condemn([hex(2)], T0 + 10, newId())).toEqual([]);
    // Once the lease has expired, nothing needs hex(4) either.
    expect(digestsOf(await m.blobs.condemn([hex(4)], T0 + 100, w))).toEqual([hex(4)]);

    // Step 3: only the condemning writer forgets, and only what it condemned.
    expect(await m.blobs.forget([hex(2), hex(4), hex(5)], newId(), T0 + 100)).toEqual([]);
    expect(digestsOf(await m.blobs.forget([hex(1), hex(2), hex(4), hex(5)], w, T0 + 100))).toEqual([hex(2), hex(4), hex(5)]);
    for (const digest of [hex(2), hex(4), hex(5)]) expect(await m.blobs.get(digest)).toBeUndefined();
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 1, condemnedBy: null });
    expect(await m.blobs.forget([hex(2)], w, T0 + 100)).toEqual([]);
  });

  it("condemns a digest that no row knows (rowless), unless an intent or a lease needs it", async () => {
    const { first: m } = await suite.open();
    const w = newId();
    await m.pins.beginStage(intent({ id: "cut", digest: hex(7) }), 10);
    await m.reset(); // drops the intent under the stage; the blob row stays until the fence removes it
    expect(digestsOf(await m.blobs.condemn([hex(7)], T0, w))).toEqual([hex(7)]);
    expect(digestsOf(await m.blobs.forget([hex(7)], w, T0))).toEqual([hex(7)]);
    // The stage then puts its bytes in place and fails to commit: no row owns them, nothing needs them.
    const rowless = await m.blobs.condemn([hex(7)], T0, w);
    expect(rowless).toEqual([{ digest: hex(7), size: 0, refs: 0, createdAt: T0, condemnedBy: w, rowless: true }]);
    // The row fences the deletion: a stage of those bytes meanwhile waits.
    expect(await m.blobs.get(hex(7))).toMatchObject({ condemnedBy: w });
    expect(await m.blobs.condemn([hex(7)], T0, newId())).toEqual([]);
    expect(digestsOf(await m.blobs.forget([hex(7)], w, T0))).toEqual([hex(7)]);
    expect(await m.blobs.get(hex(7))).toBeUndefined();

    // An intent needs the digest.
    await m.pins.beginStage(intent({ id: "j", digest: hex(8) }), 10);
    await m.pins.dropIntent("j");
    await m.pins.beginStage(intent({ id: "k", digest: hex(8) }), 10);
    expect(await m.blobs.condemn([hex(8)], T0, w)).toEqual([]);
    // A lease on a reference attachment of those bytes needs the digest: no row is inserted for it.
    const ref = await stage(m, { digest: hex(9), mode: "reference", referencePath: "/outside/file" });
    await m.pins.addLease(lease(ref.record.id, { digest: hex(9), expiresAt: T0 + 10 }), undefined, T0);
    expect(await m.blobs.condemn([hex(9)], T0, w)).toEqual([]);
    expect(await m.blobs.get(hex(9))).toBeUndefined();
    expect(digestsOf(await m.blobs.condemn([hex(9)], T0 + 10, w))).toEqual([hex(9)]);
  });

  it("tells a stage that meets a condemned blob; forget then revives the row the stage needs, and drops one whose stage gave up", async () => {
    const { first: m } = await suite.open();
    const w = newId();
    await releasedBlob(m, hex(1));
    expect(await m.blobs.condemn([hex(1)], T0, w)).toHaveLength(1);
    expect(await m.pins.beginStage(intent({ id: "again", digest: hex(1), tempName: "b.tmp" }), 10)).toBe("condemned");
    // The bytes are deleted; forget finds the stage's intent and keeps the row, no longer condemned.
    expect(await m.blobs.forget([hex(1)], w, T0)).toEqual([]);
    expect(await m.blobs.get(hex(1))).toEqual({ digest: hex(1), size: 10, refs: 0, createdAt: T0, condemnedBy: null });
    await m.attachments.commitStage("again", staged({ digest: hex(1) }));
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 1, condemnedBy: null });

    await releasedBlob(m, hex(2));
    expect(await m.blobs.condemn([hex(2)], T0, w)).toHaveLength(1);
    expect(await m.pins.beginStage(intent({ id: "gave-up", digest: hex(2) }), 10)).toBe("condemned");
    await m.pins.dropIntent("gave-up");
    expect(digestsOf(await m.blobs.forget([hex(2)], w, T0))).toEqual([hex(2)]);
    expect(await m.blobs.get(hex(2))).toBeUndefined();
    // A stage after that starts afresh.
    expect(await m.pins.beginStage(intent({ id: "later", digest: hex(2) }), 10)).toBe("ok");
  });

  it("spares a condemned blob: only its condemning writer can call the deletion off", async () => {
    const { first: m } = await suite.open();
    const w = newId();
    await releasedBlob(m, hex(1));
    await m.blobs.condemn([hex(1)], T0, w);
    await m.blobs.spare([hex(1)], newId());
    expect(await m.blobs.get(hex(1))).toMatchObject({ condemnedBy: w });
    await m.blobs.spare([hex(1), hex(2)], w);
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 0, condemnedBy: null });
    expect(digestsOf(await m.blobs.unreferenced(null, 10))).toEqual([hex(1)]);
    expect(await m.blobs.forget([hex(1)], w, T0)).toEqual([]);
    expect(await m.blobs.get(hex(1))).toBeDefined();
  });

  it("condemns damaged bytes that attachments use, never under a stage in flight; only their condemner drops the attachments", async () => {
    const { first: m } = await suite.open();
    const w = newId();
    const other = newId();
    const a = await stage(m, { scope: "a" });
    const b = await stage(m, { scope: "b" });
    const ref = await stage(m, { scope: "c", mode: "reference", referencePath: "/x" });
    // A stage of the same bytes is in flight: it may be rewriting them.
    await m.pins.beginStage(intent({ id: "in-flight", digest: hex(1), tempName: "r.tmp" }), 10);
    expect(await m.blobs.condemnDamaged(hex(1), w)).toBeUndefined();
    await m.pins.dropIntent("in-flight");
    expect(await m.blobs.condemnDamaged(hex(9), w)).toBeUndefined();
    expect(await m.attachments.dropCondemned(hex(1), w)).toEqual([]);

    expect(await m.blobs.condemnDamaged(hex(1), w)).toEqual({ digest: hex(1), size: 10, refs: 2, createdAt: T0, condemnedBy: w });
    expect(await m.blobs.condemnDamaged(hex(1), other)).toBeUndefined();
    // A row exists: not a stray file.
    expect(await m.blobs.condemnDamaged(hex(1), other, { rowless: true, size: 5 })).toBeUndefined();
    expect(await m.pins.beginStage(intent({ id: "waits", digest: hex(1) }), 10)).toBe("condemned");
    await m.pins.dropIntent("waits");

    expect(await m.attachments.dropCondemned(hex(1), other)).toEqual([]);
    const dropped = await m.attachments.dropCondemned(hex(1), w);
    expect(dropped.map((r) => r.id).sort()).toEqual([a.record.id, b.record.id].sort());
    expect(await m.attachments.get(a.record.id)).toBeUndefined();
    // Reference attachments of the same digest have their own file: not this repair's business.
    expect((await m.attachments.get(ref.record.id))?.id).toBe(ref.record.id);
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 0, condemnedBy: w });
    expect(digestsOf(await m.blobs.forget([hex(1)], w, T0))).toEqual([hex(1)]);
    expect(await m.blobs.get(hex(1))).toBeUndefined();
  });

  it("condemns a stray file no row knows (rowless repair) only while there is still no row", async () => {
    const { first: m } = await suite.open();
    const w = newId();
    expect(await m.blobs.condemnDamaged(hex(6), w, { rowless: true, size: 5 })).toMatchObject({ digest: hex(6), size: 5, refs: 0, condemnedBy: w });
    expect(await m.blobs.get(hex(6))).toMatchObject({ size: 5, condemnedBy: w });
    expect(await m.blobs.condemnDamaged(hex(6), newId(), { rowless: true, size: 5 })).toBeUndefined();
    expect(digestsOf(await m.blobs.forget([hex(6)], w, T0))).toEqual([hex(6)]);
    await m.pins.beginStage(intent({ id: "i", digest: hex(6) }), 5);
    expect(await m.blobs.condemnDamaged(hex(6), w, { rowless: true, size: 5 })).toBeUndefined();
  });

  it("repairs a leased blob's attachments but keeps its row until the lease ends", async () => {
    const { first: m } = await suite.open();
    const w = newId();
    const a = await stage(m);
    await m.pins.addLease(lease(a.record.id, { expiresAt: T0 + 100 }), undefined, T0);
    expect(await m.blobs.condemnDamaged(hex(1), w)).toMatchObject({ condemnedBy: w });
    expect((await m.attachments.dropCondemned(hex(1), w)).map((r) => r.id)).toEqual([a.record.id]);
    expect(await m.blobs.forget([hex(1)], w, T0)).toEqual([]);
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 0, condemnedBy: null });
    expect(digestsOf(await m.blobs.condemn([hex(1)], T0 + 100, w))).toEqual([hex(1)]);
    expect(digestsOf(await m.blobs.forget([hex(1)], w, T0 + 100))).toEqual([hex(1)]);
  });

  it("takes over condemnations of writers gone past staleBefore, and the caller's own, never a live writer's", async () => {
    const { first: m } = await suite.open();
    const now = T0 + HOUR;
    const staleBefore = now - GRACE;
    const dead = await registered(m, staleBefore);
    const live = await registered(m, now);
    const me = await registered(m, now);
    const unknown = newId();
    for (let n = 1; n <= 5; n++) await releasedBlob(m, hex(n));
    for (const [n, by] of [[1, dead], [2, dead], [3, live], [4, unknown], [5, me]] as const) {
      expect(await m.blobs.condemn([hex(n)], now, by)).toHaveLength(1);
    }
    expect(digestsOf(await m.blobs.claimAbandoned(staleBefore, me, 2))).toEqual([hex(1), hex(2)]);
    const claimed = await m.blobs.claimAbandoned(staleBefore, me, 10);
    expect(digestsOf(claimed)).toEqual([hex(1), hex(2), hex(4), hex(5)]);
    expect(claimed.every((blob) => blob.condemnedBy === me)).toBe(true);
    for (const n of [1, 2, 4, 5]) expect(await m.blobs.get(hex(n))).toMatchObject({ condemnedBy: me });
    expect(await m.blobs.get(hex(3))).toMatchObject({ condemnedBy: live });
    // Another live writer finds nothing abandoned: every condemnation has a live writer.
    expect(await m.blobs.claimAbandoned(staleBefore, await registered(m, now), 10)).toEqual([]);
    // Once the live writer's heartbeat is stale, its condemnation is taken over too.
    expect(digestsOf(await m.blobs.claimAbandoned(now, me, 10))).toEqual([hex(1), hex(2), hex(3), hex(4), hex(5)]);
  });

  it("revives a condemned blob for a waiting stage only if its writer is gone or is the caller", async () => {
    const { first: m } = await suite.open();
    const now = T0 + HOUR;
    const staleBefore = now - GRACE;
    const dead = await registered(m, staleBefore);
    const live = await registered(m, now);
    const me = await registered(m, now);
    for (let n = 1; n <= 3; n++) await releasedBlob(m, hex(n));
    await m.blobs.condemn([hex(1)], now, dead);
    await m.blobs.condemn([hex(2)], now, live);
    await m.blobs.condemn([hex(3)], now, me);
    expect(await m.blobs.reviveAbandoned(hex(1), staleBefore)).toBe(true);
    expect(await m.blobs.get(hex(1))).toMatchObject({ condemnedBy: null });
    expect(await m.blobs.reviveAbandoned(hex(2), staleBefore)).toBe(false);
    expect(await m.blobs.reviveAbandoned(hex(2), staleBefore, me)).toBe(false);
    expect(await m.blobs.get(hex(2))).toMatchObject({ condemnedBy: live });
    expect(await m.blobs.reviveAbandoned(hex(3), staleBefore, me)).toBe(true);
    expect(await m.blobs.get(hex(3))).toMatchObject({ condemnedBy: null });
    expect(await m.blobs.reviveAbandoned(hex(3), staleBefore)).toBe(true);
    expect(await m.blobs.reviveAbandoned(hex(9), staleBefore)).toBe(true);
    expect(await m.blobs.reviveAbandoned(hex(2), now)).toBe(true);
    expect(await m.blobs.get(hex(2))).toMatchObject({ condemnedBy: null });
  });
}
