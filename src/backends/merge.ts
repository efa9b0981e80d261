import { AttacheError } from "../errors.js";
import type { AttachmentChanges } from "../update-options.js";
import type { AttachmentRecord, BlobRecord, StagedAttachment } from "./manifest.js";

/**
 * `commitStage` found its intent gone: a sweep took the stage for a crash
 * leftover (it ran longer than the grace period) and may have deleted its
 * bytes, so committing now could create an attachment without bytes.
 */
export function intentReclaimed(): AttacheError {
  return new AttacheError(
    "IO_ERROR",
    "The stage took longer than the store's gracePeriod and a sweep reclaimed it as a crash leftover; nothing was kept. Stage the source again, or raise gracePeriod.",
  );
}

/**
 * The record as every backend returns it: `inline: true` when its bytes are
 * inline in the manifest (a managed blob whose row says so; a reference
 * never is), no `inline` key otherwise.
 */
export function withInlineFlag(record: AttachmentRecord, inline: boolean): AttachmentRecord {
  const { inline: _asRead, ...rest } = record;
  return inline && rest.referencePath === null ? { ...rest, inline: true } : rest;
}

/** A blob row as every backend returns it: `inline: true` only when its bytes are inline, no key otherwise. */
export function blobWithInlineFlag(row: Omit<BlobRecord, "inline"> & { inline?: unknown }, inline: boolean): BlobRecord {
  const { inline: _asRead, ...blob } = row;
  return inline ? { ...blob, inline: true } : blob;
}

/** True while the attachment is live at `now`. */
export function isLive(record: Pick<AttachmentRecord, "expiresAt">, now: number): boolean {
  return record.expiresAt === null || record.expiresAt > now;
}

/** The expiry a staging asks for: `null` = never. */
function requestedExpiry(staged: StagedAttachment): number | null {
  return staged.persist || staged.ttlMs === Infinity ? null : staged.now + staged.ttlMs;
}

export function newRecord(staged: StagedAttachment): AttachmentRecord {
  const expiresAt = requestedExpiry(staged);
  return {
    id: staged.id,
    scope: staged.scope,
    digest: staged.digest,
    size: staged.size,
    name: staged.name,
    contentType: staged.contentType,
    mode: staged.mode,
    referencePath: staged.referencePath,
    persist: expiresAt === null,
    ttlMs: expiresAt === null ? null : staged.ttlMs,
    createdAt: staged.now,
    updatedAt: staged.now,
    expiresAt,
    source: staged.source,
    metadata: staged.metadata,
  };
}

/** An explicit `update`: the given fields replace the old ones; a new lifetime counts from `now`. */
export function applyChanges(existing: AttachmentRecord, changes: AttachmentChanges, now: number): AttachmentRecord {
  const lifetime = changes.lifetime;
  const expiresAt = lifetime === undefined ? existing.expiresAt : lifetime.ttlMs === null ? null : now + lifetime.ttlMs;
  return {
    ...existing,
    name: changes.name ?? existing.name,
    metadata: changes.metadata ?? existing.metadata,
    persist: expiresAt === null,
    ttlMs: lifetime === undefined ? existing.ttlMs : lifetime.ttlMs,
    expiresAt,
    updatedAt: now,
  };
}

/**
 * The dedup rules, shared by every manifest: staging bytes the scope already
 * holds returns the same attachment; its expiry becomes the later of the old
 * and the new one (never shorter); `persist` switches on but never off; name,
 * type, metadata, source and mode stay as first staged. An attachment that
 * expired but was not swept yet gets a fresh lifetime from this staging.
 *
 * One exception to "first staging wins": a managed staging (`copy`/`move`)
 * of bytes the scope holds only by `reference` turns the attachment into a
 * managed one, so its bytes no longer depend on the outside file.
 */
export function mergeStaging(existing: AttachmentRecord, staged: StagedAttachment): AttachmentRecord {
  const requested = requestedExpiry(staged);
  let expiresAt: number | null;
  let ttlMs: number | null;
  if (!isLive(existing, staged.now)) {
    expiresAt = requested;
    ttlMs = requested === null ? null : staged.ttlMs;
  } else if (existing.expiresAt === null || (requested !== null && requested <= existing.expiresAt)) {
    expiresAt = existing.expiresAt;
    ttlMs = existing.ttlMs;
  } else {
    expiresAt = requested;
    ttlMs = requested === null ? null : staged.ttlMs;
  }
  const upgrade = existing.referencePath !== null && staged.referencePath === null;
  return {
    ...existing,
    mode: upgrade ? staged.mode : existing.mode,
    referencePath: upgrade ? null : existing.referencePath,
    persist: expiresAt === null,
    ttlMs,
    expiresAt,
    updatedAt: staged.now,
  };
}
