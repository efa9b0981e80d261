import type { BlobStore } from "./backends/blob-store.js";
import type { AttachmentRecord, BlobRecord, Manifest } from "./backends/manifest.js";
import type { LocalCache } from "./cache/types.js";
import type { Delivery } from "./deliver/upload.js";
import { deleteUnneeded } from "./fence.js";
import type { FileSystem } from "./fs-seam.js";
import { newId, refOf } from "./ids.js";
import type { ResolvedOptions } from "./options.js";
import type { Attachment } from "./types.js";
import type { Writer } from "./writer.js";

/** What the store's parts share: its options, its two backends, its clock, this handle as a writer, and its local cache. */
export interface StoreContext {
  readonly options: ResolvedOptions;
  readonly blobs: BlobStore;
  readonly manifest: Manifest;
  readonly fs: FileSystem;
  readonly writer: Writer;
  /** Verified local copies of blobs that are not local files (remote or inline); `null` when every blob is a local file. */
  readonly cache: LocalCache | null;
  /** Destinations this store knows (for the sweep's remote cleanup) and its uploads in flight. */
  readonly delivery: Delivery;
  now(): number;
}

/** The largest stage kept inline in the manifest: 0 when off, or when the manifest cannot hold bytes. */
export function inlineLimit(ctx: StoreContext): number {
  return ctx.manifest.attachments.commitInline === undefined ? 0 : ctx.options.inlineMaxSize;
}

/** Whether the digest's bytes are kept inline in the manifest right now. */
export async function storedInline(ctx: StoreContext, digest: string): Promise<boolean> {
  if (ctx.manifest.attachments.commitInline === undefined) return false;
  return (await ctx.manifest.blobs.get(digest))?.inline === true;
}

/**
 * Gives the blob an inode of its own if something outside the store shares
 * it (see `LocalBlobFiles.secureBlob`), copying and swapping the file while
 * an intent pins the blob. Returns whether it copied; stores without local
 * files have nothing to do.
 */
export async function secureBlob(ctx: StoreContext, digest: string): Promise<boolean> {
  const local = ctx.blobs.local;
  if (local === undefined) return false;
  const writer = ctx.writer;
  await writer.ready();
  return local.secureBlob(digest, writer.id, async (swap) => {
    const intent = { id: newId(), digest, tempName: null, writer: writer.id, createdAt: ctx.now() };
    writer.intents.add(intent.id);
    try {
      if (!(await ctx.manifest.pins.holdBlob(intent))) return false;
      try {
        await swap();
        return true;
      } finally {
        await ctx.manifest.pins.dropIntent(intent.id);
      }
    } finally {
      writer.intents.delete(intent.id);
    }
  });
}

/** Frees the blobs of attachments that were just dropped, once each. */
export async function freeBlobsOf(ctx: StoreContext, records: AttachmentRecord[]): Promise<BlobRecord[]> {
  const digests = new Set(records.filter((r) => r.referencePath === null).map((r) => r.digest));
  return deleteUnneeded(ctx, [...digests]);
}

/**
 * Where the attachment's bytes are a local file on this host right now: the
 * reference file, the blob's file, or a cached copy of remote bytes; `null`
 * when there is none (remote bytes not fetched here), and for bytes inside
 * the manifest, whose copy is `resolve()`'s and `lease()`'s to hand out (not
 * looked for on every get(): a lookup by primary key costs about as much as
 * that lstat).
 */
export function localFileOf(ctx: StoreContext, record: AttachmentRecord): string | null {
  if (record.referencePath !== null) return record.referencePath;
  if (record.inline === true) return null;
  if (ctx.blobs.local !== undefined) return ctx.blobs.local.pathOf(record.digest);
  return ctx.cache?.pathIfCached(record.digest, record.size) ?? null;
}

/** The public, frozen view of a manifest record; `path` when the caller has just made sure of a local file. */
export function toAttachment(ctx: StoreContext, record: AttachmentRecord, path?: string): Attachment {
  return Object.freeze({
    ref: refOf(record.id),
    id: record.id,
    scope: record.scope,
    name: record.name,
    size: record.size,
    contentType: record.contentType,
    digest: `sha256:${record.digest}`,
    checksum: record.digest,
    path: path ?? localFileOf(ctx, record),
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
