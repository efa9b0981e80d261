import type { Readable } from "node:stream";
import type { RenderLimits, RenderTarget } from "./deliver/types.js";
import type { Duration } from "./duration.js";
import type { Destination } from "./providers/destination.js";
import type { UrlFetchOptions } from "./url/fetch-options.js";

/** Who owns the bytes of an attachment. */
export type StageMode = "copy" | "move" | "reference";

/** One scope's reference to a blob, as returned by every read of the store. */
export interface Attachment {
  /** `attache://<id>`: safe to keep in chat history; valid across restarts. */
  readonly ref: string;
  readonly id: string;
  readonly scope: string;
  /** Display name only (sanitised basename); never used to build a path. */
  readonly name: string;
  readonly size: number;
  readonly contentType: string;
  /** `sha256:<hex>` */
  readonly digest: string;
  /** The hex SHA-256 alone. */
  readonly checksum: string;
  /**
   * A local file holding the bytes, when one exists on this host at that
   * moment: the managed blob's file, the outside file in `reference` mode, or
   * a verified copy in the local cache (a blob store without local files,
   * such as the memory store or S3). `null` when the bytes are held
   * elsewhere and not cached here: `resolve()` and `lease()` always produce
   * a file.
   */
  readonly path: string | null;
  readonly mode: StageMode;
  readonly persist: boolean;
  /** The ttl of the staging that set the current expiry; `null` = never expires. */
  readonly ttlMs: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** `null` = never expires. */
  readonly expiresAt: Date | null;
  /** Provenance label such as `"telegram"` or `"tool:image-gen"`. */
  readonly source: string | null;
  readonly metadata: Record<string, unknown>;
}

/**
 * Anything `stage` accepts. A string is always a path; pass a `URL` for
 * `file:` URLs, and for `http:`/`https:` URLs, which are fetched under the
 * SSRF guard (see {@link StageOptions.fetch}).
 */
export type StageSource =
  | string
  | URL
  | Uint8Array
  | Blob
  | Readable
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>;

/** Options of {@link Store.stage}. */
export interface StageOptions {
  /** @default "default" (or the scope of the handle) */
  scope?: string;
  /** Display name; defaults to the path's basename, a `File`'s name, or `"attachment"`. */
  name?: string;
  /** Declared content type; otherwise sniffed from the bytes, then the name's extension. */
  contentType?: string;
  /** @default the store's `defaultTtl` */
  ttl?: Duration;
  /** Never expire. @default false */
  persist?: boolean;
  /** Expected SHA-256: hex or `sha256:<hex>`, case-insensitive. */
  checksum?: string;
  /** A JSON object kept with the attachment. */
  metadata?: Record<string, unknown>;
  /** Provenance label such as `"telegram"` or `"tool:image-gen"`. */
  source?: string;
  /** @default "copy" */
  mode?: StageMode;
  signal?: AbortSignal;
  /**
   * Called as bytes are read (after each chunk, about every MiB), with the
   * total when the source knows it (a path, a Buffer, a Blob). For progress bars.
   */
  onProgress?: (progress: StageProgress) => void;
  /** How an `http:`/`https:` URL source is fetched: headers, timeouts, redirects (see {@link UrlFetchOptions}). */
  fetch?: UrlFetchOptions;
}

export interface StageProgress {
  /** Bytes read and hashed so far. */
  bytes: number;
  /** The source's size, or `null` for a stream. */
  total: number | null;
}

/** Options of {@link Store.list} and {@link Store.iterate}. */
export interface ListOptions {
  scope?: string;
  /** @default all */
  limit?: number;
  /** An attachment `id`: continue after it. */
  after?: string;
  /** Also list attachments that expired and await the sweep. @default false */
  includeExpired?: boolean;
}

/** Options of {@link Store.lease}. */
/** What `update` may change. Each member is optional; an absent one stays as it is. */
export interface UpdateOptions {
  /** A new display name (sanitised like a staged one). */
  name?: string;
  /** New metadata: replaces the old object (it is not merged). */
  metadata?: Record<string, unknown>;
  /** A new lifetime counted from now; it may shorten the old one. `Infinity` = never expires. */
  ttl?: Duration;
  /**
   * `true`: never expires. `false` without `ttl`: expires after the store's
   * `defaultTtl` from now. `persist: true` with a finite `ttl` is INVALID_ARGUMENT.
   */
  persist?: boolean;
}

export interface LeaseOptions {
  /** How long the pin lasts if it is never released. @default "10m" */
  ttl?: Duration;
  /**
   * Give `lease.path` the attachment's display name (`…/<lease-id>/photo.jpg`)
   * instead of the blob's content address, for tools that dispatch on the
   * extension: a read-only file with the same bytes, removed when the lease
   * ends (or, after a crash, by the sweep). @default false
   */
  named?: boolean;
}

/** A pin on an attachment's bytes. Release it, or let `await using` dispose of it. */
export interface Lease extends AsyncDisposable {
  readonly id: string;
  readonly path: string;
  readonly attachment: Attachment;
  readonly expiresAt: Date;
  /** Ends the pin; idempotent. */
  release(): Promise<void>;
}

/** Options of `upload()`. */
export interface UploadOptions {
  /** Aborts the upload (ABORTED); its progress is kept in the ledger, so the next upload() resumes. */
  signal?: AbortSignal;
  /** Bytes the provider has so far, of `total`. */
  onProgress?: (progress: { bytes: number; total: number }) => void;
  /** Upload even when the ledger has a usable remote file. */
  force?: boolean;
  /** Confirm a ledger hit with one metadata request; a remote 404 or 403 drops the entry and uploads again. */
  verify?: boolean;
}

/** What `upload()` resolves to: where the bytes are held remotely. */
export interface UploadRecord {
  /** The destination's key (`"openai:<account hash>"`): never a credential. */
  readonly destination: string;
  /** The provider's file id (`file-…`, `file_…`, `files/…`). */
  readonly remoteId: string;
  /** Gemini's `fileUri`, for destinations that report one; else `null`. */
  readonly uri: string | null;
  /** `sha256:<hex>` */
  readonly digest: string;
  readonly size: number;
  readonly uploadedAt: Date;
  /** When the provider deletes the file, or `null`. */
  readonly expiresAt: Date | null;
  /** True when no bytes were sent: a ledger hit, or another caller's upload awaited. */
  readonly reused: boolean;
}

/** One entry of the upload ledger (`listUploads()`, `attache uploads`). */
export type UploadEntry = Omit<UploadRecord, "reused">;

/** Options of `render()`. */
export interface RenderOptions {
  /** `"inline"` (base64 or text), `"file"` (a remote id through `upload()` to `destination`), or `"auto"`: inline when it fits the target's limits, else by file. @default "auto" */
  via?: "auto" | "inline" | "file";
  /** Where `"file"` (and `"auto"` past the inline limits) uploads. */
  destination?: Destination;
  /** OpenAI image detail. */
  detail?: "auto" | "low" | "high";
  /** For `codex`: the lease whose path the part names (else the attachment's resolved path). */
  lease?: Lease;
  /** The target's inline limits, lowered or raised (bytes as sent: base64 counts 4/3). */
  limits?: Partial<RenderLimits>;
  /** Passed to `upload()` when rendering by file. */
  signal?: AbortSignal;
}

/** An attachment released when disposed (`await using`). */
/** What `stage()` resolves to: the attachment, and what the stage did. */
export interface StageResult extends Attachment {
  /**
   * True when this stage created the attachment; false when the scope already
   * held these bytes and got its existing attachment back (merged: see "Dedup"
   * in the README — name, type and metadata stay as first staged).
   */
  readonly created: boolean;
  /** True when the bytes were already stored (by any scope), so none were written. */
  readonly deduplicated: boolean;
}

/**
 * A staged attachment released on `await using` disposal or `release()` —
 * only when `created` is true: a temporary that got the scope's existing
 * attachment back never releases it (the other holder still relies on it).
 */
export type TemporaryAttachment = StageResult & AsyncDisposable & { release(): Promise<boolean> };

export interface SweepReport {
  /** Attachments dropped because they had expired. */
  expired: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** Temp files, unfinished intents and stale leases reclaimed. */
  orphansReclaimed: number;
  /** Remote files deleted (destinations made with `deleteWhenUnused`) because no live attachment uses their bytes. */
  remoteDeleted: number;
  /** Remote deletions that failed; retried by the next sweep. */
  remoteFailed: number;
  durationMs: number;
}

export interface CountAndBytes {
  count: number;
  bytes: number;
}

export interface Metrics {
  /** Live attachments. */
  attachments: number;
  /** Managed blobs on disk. */
  blobs: number;
  /** Scopes with at least one live attachment. */
  scopes: number;
  /** Sum of the sizes of live attachments. */
  logicalBytes: number;
  /** Sum of the sizes of managed blobs on disk. */
  storedBytes: number;
  /** `logicalBytes` minus the size of the distinct blobs live attachments use. */
  dedupSavedBytes: number;
  persistent: CountAndBytes;
  expirable: CountAndBytes;
  /** Expired attachments awaiting the sweep. */
  expired: CountAndBytes;
  /** Leases currently pinning bytes. */
  leases: number;
  /** The earliest future expiry, or `null`. */
  nextExpiryAt: Date | null;
  /** Files held by providers, from the upload ledger: in all, and per destination key. */
  remote: CountAndBytes & { destinations: Record<string, CountAndBytes> };
}

/**
 * One scope's usage: `metrics({ scope })`, a scoped handle's `metrics()`,
 * and each entry of `largestScopes()`. Read from running totals and indexes
 * bounded by the scope, never a scan of the store. The store-wide figures of
 * {@link Metrics} are left out: blobs and stored bytes are shared between
 * scopes (one blob may serve many), and a scope never holds the same bytes
 * twice, so it has no dedup savings of its own.
 */
export interface ScopeMetrics {
  scope: string;
  /** Live attachments of the scope. */
  attachments: number;
  /** Sum of the sizes of the scope's live attachments. */
  logicalBytes: number;
  persistent: CountAndBytes;
  expirable: CountAndBytes;
  /** The scope's expired attachments awaiting the sweep. */
  expired: CountAndBytes;
  /**
   * Unexpired leases on the scope's attachments that are still recorded. A
   * lease whose attachment was released (or swept) still pins its bytes and
   * counts in the store-wide `leases`, no longer here.
   */
  leases: number;
  /** The earliest future expiry among the scope's attachments, or `null`. */
  nextExpiryAt: Date | null;
}

export interface LargestScopesOptions {
  /** How many scopes, at most. A positive integer. @default 10 */
  limit?: number;
}

export interface VerifyOptions {
  /** Drop attachments whose bytes are corrupt or missing, and delete stray files. @default false */
  repair?: boolean;
  /** Called after each blob or reference file is checked. For progress bars. */
  onProgress?: (progress: { blobsChecked: number; bytesChecked: number }) => void;
}

export interface VerifyReport {
  blobsChecked: number;
  bytesChecked: number;
  /** Digests whose bytes no longer hash to their digest. */
  corrupt: string[];
  /** Digests whose file is gone. */
  missing: string[];
  /** Files in the store's directory that no row knows. */
  orphanFiles: string[];
  /** Attachments dropped and files deleted by `repair`. */
  repaired: number;
  /**
   * What the manifest backend's own integrity check found (SQLite's
   * `PRAGMA integrity_check`, one line per problem); `[]` when it is sound.
   * When it is not, the rest of the report is what could still be read (a
   * damaged page cuts the listing short) and `repair` changes nothing: a
   * damaged manifest cannot tell which attachments and files are really
   * needed. Restore `manifest.db` from a backup (or salvage it with the
   * `sqlite3` shell's `.recover`) before repairing.
   */
  manifestProblems: string[];
}

/** The operations confined to one scope. */
export interface ScopedStore {
  readonly scope: string;
  stage(source: StageSource, options?: Omit<StageOptions, "scope">): Promise<StageResult>;
  get(ref: string): Promise<Attachment>;
  resolve(ref: string): Promise<{ path: string; attachment: Attachment }>;
  read(ref: string): Promise<Buffer>;
  open(ref: string): Promise<Readable>;
  lease(ref: string, options?: LeaseOptions): Promise<Lease>;
  list(options?: Omit<ListOptions, "scope">): Promise<Attachment[]>;
  iterate(options?: Omit<ListOptions, "scope">): AsyncIterable<Attachment>;
  temporary(source: StageSource, options?: Omit<StageOptions, "scope">): Promise<TemporaryAttachment>;
  /** Changes one of this scope's live attachments: name, metadata or lifetime (see {@link UpdateOptions}). */
  update(ref: string, changes: UpdateOptions): Promise<Attachment>;
  /** This scope's counts and bytes (`store.metrics({ scope })`). */
  metrics(): Promise<ScopeMetrics>;
  /** Uploads one of this scope's attachments to a provider's Files API once (see `Store.upload`). */
  upload(ref: string, destination: Destination, options?: UploadOptions): Promise<UploadRecord>;
  /** One of this scope's attachments as one content part for `target`'s API (see `Store.render`). */
  render(ref: string, target: RenderTarget, options?: RenderOptions): Promise<Record<string, unknown>>;
  /** With a ref: drops one of this scope's attachments. Without: the whole scope (returns the count). */
  release(ref: string): Promise<boolean>;
  release(): Promise<number>;
}

/** The whole store. */
export interface Store extends AsyncDisposable {
  readonly dir: string;
  scope(name: string): ScopedStore;
  stage(source: StageSource, options?: StageOptions): Promise<StageResult>;
  get(ref: string): Promise<Attachment>;
  resolve(ref: string): Promise<{ path: string; attachment: Attachment }>;
  read(ref: string): Promise<Buffer>;
  open(ref: string): Promise<Readable>;
  lease(ref: string, options?: LeaseOptions): Promise<Lease>;
  list(options?: ListOptions): Promise<Attachment[]>;
  iterate(options?: ListOptions): AsyncIterable<Attachment>;
  temporary(source: StageSource, options?: StageOptions): Promise<TemporaryAttachment>;
  /**
   * Changes a live attachment's display name, metadata or lifetime without
   * staging it again (see {@link UpdateOptions}); NOT_FOUND if it is not live.
   */
  update(ref: string, changes: UpdateOptions): Promise<Attachment>;
  release(ref: string): Promise<boolean>;
  releaseScope(scope: string): Promise<number>;
  sweep(): Promise<SweepReport>;
  /** The whole store's metrics; with `{ scope }`, that scope's counts and bytes. */
  metrics(options?: { scope?: undefined }): Promise<Metrics>;
  metrics(options: { scope: string }): Promise<ScopeMetrics>;
  /** The scopes holding the most live bytes, most first (ties by scope), from an index. */
  largestScopes(options?: LargestScopesOptions): Promise<ScopeMetrics[]>;
  verify(options?: VerifyOptions): Promise<VerifyReport>;
  /**
   * Uploads the attachment's bytes to a provider's Files API — once: the
   * manifest's ledger remembers (destination, digest) → remote id for every
   * process on the store, so a later call returns `reused: true` without a
   * request. Concurrent calls share one upload; a large file goes in parts
   * and resumes after a crash or abort. Fails with UPLOAD_FAILED
   * (`destination`, `status`, `retryable`), TOO_LARGE, INTEGRITY_ERROR or
   * ABORTED.
   */
  upload(ref: string, destination: Destination, options?: UploadOptions): Promise<UploadRecord>;
  /**
   * The attachment as one content part of `target`'s API, plain JSON:
   * inline (base64 or text) when it fits the target's limits, else by file
   * id through `upload()` to `options.destination`; UNSUPPORTED for a type
   * the target cannot take, TOO_LARGE when it cannot be inlined and no
   * destination is given.
   */
  render(ref: string, target: RenderTarget, options?: RenderOptions): Promise<Record<string, unknown>>;
  /** The upload ledger: every remote file the store knows, by destination key then digest (optionally one destination's). */
  listUploads(options?: { destination?: string; limit?: number }): Promise<UploadEntry[]>;
  reset(): Promise<void>;
  close(): Promise<void>;
}
