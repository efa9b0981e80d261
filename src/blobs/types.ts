import type { Readable } from "node:stream";

/**
 * Bytes by digest. A blob store knows nothing about attachments, scopes or
 * lifetimes: the manifest decides what may be deleted and when, and the store
 * facade composes the two. Digests here are lowercase hex SHA-256.
 */
export interface BlobStore {
  /** A short name for messages and telemetry ("filesystem", "memory"). */
  readonly kind: string;
  /** Prepares the store (directories, permissions). Called once by `openStore`. */
  open(): Promise<void>;
  /** Starts a new temp object; the caller hashes the bytes as it writes them. */
  createWriter(): Promise<BlobWriter>;
  /**
   * Puts a finished temp object in place as the blob `digest`. When the blob
   * is already there with the same size, the temp object is discarded instead.
   * Returns whether bytes were put in place.
   */
  commit(tempName: string, digest: string, size: number): Promise<boolean>;
  /**
   * The device (`stat.dev`) the blobs live on, or `null` for a store without
   * local files. A `move` from the same device is a hard link (`adoptFile`);
   * from elsewhere it is a copy, then an unlink.
   */
  localDevice(): Promise<number | null>;
  /**
   * Takes over an outside file as the blob `digest` by hard-linking it in,
   * when the store can do that (same filesystem); `null` when it cannot. The
   * source is left in place: the caller removes it once the attachment is
   * committed, so no crash or failure can lose it. Returns whether bytes were
   * put in place (`false`: the blob was already there).
   */
  adoptFile(sourcePath: string, digest: string, size: number): Promise<boolean | null>;
  /** Size of the blob, or `null` if it is not there. */
  stat(digest: string): Promise<number | null>;
  /** Streams the blob's bytes; fails with an ENOENT-coded error if it is missing. */
  openRead(digest: string): Promise<Readable>;
  /**
   * Where the blob's local file is (or would be), without touching it. This
   * is the `path` reported on attachments.
   */
  pathOf(digest: string): string;
  /** Makes sure a local file holds the blob's bytes (stores that keep bytes elsewhere write it now) and returns its path. */
  localPath(digest: string): Promise<string>;
  /** Deletes the blob; deleting a missing blob is not an error. */
  delete(digest: string): Promise<void>;
  /** Every object the store holds, for `verify`. Never used on a hot path. */
  list(): AsyncIterable<StoredObject>;
  /** Temp objects, for the sweep's orphan pass; small by construction. */
  listTemp(): Promise<TempObject[]>;
  /** Deletes a temp object; deleting a missing one is not an error. */
  removeTemp(tempName: string): Promise<void>;
  /** Deletes a stray object found by `list` (one whose name is not a digest the manifest knows). */
  removeStray(location: string): Promise<void>;
  /** Deletes every blob and temp object (`reset`). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

/** A temp object being written. Writes may be issued without awaiting each one; `finish` waits for all. */
export interface BlobWriter {
  readonly tempName: string;
  /** Appends bytes. Resolves when the writer can take more (it keeps a few writes in flight). */
  write(chunk: Uint8Array): Promise<void>;
  /** Waits for every write and makes the bytes durable. */
  finish(): Promise<void>;
  /** Discards everything written; safe to call more than once and after `finish`. */
  abort(): Promise<void>;
}

export interface StoredObject {
  /** The hex digest the object is filed under, or `null` for a file that is not named like one. */
  digest: string | null;
  /** Where it is: a path for the filesystem store, a key otherwise. */
  location: string;
  size: number;
}

export interface TempObject {
  name: string;
  location: string;
  size: number;
  mtimeMs: number;
}
