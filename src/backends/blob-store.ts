import type { Readable } from "node:stream";
import type { FileIdentity } from "../file-identity.js";

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
   * local files. A `move` from the same device is a hard link (`linkFile`);
   * from elsewhere it is a copy, then an unlink.
   */
  localDevice(): Promise<number | null>;
  /** A fresh temp name, for a `move` to link its file in under (stores with `linkFile` have it). */
  newTempName?(): string;
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
  linkFile?(sourcePath: string, tempName: string, identity: FileIdentity): Promise<"linked" | "changed" | "unsupported">;
  /**
   * Makes the blob's file its own: if something outside the store still
   * shares its inode (a `move` whose final unlink failed or was cut by a
   * crash, or an older version's move), its bytes are copied to a new inode
   * that replaces it atomically, so a write to that outside file cannot
   * change the blob; and the file gets the store's mode. The swap runs
   * through `fence` (the manifest's `whileBlobKept`), so a blob deleted
   * meanwhile is not brought back. Returns whether it swapped in a copy.
   */
  secureBlob?(digest: string, fence: (swap: () => Promise<void>) => Promise<boolean>): Promise<boolean>;
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
  close(): Promise<void>;
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
  location: string;
  size: number;
  mtimeMs: number;
}
