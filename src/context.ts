import type { BlobStore } from "./backends/blob-store.js";
import type { FileSystem } from "./fs-seam.js";
import type { AttachmentRecord, BlobRecord, Manifest } from "./backends/manifest.js";
import type { ResolvedOptions } from "./options.js";
import { refOf } from "./ids.js";
import { publishBlobDeleted } from "./telemetry.js";
import type { Attachment } from "./types.js";

/** What the store's parts share: its options, its two backends and its clock. */
export interface StoreContext {
  readonly options: ResolvedOptions;
  readonly blobs: BlobStore;
  readonly manifest: Manifest;
  readonly fs: FileSystem;
  now(): number;
}

/** Deletes a blob through the manifest's fence, if nothing needs it any more. */
export async function deleteBlobIfUnneeded(ctx: StoreContext, digest: string): Promise<BlobRecord | undefined> {
  const blob = await ctx.manifest.deleteBlobIfUnneeded(digest, ctx.now(), () => ctx.blobs.delete(digest));
  if (blob !== undefined) publishBlobDeleted(`sha256:${digest}`, blob.size);
  return blob;
}

/**
 * Gives the blob an inode of its own if something outside the store shares
 * it (see `BlobStore.secureBlob`), swapping the file under the delete fence.
 * Returns whether it copied; stores without local files have nothing to do.
 */
export async function secureBlob(ctx: StoreContext, digest: string): Promise<boolean> {
  if (ctx.blobs.secureBlob === undefined) return false;
  return ctx.blobs.secureBlob(digest, (swap) => ctx.manifest.whileBlobKept(digest, swap));
}

/** Frees the blobs of attachments that were just dropped, once each. */
export async function freeBlobsOf(ctx: StoreContext, records: AttachmentRecord[]): Promise<BlobRecord[]> {
  const digests = new Set(records.filter((r) => r.referencePath === null).map((r) => r.digest));
  const freed: BlobRecord[] = [];
  for (const digest of digests) {
    const blob = await deleteBlobIfUnneeded(ctx, digest);
    if (blob !== undefined) freed.push(blob);
  }
  return freed;
}

/** The public, frozen view of a manifest record. */
export function toAttachment(ctx: StoreContext, record: AttachmentRecord): Attachment {
  return Object.freeze({
    ref: refOf(record.id),
    id: record.id,
    scope: record.scope,
    name: record.name,
    size: record.size,
    contentType: record.contentType,
    digest: `sha256:${record.digest}`,
    checksum: record.digest,
    path: record.referencePath ?? ctx.blobs.pathOf(record.digest),
    mode: record.mode,
    persist: record.persist,
    ttlMs: record.ttlMs,
    createdAt: new Date(record.createdAt),
    updatedAt: new Date(record.updatedAt),
    expiresAt: record.expiresAt === null ? null : new Date(record.expiresAt),
    source: record.source,
    metadata: Object.freeze(record.metadata),
  });
}
