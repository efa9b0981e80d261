/**
 * The manifest suite's cases for small blobs kept inside the manifest
 * (`commitInline`, `readInline`): a commit in one step with dedup against
 * inline and blob-store rows, the deletion of unneeded inline rows inside
 * `condemn`, damaged inline bytes leaving the manifest for the blob store
 * (`forget`, `reviveAbandoned`), the running totals, and two handles
 * committing the same new bytes at once. Skipped for a manifest without
 * `commitInline` (it keeps every blob in the blob store).
 */
import { expect, it } from "vitest";
import { newId } from "../ids.js";
import type { AttachmentTable, BlobTable, CommitResult, Manifest, StagedAttachment } from "../backends/manifest.js";
import { GRACE, HOUR, T0, digestsOf, hex, intent, lease, registered, releasedBlob, stage, staged, type ManifestSuiteContext } from "./manifest-fixtures.js";
import { repeat, stagger } from "./support.js";

type InlineManifest = Manifest & {
  attachments: AttachmentTable & Required<Pick<AttachmentTable, "commitInline">>;
  blobs: BlobTable & Required<Pick<BlobTable, "readInline">>;
};

/** The manifest's handles, if it keeps blobs inline; the test is skipped otherwise. */
async function inlineHandles(suite: ManifestSuiteContext, skip: (note: string) => never): Promise<{ m: InlineManifest; second: () => Promise<InlineManifest> }> {
  const { first, second } = await suite.open();
  if (first.attachments.commitInline === undefined || first.blobs.readInline === undefined) skip("this manifest keeps no blobs inline");
  return { m: first as InlineManifest, second: second as () => Promise<InlineManifest> };
}

/** Some bytes of `size`, different for each `seed`. */
const bytesOf = (seed: number, size = 10): Buffer => Buffer.alloc(size, seed % 251);

/** Commits `overrides`' bytes inline; fails the test on "elsewhere". */
async function inlined(m: InlineManifest, overrides: Partial<StagedAttachment> = {}, bytes = bytesOf(1)): Promise<CommitResult & { wrote: boolean }> {
  const committed = await m.attachments.commitInline(staged({ size: bytes.length, ...overrides }), bytes);
  if (committed === "elsewhere") throw new Error(`commitInline of ${overrides.digest ?? hex(1)} answered "elsewhere"`);
  return committed;
}

export function inlineCases(suite: ManifestSuiteContext): void {
  it("commits small bytes with their blob row in one step; the same bytes again dedup against the inline row", async ({ skip }) => {
    const { m } = await inlineHandles(suite, skip);
    const bytes = bytesOf(7, 12);
    const first = await inlined(m, { scope: "a", digest: hex(1) }, bytes);
    expect(first).toMatchObject({ merged: false, wrote: true, record: { scope: "a", digest: hex(1), size: 12, inline: true, referencePath: null } });
    // The record a commit returns is the one a lookup reads, key for key.
    expect(await m.attachments.get(first.record.id)).toStrictEqual(first.record);
    expect(await m.blobs.get(hex(1))).toStrictEqual({ digest: hex(1), size: 12, refs: 1, createdAt: T0, condemnedBy: null, inline: true });
    expect(await m.blobs.readInline(hex(1))).toEqual(bytes);
    expect(await m.blobs.readInline(hex(2))).toBeUndefined();

    // Another scope: a new attachment, the bytes not written again.
    const other = await inlined(m, { scope: "b", digest: hex(1), now: T0 + 5 }, bytes);
    expect(other).toMatchObject({ merged: false, wrote: false, record: { scope: "b", inline: true } });
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 2, createdAt: T0, inline: true });
    // The same scope: its attachment back, merged (a later expiry wins).
    const again = await inlined(m, { scope: "a", digest: hex(1), now: T0 + 10 }, bytes);
    expect(again).toMatchObject({ merged: true, wrote: false, record: { id: first.record.id, expiresAt: T0 + 10 + HOUR, inline: true } });
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 2 });
    expect(await m.attachments.get(first.record.id)).toStrictEqual(again.record);
    expect(await m.checkIntegrity()).toEqual([]);
  });

  it('answers "elsewhere", committing nothing, when the bytes are in the blob store or condemned', async ({ skip }) => {
    const { m } = await inlineHandles(suite, skip);
    const w = newId();
    // A blob-store row: the stage takes the blob-store path and dedups there.
    const file = await stage(m, { scope: "a", digest: hex(1) });
    expect(file.record.inline).toBeUndefined();
    expect(await m.attachments.commitInline(staged({ scope: "b", digest: hex(1) }), bytesOf(1))).toBe("elsewhere");
    expect(await m.attachments.commitInline(staged({ scope: "a", digest: hex(1) }), bytesOf(1))).toBe("elsewhere");
    expect(await m.attachments.list({ scope: "b", limit: 10, includeExpired: true, now: T0 })).toEqual([]);
    expect(await m.blobs.get(hex(1))).toStrictEqual({ digest: hex(1), size: 10, refs: 1, createdAt: T0, condemnedBy: null });
    expect(await m.blobs.readInline(hex(1))).toBeUndefined();
    expect(await m.attachments.get(file.record.id)).toStrictEqual(file.record);

    // A condemned blob-store row: the stage waits for the condemnation on the blob-store path.
    await releasedBlob(m, hex(2));
    expect(await m.blobs.condemn([hex(2)], T0, w)).toHaveLength(1);
    expect(await m.attachments.commitInline(staged({ digest: hex(2) }), bytesOf(2))).toBe("elsewhere");
    expect(await m.blobs.get(hex(2))).toMatchObject({ refs: 0, condemnedBy: w });

    // A condemned inline row (its bytes found damaged): not claimed either.
    const damaged = await inlined(m, { scope: "a", digest: hex(3) }, bytesOf(3));
    expect(await m.blobs.condemnDamaged(hex(3), w)).toMatchObject({ refs: 1, condemnedBy: w, inline: true });
    expect(await m.attachments.commitInline(staged({ scope: "c", digest: hex(3) }), bytesOf(3))).toBe("elsewhere");
    expect(await m.attachments.list({ scope: "c", limit: 10, includeExpired: true, now: T0 })).toEqual([]);
    expect(await m.blobs.get(hex(3))).toMatchObject({ refs: 1, condemnedBy: w });
    expect(await m.attachments.get(damaged.record.id)).toMatchObject({ inline: true });
    expect(await m.metrics(T0)).toMatchObject({ attachments: 2, blobs: 3, storedBytes: 30 });
    expect(await m.checkIntegrity()).toEqual([]);
  });

  it("merges into the scope's attachment: a reference becomes a managed inline copy; lookups say inline only for managed bytes", async ({ skip }) => {
    const { m } = await inlineHandles(suite, skip);
    const ref = await stage(m, { scope: "a", digest: hex(1), mode: "reference", referencePath: "/outside/file", ttlMs: 10 });
    expect(await m.blobs.get(hex(1))).toBeUndefined();
    // Another scope's reference of the same bytes stays a reference, never "inline".
    const otherRef = await stage(m, { scope: "b", digest: hex(1), mode: "reference", referencePath: "/outside/file" });
    const copy = await inlined(m, { scope: "a", digest: hex(1), now: T0 + 1 });
    expect(copy).toMatchObject({ merged: true, wrote: true, record: { id: ref.record.id, mode: "copy", referencePath: null, inline: true } });
    expect(await m.attachments.get(ref.record.id)).toStrictEqual(copy.record);
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 1, inline: true });
    const readRef = await m.attachments.get(otherRef.record.id);
    expect(readRef).toMatchObject({ referencePath: "/outside/file" });
    expect(readRef !== undefined && "inline" in readRef).toBe(false);
    expect((await m.attachments.list({ limit: 10, includeExpired: true, now: T0 })).map((r) => r.inline ?? false)).toEqual(
      [ref.record.id, otherRef.record.id].sort().map((id) => id === ref.record.id),
    );
    expect(await m.checkIntegrity()).toEqual([]);
  });

  it("condemn deletes an unneeded inline row with its bytes at once; one that an attachment, an intent or a lease needs stays", async ({ skip }) => {
    const { m } = await inlineHandles(suite, skip);
    const w = newId();
    const held = await inlined(m, { scope: "a", digest: hex(1) }, bytesOf(1));
    for (const n of [2, 3, 4, 5]) {
      const { record } = await inlined(m, { scope: "a", digest: hex(n) }, bytesOf(n));
      if (n === 4) await m.pins.addLease(lease(record.id, { digest: hex(4), expiresAt: T0 + 100 }), undefined, T0);
      await m.attachments.release(record.id, undefined, T0);
    }
    await m.pins.beginStage(intent({ id: "in-flight", digest: hex(3), tempName: "t.tmp" }), 10);
    expect(await m.metrics(T0)).toMatchObject({ blobs: 5, storedBytes: 50 });

    const condemned = await m.blobs.condemn([hex(1), hex(2), hex(3), hex(4), hex(5)], T0, w);
    expect([...condemned].sort((a, b) => (a.digest < b.digest ? -1 : 1))).toStrictEqual(
      [2, 5].map((n) => ({ digest: hex(n), size: 10, refs: 0, createdAt: T0, condemnedBy: null, inline: true })),
    );
    for (const n of [2, 5]) {
      expect(await m.blobs.get(hex(n))).toBeUndefined();
      expect(await m.blobs.readInline(hex(n))).toBeUndefined();
    }
    // Nothing left to forget for them: no condemnation was recorded.
    expect(await m.blobs.forget([hex(2), hex(5)], w, T0)).toEqual([]);
    for (const n of [1, 3, 4]) expect(await m.blobs.readInline(hex(n))).toEqual(bytesOf(n));
    expect(await m.blobs.get(hex(1))).toMatchObject({ refs: 1, condemnedBy: null, inline: true });
    expect((await m.attachments.get(held.record.id))?.inline).toBe(true);
    expect(await m.metrics(T0)).toMatchObject({ blobs: 3, storedBytes: 30 });

    // The intent ends and the lease expires: those go too.
    await m.pins.dropIntent("in-flight");
    expect(digestsOf(await m.blobs.condemn([hex(3), hex(4)], T0 + 100, w))).toEqual([hex(3), hex(4)]);
    expect(await m.blobs.readInline(hex(4))).toBeUndefined();
    expect(digestsOf(await m.blobs.list(null, 10))).toEqual([hex(1)]);
    // A new commit of deleted bytes stores them afresh.
    expect(await inlined(m, { scope: "b", digest: hex(2) }, bytesOf(2))).toMatchObject({ wrote: true, merged: false });
    expect(await m.metrics(T0 + 100)).toMatchObject({ blobs: 2, storedBytes: 20 });
    expect(await m.checkIntegrity()).toEqual([]);
  });

  it("damaged inline bytes a stage needs leave the manifest: forget keeps the row as a blob-store row, without the bytes", async ({ skip }) => {
    const { m } = await inlineHandles(suite, skip);
    const w = newId();
    const a = await inlined(m, { scope: "a", digest: hex(1) }, bytesOf(1));
    expect(await m.blobs.condemnDamaged(hex(1), w)).toMatchObject({ condemnedBy: w, inline: true });
    expect((await m.attachments.dropCondemned(hex(1), w)).map((r) => r.id)).toEqual([a.record.id]);
    // A stage of these bytes meets the condemnation and waits.
    expect(await m.pins.beginStage(intent({ id: "again", digest: hex(1), tempName: "again.tmp" }), 10)).toBe("condemned");
    expect(await m.blobs.forget([hex(1)], w, T0)).toEqual([]);
    expect(await m.blobs.get(hex(1))).toStrictEqual({ digest: hex(1), size: 10, refs: 0, createdAt: T0, condemnedBy: null });
    expect(await m.blobs.readInline(hex(1))).toBeUndefined();
    // The stage wrote the bytes to the blob store and commits: a blob-store attachment, and an inline commit now goes there too.
    const b = await m.attachments.commitStage("again", staged({ scope: "b", digest: hex(1) }));
    expect(b.record.inline).toBeUndefined();
    expect(await m.attachments.get(b.record.id)).toStrictEqual(b.record);
    expect(await m.attachments.commitInline(staged({ scope: "c", digest: hex(1) }), bytesOf(1))).toBe("elsewhere");
    expect(await m.metrics(T0)).toMatchObject({ blobs: 1, storedBytes: 10 });
    expect(await m.checkIntegrity()).toEqual([]);
  });

  it("a damaged inline row whose condemner died: reviveAbandoned hands it to the waiting stage as a blob-store row", async ({ skip }) => {
    const { m } = await inlineHandles(suite, skip);
    const now = T0 + HOUR;
    const dead = await registered(m, now - GRACE);
    const a = await inlined(m, { scope: "a", digest: hex(1) }, bytesOf(1));
    await inlined(m, { scope: "a", digest: hex(2) }, bytesOf(2));
    expect(await m.blobs.condemnDamaged(hex(1), dead)).toMatchObject({ condemnedBy: dead });
    expect(await m.pins.beginStage(intent({ id: "waits", digest: hex(1), createdAt: now }), 10)).toBe("condemned");
    expect(await m.blobs.reviveAbandoned(hex(1), now - GRACE)).toBe(true);
    expect(await m.blobs.get(hex(1))).toStrictEqual({ digest: hex(1), size: 10, refs: 1, createdAt: T0, condemnedBy: null });
    expect(await m.blobs.readInline(hex(1))).toBeUndefined();
    const read = await m.attachments.get(a.record.id);
    expect(read !== undefined && "inline" in read).toBe(false);
    // Another inline row, revived while it was not condemned, is untouched.
    expect(await m.blobs.reviveAbandoned(hex(2), now - GRACE)).toBe(true);
    expect(await m.blobs.readInline(hex(2))).toEqual(bytesOf(2));
    expect(await m.metrics(now)).toMatchObject({ blobs: 2, storedBytes: 20 });
    expect(await m.checkIntegrity()).toEqual([]);
  });

  it("a fence row (condemned while it had no row, size 0) met by a stage takes the stage's size, and the blob totals follow", async ({ skip }) => {
    const { m } = await inlineHandles(suite, skip);
    const w = newId();
    await inlined(m, { scope: "a", digest: hex(1) }, bytesOf(1, 7));
    expect(await m.blobs.condemn([hex(9)], T0, w)).toMatchObject([{ digest: hex(9), size: 0, rowless: true }]);
    expect(await m.metrics(T0)).toMatchObject({ blobs: 2, storedBytes: 7 });
    expect(await m.pins.beginStage(intent({ id: "restage", digest: hex(9), tempName: "r.tmp" }), 25)).toBe("condemned");
    expect(await m.blobs.get(hex(9))).toMatchObject({ size: 25, condemnedBy: w });
    expect(await m.metrics(T0)).toMatchObject({ blobs: 2, storedBytes: 32 });
    expect(await m.blobs.forget([hex(9)], w, T0)).toEqual([]);
    await m.attachments.commitStage("restage", staged({ scope: "b", digest: hex(9), size: 25 }));
    expect(await m.blobs.get(hex(9))).toStrictEqual({ digest: hex(9), size: 25, refs: 1, createdAt: T0, condemnedBy: null });
    // A row with a size keeps it.
    await m.pins.beginStage(intent({ id: "other", digest: hex(9) }), 99);
    expect(await m.blobs.get(hex(9))).toMatchObject({ size: 25 });
    expect(await m.metrics(T0)).toMatchObject({ blobs: 2, storedBytes: 32 });
    expect(await m.checkIntegrity()).toEqual([]);
  });

  it("two handles committing the same new bytes at once both succeed, with one inline row holding them", async ({ skip }) => {
    const { m: a, second } = await inlineHandles(suite, skip);
    const b = await second();
    await repeat(suite.rounds, async (round) => {
      const digest = hex(3000 + round);
      const bytes = bytesOf(round, 16);
      // Even rounds: one scope (one attachment, merged once); odd rounds: two scopes (two attachments).
      const scopes = round % 2 === 0 ? ["same", "same"] : ["left", "right"];
      const commit = async (m: InlineManifest, scope: string, salt: number) => {
        await stagger(round, salt);
        return inlined(m, { scope: `${scope}-${round}`, digest }, bytes);
      };
      const [fromA, fromB] = await Promise.all([commit(a, scopes[0] ?? "", 0), commit(b, scopes[1] ?? "", 2)]);
      expect([fromA.wrote, fromB.wrote].sort()).toEqual([false, true]);
      expect(fromA.record.inline && fromB.record.inline).toBe(true);
      if (round % 2 === 0) {
        expect([fromA.merged, fromB.merged].sort()).toEqual([false, true]);
        expect(fromA.record.id).toBe(fromB.record.id);
      } else {
        expect([fromA.merged, fromB.merged]).toEqual([false, false]);
      }
      for (const m of [a, b]) {
        expect(await m.blobs.get(digest)).toMatchObject({ refs: round % 2 === 0 ? 1 : 2, size: 16, condemnedBy: null, inline: true });
        expect(await m.blobs.readInline(digest)).toEqual(bytes);
      }
    });
    expect(await a.metrics(T0)).toMatchObject({ blobs: suite.rounds, storedBytes: 16 * suite.rounds });
    expect(await b.checkIntegrity()).toEqual([]);
  });
}
