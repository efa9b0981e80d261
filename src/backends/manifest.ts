import type { StageMode } from "../types.js";
import type { AttachmentChanges } from "../update-options.js";

/**
 * The manifest records attachments, blobs, leases and intents, and decides
 * in its own transactions what is live and what may be deleted. Every method
 * is one atomic step, so several processes can share one manifest. Digests
 * are lowercase hex; times are epoch milliseconds from the store's clock.
 *
 * An attachment is live while it exists and `expiresAt` is null or later than
 * `now`. A blob may be deleted only when no attachment row (live or expired)
 * uses it as a managed blob, no intent names it, and no lease pins it.
 */
export interface Manifest {
  readonly kind: string;
  open(): Promise<void>;

  /**
   * First step of a managed stage, before its bytes are put in place: records
   * the intent (which pins `digest` against deletion) and a blob row.
   */
  beginStage(intent: IntentRecord, size: number): Promise<void>;
  /**
   * Last step of a stage: creates the attachment, or merges into the one the
   * scope already holds for these bytes (see {@link mergeStaging}), and drops
   * the intent. One transaction. Fails with IO_ERROR, committing nothing,
   * if the intent is gone (a sweep reclaimed the stage as a leftover).
   */
  commitStage(intentId: string | null, staged: StagedAttachment): Promise<CommitResult>;
  /** Drops the intent of a stage that failed. */
  abandonStage(intentId: string): Promise<void>;

  getAttachment(id: string): Promise<AttachmentRecord | undefined>;
  /** Attachments ordered by id (creation order), after `afterId`, at most `limit`. */
  listAttachments(query: ListQuery): Promise<AttachmentRecord[]>;
  /**
   * Changes one live attachment's display fields or lifetime (of `scope`, if
   * given) in one transaction; returns the new record, or undefined if it was
   * not live. See {@link applyChanges}.
   */
  updateAttachment(id: string, scope: string | undefined, changes: AttachmentChanges, now: number): Promise<AttachmentRecord | undefined>;
  /** Drops one live attachment (of `scope`, if given); returns it, or undefined if it was not live. */
  releaseAttachment(id: string, scope: string | undefined, now: number): Promise<AttachmentRecord | undefined>;
  /** Drops every live attachment of a scope; returns them. Expired ones are left to the sweep. */
  releaseScope(scope: string, now: number): Promise<AttachmentRecord[]>;

  /** Pins a live attachment's bytes; undefined if it is not live (or not of `scope`). */
  addLease(lease: LeaseRecord, scope: string | undefined, now: number): Promise<AttachmentRecord | undefined>;
  removeLease(id: string): Promise<LeaseRecord | undefined>;
  /** Whether the lease row exists (expired or not): its named path, if any, is still owned. */
  hasLease(id: string): Promise<boolean>;

  /** Drops up to `limit` attachments whose expiry is at or before `now`, earliest first. */
  expireDue(now: number, limit: number): Promise<AttachmentRecord[]>;
  /** Up to `limit` blobs no attachment uses, in digest order after `afterDigest`. Leases and intents may still pin them. */
  unreferencedBlobs(afterDigest: string | null, limit: number): Promise<BlobRecord[]>;
  /**
   * The condemn-then-delete fence. In one write transaction: checks that
   * nothing needs the blob (no attachment, no intent, no lease unexpired at
   * `now`), calls `remove` to delete its bytes, and drops its row. Stages of
   * the same bytes serialise against this transaction, so none can claim the
   * blob between the check and the removal. Returns the blob if it was deleted.
   * With no row at all, `remove` still runs unless an intent or lease needs
   * the digest: a stage whose intent was dropped under it (a reset, a sweep
   * of an over-long stage) may have renamed its bytes into place, and no row
   * would ever own that file.
   */
  deleteBlobIfUnneeded(digest: string, now: number, remove: () => Promise<void>): Promise<BlobRecord | undefined>;
  /**
   * Runs `swap` (which replaces the blob's file with another holding the same
   * bytes) inside the delete fence, and only while the blob's row exists, so
   * a file can never be put back after the fence deleted the blob: that would
   * leave a file no row knows. Returns whether `swap` ran.
   */
  whileBlobKept(digest: string, swap: () => Promise<void>): Promise<boolean>;
  /** Intents created at or before `before` (stages that never finished). */
  staleIntents(before: number, limit: number): Promise<IntentRecord[]>;
  /** Every temp name an intent still names (so the temp sweep leaves them to the intent pass). */
  intentTempNames(): Promise<Set<string>>;
  /** Drops leases that expired at or before `before`; returns them. */
  reclaimLeases(before: number, limit: number): Promise<LeaseRecord[]>;

  getBlob(digest: string): Promise<BlobRecord | undefined>;
  /** Whether any blob has this size: a cheap hint that bytes of a known size may already be stored. */
  hasBlobOfSize(size: number): Promise<boolean>;
  /** Every blob row, in digest order, in pages (for `verify`). */
  listBlobs(afterDigest: string | null, limit: number): Promise<BlobRecord[]>;
  /** Every `reference`-mode attachment, in id order, in pages (for `verify`). */
  listReferences(afterId: string | null, limit: number): Promise<AttachmentRecord[]>;
  /** Drops every attachment (live or expired) whose bytes are the managed blob `digest`. */
  dropAttachmentsOfBlob(digest: string): Promise<AttachmentRecord[]>;
  /** Drops one attachment whatever its state (used by `verify` repair). */
  dropAttachment(id: string): Promise<AttachmentRecord | undefined>;
  /**
   * `verify`'s repair of a managed blob whose bytes it found damaged or gone,
   * as one fenced step, so that a decision taken from a stale page or file is
   * never applied to bytes staged since. In one write transaction (the same
   * fence as {@link Manifest.deleteBlobIfUnneeded}, so stages and deletions
   * of the same bytes serialise against it):
   *
   *   1. if an intent names `digest` (a stage in flight may be writing the
   *      bytes afresh) or `recheck()` resolves false (the blob is no longer
   *      as verify saw it), changes nothing and returns `undefined`;
   *   2. drops every managed attachment (live or expired) of the blob;
   *   3. calls `remove` to delete its bytes (deleting missing bytes is no error);
   *   4. drops the blob row, unless a lease unexpired at `now` pins it: the row
   *      then stays, unused, until the lease ends and the sweep takes it.
   *
   * `recheck` runs inside the transaction: it should be cheap (a `stat`, not a
   * re-hash) and may read this manifest (reads see the transaction's state).
   * A blob without a row has no attachments: only `remove` runs.
   */
  repairBlob(
    digest: string,
    now: number,
    recheck: () => Promise<boolean>,
    remove: () => Promise<void>,
  ): Promise<BlobRepair | undefined>;

  metrics(now: number): Promise<ManifestMetrics>;
  /**
   * One scope's usage at `now` (all zeros for a scope with no attachments),
   * from running totals and indexes bounded by the scope: never a scan of
   * the store.
   */
  scopeMetrics(scope: string, now: number): Promise<ManifestScopeMetrics>;
  /**
   * Up to `limit` scopes with live attachments, by live logical bytes, most
   * first; ties by scope in UTF-8 byte order. Scopes whose every attachment
   * has expired are left out.
   */
  largestScopes(limit: number, now: number): Promise<ManifestScopeMetrics[]>;
  /**
   * The backend's own consistency check (SQLite: `PRAGMA integrity_check`),
   * for `verify`: one line per problem found, `[]` when the manifest is sound
   * (always, for a backend with nothing to check). Never throws for damage:
   * a check that cannot even run on a damaged manifest reports why.
   */
  checkIntegrity(): Promise<string[]>;
  /**
   * Drops every attachment, intent and lease. Blob rows stay, unreferenced,
   * until their files are deleted through the fence (a reset cut short leaves
   * only what the sweep reclaims).
   */
  reset(): Promise<void>;
  /**
   * Gives back the space the manifest's journal holds (SQLite: a checkpoint
   * that truncates the WAL). Optional; the store calls it when the disk is
   * full, before retrying an operation that frees space.
   */
  checkpoint?(): Promise<void>;
  close(): Promise<void>;
}

export interface AttachmentRecord {
  id: string;
  scope: string;
  digest: string;
  size: number;
  name: string;
  contentType: string;
  mode: StageMode;
  /** The outside file, for `reference` mode; `null` for a managed blob. */
  referencePath: string | null;
  persist: boolean;
  ttlMs: number | null;
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
  source: string | null;
  metadata: Record<string, unknown>;
}

/** What a stage brings to `commitStage`. */
export interface StagedAttachment {
  /** The id to use if a new attachment is created. */
  id: string;
  scope: string;
  digest: string;
  size: number;
  name: string;
  contentType: string;
  mode: StageMode;
  referencePath: string | null;
  persist: boolean;
  /** `Infinity` = never expires. */
  ttlMs: number;
  now: number;
  source: string | null;
  metadata: Record<string, unknown>;
}

export interface CommitResult {
  record: AttachmentRecord;
  /** True when the scope already held these bytes and got its attachment back. */
  merged: boolean;
}

/** What {@link Manifest.repairBlob} did. */
export interface BlobRepair {
  /** The attachments it dropped (their refs are now `NOT_FOUND`). */
  dropped: AttachmentRecord[];
  /** The blob row, if it was deleted too (no lease pinned it); `undefined` if a lease keeps it or there was none. */
  deletedBlob: BlobRecord | undefined;
}

export interface BlobRecord {
  digest: string;
  size: number;
  /** Attachments (live or expired) using it. */
  refs: number;
  createdAt: number;
}

export interface IntentRecord {
  id: string;
  digest: string;
  /** The temp object holding the bytes, or `null` (bytes already stored are only being claimed). */
  tempName: string | null;
  /**
   * For a `move`: the outside file that the blob may share an inode with
   * (it was linked in) until the stage has unlinked it. Left behind by a
   * crash, it tells the sweep to give the blob an inode of its own.
   */
  linkedFrom?: string | null;
  createdAt: number;
}

export interface LeaseRecord {
  id: string;
  attachmentId: string;
  digest: string;
  createdAt: number;
  expiresAt: number;
}

export interface ListQuery {
  scope?: string;
  afterId?: string;
  limit: number;
  includeExpired: boolean;
  now: number;
}

/** One scope's part of {@link ManifestMetrics}; see `ScopeMetrics` in ../types.ts. */
export type ManifestScopeMetrics = { scope: string } & Pick<
  ManifestMetrics,
  "attachments" | "logicalBytes" | "persistent" | "expirable" | "expired" | "leases" | "nextExpiryAt"
>;

export interface ManifestMetrics {
  attachments: number;
  scopes: number;
  logicalBytes: number;
  distinctLiveBytes: number;
  blobs: number;
  storedBytes: number;
  persistent: { count: number; bytes: number };
  expirable: { count: number; bytes: number };
  expired: { count: number; bytes: number };
  leases: number;
  nextExpiryAt: number | null;
}
