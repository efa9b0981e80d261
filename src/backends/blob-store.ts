import type { Readable } from "node:stream";
import type { FileIdentity } from "../file-identity.js";

/**
 * Bytes by digest. A blob store knows nothing about attachments, scopes or
 * lifetimes: the manifest decides what may be deleted and when, and the store
 * facade composes the two. Digests here are lowercase hex SHA-256.
 *
 * Nothing here assumes the bytes are files on this host: a store whose blobs
 * are local files says so with the {@link BlobStore.local} capability; for
 * the others the store keeps verified copies in a local cache when a caller
 * needs a path.
 */
export interface BlobStore {
  /** A short name for messages and telemetry ("filesystem", "memory"). */
  readonly kind: string;
  /** Prepares the store (directories, permissions). Called once by `openStore`. */
  open(): Promise<void>;
  /**
   * Starts a new temp object for `writer` (the id the store registered in the
   * manifest: its heartbeat protects the temp object from the sweep). The
   * caller hashes the bytes as it writes them. Name temp objects with
   * {@link tempNameFor}.
   */
  createWriter(writer: string): Promise<BlobWriter>;
  /**
   * Puts a finished temp object in place as the blob `digest`. When the blob
   * is already there with the same size, the temp object is discarded instead.
   * Returns whether bytes were put in place.
   */
  commit(tempName: string, digest: string, size: number): Promise<boolean>;
  /** Size of the blob, or `null` if it is not there. */
  stat(digest: string): Promise<number | null>;
  /**
   * Streams the blob's bytes — or the bytes [start, end) of `range` (an
   * upload sends a large blob in parts); fails with an ENOENT-coded error
   * if it is missing.
   */
  openRead(digest: string, range?: ByteRange): Promise<Readable>;
  /** Deletes the blob; deleting a missing blob is not an error. */
  delete(digest: string): Promise<void>;
  /** Deletes many blobs in as few requests as the backend allows (S3 `DeleteObjects`); optional, `delete` each otherwise. */
  deleteMany?(digests: readonly string[]): Promise<void>;
  /** Every object the store holds, for `verify`. Never used on a hot path. */
  list(): AsyncIterable<StoredObject>;
  /** Temp objects, for the sweep's orphan pass; small by construction. */
  listTemp(): Promise<TempObject[]>;
  /** Deletes a temp object; deleting a missing one is not an error. */
  removeTemp(tempName: string): Promise<void>;
  /** Deletes a stray object found by `list` (one whose name is not a digest the manifest knows). */
  removeStray(location: string): Promise<void>;
  /** Present when the blobs are files on this host: the capability behind `path`, `move` by link and `reference`. */
  readonly local?: LocalBlobFiles;
  close(): Promise<void>;
}

/** What a blob store whose blobs are local files can do besides. */
export interface LocalBlobFiles {
  /** Where the blob's file is (or would be), without touching it: the `path` reported on attachments. */
  pathOf(digest: string): string;
  /**
   * The device (`stat.dev`) the blobs live on. A `move` from the same device
   * is a hard link (`linkFile`); from elsewhere it is a copy, then an unlink.
   */
  device(): Promise<number>;
  /** A fresh temp name for `writer`, for a `move` to link its file in under. */
  newTempName(writer: string): string;
  /**
   * Links an outside file in as the temp object `tempName` (no copy), then
   * checks that what was linked is the very file that was hashed
   * (`identity`: device and inode of a regular file, with no link but its
   * own path and the new one). The outside file is left where it is; the
   * caller unlinks it once the attachment is committed and then calls
   * `secureBlob`. `"linked"`: the temp object holds the file's bytes;
   * `"changed"`: the path no longer names the hashed file (an editor saved
   * a new one over it, or a symlink was swapped in) and nothing was linked;
   * `"unsupported"`: it cannot be linked (another device, no hard links,
   * other links): copy instead.
   */
  linkFile(sourcePath: string, tempName: string, identity: FileIdentity): Promise<"linked" | "changed" | "unsupported">;
  /**
   * Makes the blob's file its own: if something outside the store still
   * shares its inode (a `move` whose final unlink failed or was cut by a
   * crash, or an older version's move), its bytes are copied to a new inode
   * that replaces it atomically, so a write to that outside file cannot
   * change the blob; and the file gets the store's mode (the copy is a temp
   * object of `writer`). `hold` runs the
   * copy and the swap while the manifest pins the blob (an intent, taken only if the blob
   * is kept and not condemned), so a blob deleted meanwhile is never brought
   * back; it resolves false, without running it, when the blob is going.
   * Returns whether it swapped in a copy.
   */
  secureBlob(digest: string, writer: string, hold: (swap: () => Promise<void>) => Promise<boolean>): Promise<boolean>;
}

/** Ids of writers are ULID-shaped (see ../ids.ts). */
const TEMP_NAME = /^([0-9a-hjkmnp-tv-z]{26})\.[0-9a-f]+\.tmp$/;

/** The temp name every backend gives `writer`'s temp objects: `<writer>.<random>.tmp`. */
export function tempNameFor(writer: string, random: string): string {
  return `${writer}.${random}.tmp`;
}

/** The writer a temp object belongs to, or `null` for a name not made by {@link tempNameFor} (an older version's, or a stranger's). */
export function writerOfTemp(name: string): string | null {
  return TEMP_NAME.exec(name)?.[1] ?? null;
}

/** Bytes [start, end) of a blob. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A temp object being written. Writes may be issued without awaiting each one; `finish` waits for all. */
export interface BlobWriter {
  readonly tempName: string;
  /**
   * Appends bytes. The writer takes its own copy of `chunk` before this call
   * returns (synchronously), so the caller may reuse or change the chunk at
   * once and the bytes written are exactly the bytes the caller hashed in the
   * same turn. Resolves when the writer can take more (it keeps a write in flight).
   */
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
  /** The writer whose temp object it is (see {@link writerOfTemp}), or `null`. */
  writer: string | null;
  location: string;
  size: number;
  mtimeMs: number;
}
