import type { StageMode } from "../types.js";
import type { AttachmentChanges } from "../update-options.js";

/**
 * The manifest records attachments, blobs, leases, intents and the writers
 * that hold them, and decides in its own transactions what is live and what
 * may be deleted. Every method is one atomic step that never spans a call to
 * the blob store (on a remote engine a transaction held across a network
 * call would hold a pooled connection and row locks), so several processes
 * on several hosts can share one manifest. Digests are lowercase hex; times
 * are epoch milliseconds from the store's clock.
 *
 * It is four rooms, one per concept: {@link AttachmentTable} (what scopes
 * hold), {@link BlobTable} (the bytes' rows and the condemn → delete →
 * forget fence), {@link PinTable} (intents, leases and the writers that
 * hold them) and {@link UploadLedger} (what was uploaded where).
 *
 * An attachment is live while it exists and `expiresAt` is null or later than
 * `now`. A blob is *needed* while an attachment row (live or expired) uses it
 * as a managed blob, an intent names it, or a lease unexpired at `now` pins
 * it; only a blob that is not needed may be condemned.
 */
export interface Manifest {
  readonly kind: string;
  open(): Promise<void>;
  readonly attachments: AttachmentTable;
  readonly blobs: BlobTable;
  readonly pins: PinTable;
  readonly uploads: UploadLedger;

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
   * Gives the space of deleted inline bytes back to the filesystem (SQLite:
   * an incremental vacuum of the free pages). Called by the sweep after it
   * deleted blobs. Optional.
   */
  reclaimSpace?(): Promise<void>;
  /**
   * Drops every attachment, intent and lease. Blob rows stay, unreferenced,
   * until their bytes are deleted through the fence (a reset cut short leaves
   * only what the sweep reclaims). Writers stay registered.
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

/** What scopes hold: attachment rows, created by the last step of a stage. */
export interface AttachmentTable {
  /**
   * Last step of a stage: creates the attachment, or merges into the one the
   * scope already holds for these bytes (see `mergeStaging`), and drops the
   * intent. One transaction. Fails with IO_ERROR, committing nothing, if the
   * intent is gone (a sweep reclaimed the stage as a leftover, or a reset).
   */
  commitStage(intentId: string | null, staged: StagedAttachment): Promise<CommitResult>;
  /**
   * A stage of small bytes kept in the manifest itself (see the store option
   * `inlineMaxSize`), committed in ONE transaction with no intent, temp file
   * or blob-store call: inserts the blob row holding `bytes` (or adds a
   * reference to the inline row already there), then creates or merges the
   * attachment as `commitStage` does. Answers `"elsewhere"`, committing
   * nothing, when the digest's row keeps its bytes in the blob store or is
   * condemned: the stage then takes the blob-store path, which dedups
   * against it or waits for the condemnation to end. `wrote` tells whether
   * this call stored the bytes (false: an inline row had them). Optional: a
   * manifest without it keeps every blob in the blob store.
   */
  commitInline?(staged: StagedAttachment, bytes: Uint8Array): Promise<(CommitResult & { wrote: boolean }) | "elsewhere">;
  get(id: string): Promise<AttachmentRecord | undefined>;
  /** Attachments ordered by id (creation order), after `afterId`, at most `limit`. */
  list(query: ListQuery): Promise<AttachmentRecord[]>;
  /**
   * Changes one live attachment's display fields or lifetime (of `scope`, if
   * given) in one transaction; returns the new record, or undefined if it was
   * not live. See `applyChanges`.
   */
  update(id: string, scope: string | undefined, changes: AttachmentChanges, now: number): Promise<AttachmentRecord | undefined>;
  /** Drops one live attachment (of `scope`, if given); returns it, or undefined if it was not live. */
  release(id: string, scope: string | undefined, now: number): Promise<AttachmentRecord | undefined>;
  /** Drops every live attachment of a scope; returns them. Expired ones are left to the sweep. */
  releaseScope(scope: string, now: number): Promise<AttachmentRecord[]>;
  /** Drops up to `limit` attachments whose expiry is at or before `now`, earliest first. */
  expireDue(now: number, limit: number): Promise<AttachmentRecord[]>;
  /** Every `reference`-mode attachment, in id order, in pages (for `verify`). */
  listReferences(afterId: string | null, limit: number): Promise<AttachmentRecord[]>;
  /**
   * Drops every attachment (live or expired) whose bytes are the managed blob
   * `digest`, but only while `condemnedBy` holds the blob's condemnation
   * (`verify`'s repair condemns damaged bytes first, so no stage can claim
   * them in between). Returns what it dropped.
   */
  dropCondemned(digest: string, condemnedBy: string): Promise<AttachmentRecord[]>;
  /** Drops one attachment whatever its state (used by `verify` repair). */
  drop(id: string): Promise<AttachmentRecord | undefined>;
}

/**
 * The bytes' rows, and the fence that keeps deleting bytes and staging the
 * same bytes again from racing, without holding a transaction across the
 * deletion:
 *
 *   1. condemn — a transaction marks blobs that nothing needs as condemned
 *      by one writer; from then on a stage of those bytes waits;
 *   2. delete  — the writer deletes the bytes, in batches, outside any
 *      transaction;
 *   3. forget  — a transaction drops the rows; a row that a stage needs
 *      meanwhile is revived instead (its bytes are gone: the stage writes
 *      them again once it sees the condemnation end).
 *
 * A writer that dies between the steps leaves condemned rows; once its
 * heartbeat is older than the grace period, a sweep takes them over
 * ({@link BlobTable.claimAbandoned}) and a waiting stage revives them
 * ({@link BlobTable.reviveAbandoned}).
 */
export interface BlobTable {
  get(digest: string): Promise<BlobRecord | undefined>;
  /** Whether any blob has this size: a cheap hint that bytes of a known size may already be stored. */
  hasSize(size: number): Promise<boolean>;
  /** Every blob row, in digest order, in pages (for `verify` and `reset`). */
  list(afterDigest: string | null, limit: number): Promise<BlobRecord[]>;
  /** Up to `limit` blobs no attachment uses and no writer condemned, in digest order after `afterDigest`. Leases and intents may still pin them. */
  unreferenced(afterDigest: string | null, limit: number): Promise<BlobRecord[]>;
  /**
   * Step 1, for blobs nothing needs: in one transaction, marks each of
   * `digests` that is not needed at `now` (and not condemned already) as
   * condemned by `writer`, and returns those. A digest with no row at all is
   * condemned too (with a row of size 0, returned as `rowless`) unless an intent or lease needs it:
   * a stage whose intent was dropped under it (a reset, a sweep) may have put
   * its bytes in place, and no row would ever own them.
   *
   * An unneeded INLINE blob has no bytes outside the transaction: its row
   * (and bytes) are deleted there and then, and it is returned with
   * `inline: true` and `condemnedBy: null` — the caller deletes nothing and
   * forgets nothing for it.
   */
  condemn(digests: readonly string[], now: number, writer: string): Promise<CondemnedBlob[]>;
  /**
   * The bytes of an inline blob (`BlobRecord.inline`), or `undefined` when
   * the digest has no inline row. Optional, with `commitInline`.
   */
  readInline?(digest: string): Promise<Buffer | undefined>;
  /**
   * Step 1, for damaged bytes (`verify`'s repair): condemns the blob by
   * `writer` even though attachments use it, unless an intent names it (a
   * stage in flight may be writing the bytes afresh) or it is condemned
   * already. `rowless: true` (a stray file that no row knows) condemns only
   * if there is still no row, inserting one of `size`. Returns the record, or
   * undefined if it did not condemn.
   */
  condemnDamaged(digest: string, writer: string, options?: { rowless?: boolean; size?: number }): Promise<BlobRecord | undefined>;
  /**
   * Step 3: for each of `digests` condemned by `writer`, drops its row — or,
   * when something needs the blob now (a stage that met the condemnation, a
   * lease), ends the condemnation and keeps the row. Returns the rows dropped.
   * A kept inline row loses its (damaged) bytes and becomes a blob-store row:
   * the stage that needed it writes the bytes again there.
   */
  forget(digests: readonly string[], writer: string, now: number): Promise<BlobRecord[]>;
  /** Ends `writer`'s condemnation of `digests` without deleting anything (the deletion failed or was called off). */
  spare(digests: readonly string[], writer: string): Promise<void>;
  /**
   * Takes over up to `limit` condemnations whose writer is gone (no row, or a
   * heartbeat at or before `staleBefore`) or is `writer` itself (the caller
   * leaves out those it still has in hand): they become `writer`'s, to finish
   * with delete and forget. Returns them.
   */
  claimAbandoned(staleBefore: number, writer: string, limit: number): Promise<BlobRecord[]>;
  /**
   * For a stage waiting on a condemned blob: ends the condemnation if its
   * writer is gone (as in {@link claimAbandoned}) or is `orWriter`. Returns
   * whether the blob is no longer condemned.
   */
  reviveAbandoned(digest: string, staleBefore: number, orWriter?: string): Promise<boolean>;
}

/**
 * What holds bytes in place for a while: intents (stages between "bytes
 * written" and "committed"), leases (readers), and the writers — one per
 * open store handle — whose heartbeats say that their intents, temp objects
 * and condemnations are still being worked on.
 */
export interface PinTable {
  /**
   * First step of a managed stage, before its bytes are put in place: records
   * the intent (which pins `digest` against deletion) and a blob row. Returns
   * `"condemned"` when the blob is condemned at that moment: the stage must
   * wait until the condemnation ends before it puts bytes in place.
   */
  beginStage(intent: IntentRecord, size: number): Promise<"ok" | "condemned">;
  /**
   * Records `intent` only if the blob's row exists and is not condemned: a
   * pin for work on a blob's existing bytes (giving a blob an inode of its
   * own). Returns whether it did.
   */
  holdBlob(intent: IntentRecord): Promise<boolean>;
  /** Drops an intent (a stage that failed or finished without a commit, or a hold that ended). */
  dropIntent(intentId: string): Promise<void>;
  /**
   * Intents created at or before `staleBefore` whose writer is gone (no row,
   * or a heartbeat at or before `staleBefore`), has none, or is `writer`
   * itself (the caller leaves out those still in flight).
   */
  staleIntents(staleBefore: number, writer: string, limit: number): Promise<IntentRecord[]>;
  /** Every temp name an intent still names (so the temp sweep leaves them to the intent pass). */
  intentTempNames(): Promise<Set<string>>;

  /** Pins a live attachment's bytes; undefined if it is not live (or not of `scope`). */
  addLease(lease: LeaseRecord, scope: string | undefined, now: number): Promise<AttachmentRecord | undefined>;
  removeLease(id: string): Promise<LeaseRecord | undefined>;
  /** Whether the lease row exists (expired or not): its named path, if any, is still owned. */
  hasLease(id: string): Promise<boolean>;
  /** Which of `digests` a lease unexpired at `now` pins (a local cache keeps those). */
  leasedDigests(digests: readonly string[], now: number): Promise<Set<string>>;
  /** Drops leases that expired at or before `before`; returns them. */
  reclaimLeases(before: number, limit: number): Promise<LeaseRecord[]>;

  /** Registers a writer (or refreshes it, if the id is known). */
  registerWriter(writer: WriterRecord): Promise<void>;
  /** Refreshes a writer's heartbeat; false if its row is gone (a sweep took it for dead: register again). */
  heartbeat(id: string, now: number): Promise<boolean>;
  /** Unregisters a writer (a store closing). */
  removeWriter(id: string): Promise<void>;
  /** Ids of writers whose heartbeat is later than `staleBefore`. Small: one per open store handle. */
  liveWriters(staleBefore: number): Promise<Set<string>>;
  /** Drops writers whose heartbeat is at or before `staleBefore` and that hold no intent or condemnation; returns how many. */
  forgetStaleWriters(staleBefore: number): Promise<number>;
}

/** A blob as {@link BlobTable.condemn} condemned it. */
export interface CondemnedBlob extends BlobRecord {
  /** There was no row: one was inserted only to fence the deletion of bytes no row owned. */
  rowless?: boolean;
}

/**
 * The upload ledger: which bytes (by digest) are held by which destination
 * (a provider account and the options that change what a remote file may be
 * used for) under which remote id, shared by every process on the store. It
 * is also the single flight across processes: an upload in progress is a row
 * claimed by a holder, who keeps it fresh (`touch`) and records the remote
 * upload's progress (`checkpoint`) so that another process can resume it
 * once the holder is gone.
 */
export interface UploadLedger {
  get(destination: string, digest: string): Promise<UploadRow | undefined>;
  /**
   * Claims the upload of `digest` to `destination` for `holder`, in one
   * transaction: `"done"` when a finished entry exists (the caller checks
   * its expiry); `"busy"` when another holder claimed it and touched it after
   * `staleBefore`; otherwise `"claimed"` (a new row, or one taken over from a
   * holder that is gone or a finished entry being replaced, keeping any resume
   * state) — unless `replace` is false and the row is finished.
   */
  claim(destination: string, digest: string, holder: string, size: number, now: number, staleBefore: number, replace: boolean): Promise<UploadClaim>;
  /** Keeps `holder`'s claim fresh; false if it lost the claim (another process took it over). */
  touch(destination: string, digest: string, holder: string, now: number): Promise<boolean>;
  /** Records the remote upload's progress (opaque JSON from the destination) while `holder` has the claim; false if it lost it. */
  checkpoint(destination: string, digest: string, holder: string, resume: unknown): Promise<boolean>;
  /** Records the finished upload and ends the claim; returns the row. Undefined if `holder` lost the claim. */
  complete(destination: string, digest: string, holder: string, remote: RemoteEntry, now: number): Promise<UploadRow | undefined>;
  /** Ends `holder`'s claim without a result (a failure or an abort): the resume state stays for the next attempt. */
  release(destination: string, digest: string, holder: string): Promise<void>;
  /** Forgets an entry (the remote file is gone, or was deleted); with `remoteId`, only if the entry still names it. */
  drop(destination: string, digest: string, remoteId?: string): Promise<void>;
  /**
   * Up to `limit` finished entries of `destination` whose digest no live
   * attachment (at `now`) uses, after `afterDigest` in digest order: remote
   * files to delete for a destination made with `deleteWhenUnused`.
   */
  unused(destination: string, now: number, afterDigest: string | null, limit: number): Promise<UploadRow[]>;
  /** Finished entries in (destination, digest) order after `after`, at most `limit`: `attache uploads`. */
  list(after: { destination: string; digest: string } | null, limit: number): Promise<UploadRow[]>;
  /** Finished entries and their bytes, per destination. */
  totals(): Promise<{ destination: string; files: number; bytes: number }[]>;
  /** Forgets finished entries whose remote file expired at or before `now` (the provider deleted it); returns how many. */
  dropExpired(now: number): Promise<number>;
}

/** One ledger entry: finished (`remoteId` set) or in progress (`holder` set). */
export interface UploadRow {
  destination: string;
  digest: string;
  size: number;
  remoteId: string | null;
  /** Gemini's `fileUri`, when the destination reports one. */
  uri: string | null;
  uploadedAt: number | null;
  expiresAt: number | null;
  /** Who is uploading now (a writer id), or `null`. */
  holder: string | null;
  heartbeatAt: number | null;
  /** The destination's resume state for an unfinished upload, or `null`. */
  resume: unknown;
}

export type UploadClaim = { kind: "claimed"; resume: unknown } | { kind: "busy"; row: UploadRow } | { kind: "done"; row: UploadRow };

export interface RemoteEntry {
  remoteId: string;
  uri: string | null;
  expiresAt: number | null;
}

/** One open store handle, as the manifest knows it. */
export interface WriterRecord {
  id: string;
  /** Host name and process id, for operators reading the table. */
  host: string;
  pid: number;
  startedAt: number;
  heartbeatAt: number;
}

export interface AttachmentRecord {
  /** The blob's bytes are kept in the manifest (`BlobTable.readInline`); absent or false otherwise. Ignored for a `reference`. */
  inline?: boolean;
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

export interface BlobRecord {
  digest: string;
  size: number;
  /** Attachments (live or expired) using it. */
  refs: number;
  createdAt: number;
  /** The writer that condemned it (its bytes are being deleted), or `null`. */
  condemnedBy: string | null;
  /** The bytes are kept in the manifest (`commitInline`, `readInline`), not in the blob store. */
  inline?: boolean;
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
  /** The writer whose stage this is (its heartbeat protects the intent), or `null` for none. */
  writer?: string | null;
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
