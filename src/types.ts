import type { Readable } from "node:stream";
import type { Duration } from "./duration.js";

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
  /** Where the bytes are: the managed blob, or the outside file in `reference` mode. */
  readonly path: string;
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

/** Anything `stage` accepts. A string is always a path; pass a `URL` for `file:` URLs. */
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
export interface LeaseOptions {
  /** How long the pin lasts if it is never released. @default "10m" */
  ttl?: Duration;
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
  release(ref: string): Promise<boolean>;
  releaseScope(scope: string): Promise<number>;
  sweep(): Promise<SweepReport>;
  metrics(): Promise<Metrics>;
  verify(options?: VerifyOptions): Promise<VerifyReport>;
  reset(): Promise<void>;
  close(): Promise<void>;
}
