/**
 * The local file cache's public shapes. The cache keeps read-only, verified
 * copies of blobs whose store has no local files (memory, S3), so that
 * `resolve()` and `lease()` can always hand out a path; see local-cache.ts.
 */
import type { Readable } from "node:stream";
import type { FileSystem } from "../fs-seam.js";
import type { ByteSize } from "./byte-size.js";

export interface LocalCacheOptions {
  /** The cache's directory; `sha256/` and `tmp/` are created inside it, all 0700. */
  dir: string;
  /**
   * The size past which least-recently-used unpinned copies are evicted: a
   * number of bytes or a string such as `"10GiB"` (see `parseByteSize`).
   * `Infinity` never evicts. Pinned copies stay even past it.
   */
  maxBytes: ByteSize;
  /**
   * Which of `digests` (lowercase hex) are pinned now, i.e. held by an
   * unexpired lease: eviction never removes those. Asked in batches of a few
   * hundred. If it rejects, that eviction removes nothing more.
   */
  isPinned: (digests: string[]) => Promise<Set<string>>;
  /** Epoch milliseconds: the mtimes the cache sets and compares. @default Date.now */
  clock?: () => number;
  /** @default node:fs/promises */
  fileSystem?: FileSystem;
  /**
   * fsync each copy before renaming it into place. Without it a power cut
   * could leave a copy of the right size holding other bytes, and a copy of
   * the right size is trusted without rehashing. @default true
   */
  fsync?: boolean;
}

/**
 * Where a missing copy's bytes come from: the blob store's stream of them.
 * `signal` fires when nobody waits for the copy any more (or the cache
 * closes): abort the request.
 */
export type FetchBlob = (signal: AbortSignal) => Promise<Readable | AsyncIterable<Uint8Array>>;

/** A copy being filled by the stage that stores the same bytes (see {@link LocalCache.writeThrough}). */
export interface CacheWriteThrough {
  /** Takes its own copy of `chunk` before returning; never throws and never waits. */
  write(chunk: Uint8Array): void;
  /**
   * Verifies what was written against `digest` (lowercase hex) and `size`,
   * and moves it into the cache. Resolves to the copy's path, or `null` when
   * the write-through failed (a full disk, a disk slower than the stage, more
   * bytes than the whole cache, a mismatch): it never rejects, and leaves no
   * temp file behind. Call once.
   */
  commit(digest: string, size: number): Promise<string | null>;
  /** Drops what was written (the stage failed). Never rejects. */
  abort(): Promise<void>;
}

/** What a prune or an eviction removed. */
export interface CacheRemoval {
  files: number;
  bytes: number;
}

export interface LocalCache {
  /** The cache's directory, absolute. */
  readonly dir: string;
  /** `maxBytes`, parsed. */
  readonly maxBytes: number;
  /** The bytes of the copies in the cache, as last scanned, updated by this process's own inserts and removals. */
  readonly usedBytes: number;
  /** Creates the directories and scans the cache. Idempotent; the other async methods call it. */
  open(): Promise<void>;
  /** Where the copy of `digest` lives (whether or not it is there). */
  pathOf(digest: string): string;
  /**
   * The path of a verified, read-only copy of `digest`, fetched now if the
   * cache has none of `size` bytes. Fails with `INTEGRITY_ERROR` when the
   * fetched bytes do not match, `IO_ERROR` when the fetch or the disk fails
   * (`retryable` from the cause), `ABORTED` on `signal`; nothing is left
   * behind. The path is not kept: hold a lease to keep it (see local-cache.ts).
   */
  ensure(digest: string, size: number, fetch: FetchBlob, signal?: AbortSignal): Promise<string>;
  /**
   * The path of the copy of `digest` if one of `size` bytes is there now,
   * else `null`. Synchronous (one `lstat`, outside the `fileSystem` seam);
   * counts as a use.
   */
  pathIfCached(digest: string, size: number): string | null;
  /** Starts a copy fed by a stage's own chunks. */
  writeThrough(): CacheWriteThrough;
  /** Removes the copy of `digest` (its blob was deleted); resolves to whether there was one. */
  drop(digest: string): Promise<boolean>;
  /** Runs an eviction now (inserts start one by themselves when the cache is past `maxBytes`). */
  evict(): Promise<CacheRemoval>;
  /**
   * Removes the copies whose digest `keep` does not return (it is asked in
   * batches: return those of the given digests that the store still holds)
   * and temp files whose mtime is more than `olderThanMs` before the clock.
   * If `keep` rejects, the prune stops and rejects (what it removed until then stays removed).
   */
  prune(keep: (digests: string[]) => Promise<Set<string>>, olderThanMs: number): Promise<CacheRemoval>;
  /** Aborts fetches and write-throughs in progress and waits for them. Later calls fail with `STORE_CLOSED`. */
  close(): Promise<void>;
}
