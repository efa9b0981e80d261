/**
 * The store's side of the blob fence (see `BlobTable` in
 * backends/manifest.ts): deleting bytes is condemn (a committed mark) →
 * delete (batched, outside any transaction) → forget; a stage that meets a
 * condemned blob waits for the condemnation to end and then writes the bytes
 * again if they are gone. Nothing here holds a manifest transaction across a
 * call to the blob store.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { StoreContext } from "./context.js";
import type { BlobRecord, CondemnedBlob } from "./backends/manifest.js";
import { aborted, ioError } from "./errors.js";
import { publishBlobDeleted } from "./telemetry.js";

/**
 * Deletes the bytes of blobs this handle has condemned, then forgets them
 * (or revives those a stage met meanwhile). Returns the blobs whose bytes it
 * deleted. On failure, the condemnations are called off.
 */
export async function deleteCondemned(ctx: StoreContext, condemnedAndInline: readonly CondemnedBlob[]): Promise<BlobRecord[]> {
  // Inline blobs were deleted with their rows by `condemn`: nothing is left to delete or forget.
  const inline = condemnedAndInline.filter((blob) => blob.inline === true && blob.condemnedBy === null);
  for (const blob of inline) {
    publishBlobDeleted(`sha256:${blob.digest}`, blob.size);
    await ctx.cache?.drop(blob.digest).catch(() => undefined);
  }
  const condemned = inline.length === 0 ? condemnedAndInline : condemnedAndInline.filter((blob) => !inline.includes(blob));
  if (condemned.length === 0) return inline;
  const digests = condemned.map((blob) => blob.digest);
  const writer = ctx.writer;
  for (const digest of digests) writer.condemning.add(digest);
  try {
    try {
      if (ctx.blobs.deleteMany !== undefined) await ctx.blobs.deleteMany(digests);
      else for (const digest of digests) await ctx.blobs.delete(digest);
    } catch (err) {
      // Nothing was forgotten: the blobs stay, unneeded, for the next sweep to delete.
      await ctx.manifest.blobs.spare(digests, writer.id).catch(() => undefined);
      throw ioError(`delete the bytes of ${digests.length === 1 ? `blob sha256:${digests[0]}` : `${digests.length} blobs`}`, err);
    }
    await ctx.manifest.blobs.forget(digests, writer.id, ctx.now());
    // Every condemned blob's bytes are gone now, also those a stage met and revived (it writes them
    // again): those count as deleted. A row inserted only to fence bytes no row owned does not.
    const deleted = condemned.filter((blob) => blob.rowless !== true);
    for (const blob of deleted) publishBlobDeleted(`sha256:${blob.digest}`, blob.size);
    for (const digest of digests) await ctx.cache?.drop(digest).catch(() => undefined);
    return [...inline, ...deleted];
  } finally {
    for (const digest of digests) writer.condemning.delete(digest);
  }
}

/** Deletes whichever of `digests` nothing needs: condemn, delete, forget. Returns the blobs deleted. */
export async function deleteUnneeded(ctx: StoreContext, digests: readonly string[]): Promise<BlobRecord[]> {
  if (digests.length === 0) return [];
  await ctx.writer.ready();
  const condemned = await ctx.manifest.blobs.condemn(digests, ctx.now(), ctx.writer.id);
  return deleteCondemned(ctx, condemned);
}

/** The first wait of a stage on a condemned blob; doubled up to {@link MAX_WAIT_MS}. */
const FIRST_WAIT_MS = 2;
const MAX_WAIT_MS = 200;

/**
 * Waits until `digest` is no longer condemned: its deleter forgets it (and,
 * since this stage's intent needs it, revives it), or — if the deleter is
 * gone past the grace period, or is this handle but no longer at work on it
 * — ends the condemnation itself. The caller then writes the bytes again if
 * they are missing.
 */
export async function awaitRevival(ctx: StoreContext, digest: string, signal?: AbortSignal): Promise<void> {
  const writer = ctx.writer;
  for (let wait = FIRST_WAIT_MS; ; wait = Math.min(wait * 2, MAX_WAIT_MS)) {
    if (signal?.aborted) throw aborted(signal.reason);
    const mine = writer.condemning.has(digest) ? undefined : writer.id;
    if (await ctx.manifest.blobs.reviveAbandoned(digest, writer.staleBefore(ctx.now()), mine)) return;
    await sleep(wait);
  }
}
