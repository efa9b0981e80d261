/**
 * The local file cache (layout in cache-layout.ts, shapes in types.ts).
 *
 * - **Filling.** `ensure` fetches a missing copy into a temp file, hashing as
 *   it writes (fetched-bytes.ts), checks size and digest, makes it read-only,
 *   fsyncs it (see `fsync`), and renames it into place: a copy is either
 *   absent or whole and verified. One fetch per digest at a time within a
 *   process (fetch-flights.ts); across processes the rename is atomic and a
 *   whole copy already there wins. A copy found with the wrong size is
 *   replaced. The staging host fills its cache as it stages (write-through.ts).
 * - **Recency** is a copy's mtime, set to the clock when it is placed and on
 *   use at most once a minute, so processes sharing the directory share one
 *   LRU order without any shared state but the files.
 * - **Eviction** starts after an insert takes the running total past
 *   `maxBytes`. It rescans the directory (other processes' copies count),
 *   then removes least-recently-used copies until under, never one that
 *   `isPinned` reports (leased: kept even past `maxBytes`), one this process
 *   is fetching, or one it handed out in the last few seconds (so that the
 *   eviction an insert starts does not remove the copy just fetched). So a
 *   path from `resolve()` is not kept: once those seconds have passed an
 *   eviction may remove it, and another process's at once. A lease is kept.
 * - **Pruning** (run by each host's sweep) drops copies of blobs gone from
 *   the store, so released bytes vanish from every cache, and temp files left
 *   by crashes.
 *
 * A removal checks, right before the unlink, that the file is still the one
 * it listed (inode, size, mtime): a copy replaced or touched meanwhile by
 * another process stays. Within this process, fetches, hand-outs and
 * removals of one digest exclude each other. Across processes a window of
 * microseconds remains between that check and the unlink; a lease taken in
 * another process inside it would find its path gone.
 */
import { randomBytes } from "node:crypto";
import { lstatSync, type Stats } from "node:fs";
import path from "node:path";
import { aborted, invalidArgument, ioError, storeClosed } from "../errors.js";
import { lstatIfPresent } from "../file-identity.js";
import { errnoCode, nodeFileSystem, type FileSystem } from "../fs-seam.js";
import { makeDirectory } from "../make-directory.js";
import { Mutex } from "../mutex.js";
import { parseByteSize } from "./byte-size.js";
import { checkDigest, copiesRoot, copyPath, isUnchanged, listCopies, removeTempsOlderThan, sumOf, tempRoot, type CachedCopy } from "./cache-layout.js";
import { CacheTempFile } from "./cache-temp-file.js";
import { FetchFlights } from "./fetch-flights.js";
import { receiveFetchedBytes } from "./fetched-bytes.js";
import { Recency } from "./recency.js";
import type { CacheRemoval, CacheWriteThrough, FetchBlob, LocalCache, LocalCacheOptions } from "./types.js";
import { startWriteThrough } from "./write-through.js";

const DIR_MODE = 0o700;
const TEMP_MODE = 0o600;
/** A write-through gives up when the disk falls this far behind the stage. */
const WRITE_THROUGH_MAX_QUEUED = 16 << 20;
/** Digests per `isPinned` or `keep` call. */
const QUERY_BATCH = 256;

/** Creates a cache; no I/O until `open()` (or the first call that needs it). */
export function localCache(options: LocalCacheOptions): LocalCache {
  if (typeof options.dir !== "string" || options.dir === "") throw invalidArgument("The cache dir must be a non-empty path.");
  if (typeof options.isPinned !== "function") throw invalidArgument("isPinned must be a function resolving to the pinned digests.");
  return new FileCache(options, parseByteSize(options.maxBytes, "cacheSize"));
}

class FileCache implements LocalCache {
  readonly dir: string;
  usedBytes = 0;
  private readonly fs: FileSystem;
  private readonly clock: () => number;
  private readonly fsync: boolean;
  private readonly isPinned: (digests: string[]) => Promise<Set<string>>;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly knownDirs = new Set<string>();
  private readonly flights = new FetchFlights();
  /** Copies being removed; registered in the same synchronous turn as the checks that allow it. */
  private readonly removals = new Map<string, Promise<boolean>>();
  private readonly recency: Recency;
  /** This process's temp files in use (never pruned). */
  private readonly temps = new Set<CacheTempFile>();
  private readonly writeThroughs = new Set<() => Promise<void>>();
  /** Work `close()` waits for: touches, evictions, commits. */
  private readonly background = new Set<Promise<unknown>>();
  /** Evictions and prunes, one at a time. */
  private readonly upkeep = new Mutex();
  private evictionQueued = false;

  constructor(
    options: LocalCacheOptions,
    readonly maxBytes: number,
  ) {
    this.dir = path.resolve(options.dir);
    this.fs = options.fileSystem ?? nodeFileSystem;
    this.clock = options.clock ?? Date.now;
    this.fsync = options.fsync ?? true;
    this.isPinned = options.isPinned;
    this.recency = new Recency(this.fs, this.clock);
  }

  open(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(storeClosed());
    this.opening ??= this.openOnce().catch((err: unknown) => {
      this.opening = undefined;
      throw ioError(`open the local cache in ${this.dir}`, err, this.dir);
    });
    return this.opening;
  }

  private async openOnce(): Promise<void> {
    for (const dir of [this.dir, copiesRoot(this.dir), tempRoot(this.dir)]) {
      await makeDirectory(this.fs, dir, DIR_MODE);
      // mkdir's mode is filtered by the umask, and an existing directory keeps its own.
      await this.fs.chmod(dir, DIR_MODE);
      this.knownDirs.add(dir);
    }
    // Past maxBytes already (a smaller cacheSize than last time)? The next insert evicts.
    this.usedBytes = sumOf(await listCopies(this.fs, this.dir));
  }

  pathOf(digest: string): string {
    checkDigest(digest);
    return copyPath(this.dir, digest);
  }

  async ensure(digest: string, size: number, fetch: FetchBlob, signal?: AbortSignal): Promise<string> {
    this.checkArguments(digest, size);
    await this.open();
    for (;;) {
      if (signal?.aborted) throw aborted(signal.reason);
      if (this.closing !== undefined) throw storeClosed();
      const busy = this.removals.get(digest) ?? this.flights.blocking(digest, size);
      if (busy === undefined) return this.flights.join(digest, size, (flightSignal) => this.fill(digest, size, fetch, flightSignal), signal);
      await busy.catch(() => undefined);
    }
  }

  pathIfCached(digest: string, size: number): string | null {
    this.checkArguments(digest, size);
    if (this.removals.has(digest)) return null;
    const file = copyPath(this.dir, digest);
    let stats: Stats | undefined;
    try {
      stats = lstatSync(file, { throwIfNoEntry: false });
    } catch {
      return null;
    }
    if (stats === undefined || !stats.isFile() || stats.size !== size) return null;
    this.recency.markServed(digest);
    if (this.recency.isStale(stats.mtimeMs)) this.track(this.recency.touch(file));
    return file;
  }

  writeThrough(): CacheWriteThrough {
    const temp = this.startTemp(WRITE_THROUGH_MAX_QUEUED);
    const abort = (): Promise<void> => writer.abort();
    const writer = startWriteThrough(temp, {
      maxBytes: this.maxBytes,
      isClosed: () => this.closing !== undefined,
      install: (finished, digest, size) => this.install(finished, digest, size),
      track: (promise) => this.track(promise),
      onEnd: () => this.writeThroughs.delete(abort),
    });
    this.writeThroughs.add(abort);
    if (this.closing !== undefined) void abort();
    return writer;
  }

  async drop(digest: string): Promise<boolean> {
    checkDigest(digest);
    await this.open();
    for (;;) {
      const busy = this.flights.running(digest) ?? this.removals.get(digest);
      if (busy === undefined) return this.remove(digest, null);
      await busy.catch(() => undefined);
    }
  }

  async evict(): Promise<CacheRemoval> {
    await this.open();
    return this.upkeep.run(() => this.evictOnce());
  }

  async prune(keep: (digests: string[]) => Promise<Set<string>>, olderThanMs: number): Promise<CacheRemoval> {
    if (typeof olderThanMs !== "number" || !(olderThanMs >= 0)) {
      throw invalidArgument(`olderThanMs must be a non-negative number of milliseconds; got ${olderThanMs}.`);
    }
    await this.open();
    return this.upkeep.run(async () => {
      const spare = new Set([...this.temps].map((temp) => temp.path));
      const cutoff = this.clock() - olderThanMs;
      const removed = await this.listing(() => removeTempsOlderThan(this.fs, this.dir, cutoff, spare));
      const copies = await this.listing(() => listCopies(this.fs, this.dir));
      this.usedBytes = sumOf(copies);
      for (let start = 0; start < copies.length; start += QUERY_BATCH) {
        const batch = copies.slice(start, start + QUERY_BATCH);
        const kept = await keep(batch.map((copy) => copy.digest));
        for (const copy of batch) {
          if (kept.has(copy.digest) || this.flights.has(copy.digest) || this.removals.has(copy.digest)) continue;
          if (await this.remove(copy.digest, copy)) count(removed, copy.size);
        }
      }
      return removed;
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const pending: Promise<unknown>[] = this.flights.abortAll(storeClosed());
      for (const abort of [...this.writeThroughs]) pending.push(abort());
      await Promise.allSettled(pending);
      while (this.background.size > 0) await Promise.allSettled([...this.background]);
    })();
    return this.closing;
  }

  // --- Filling ---

  /** One flight's work: the copy in place if it is whole, else a fetch into a temp file, verified, installed. */
  private async fill(digest: string, size: number, fetch: FetchBlob, signal: AbortSignal): Promise<string> {
    const file = copyPath(this.dir, digest);
    let found: Stats | null;
    try {
      found = await lstatIfPresent(this.fs, file);
    } catch (err) {
      throw ioError(`look up ${file} in the local cache`, err, file);
    }
    if (found !== null && found.isFile() && found.size === size) {
      if (this.recency.isStale(found.mtimeMs)) await this.recency.touch(file);
      this.recency.markServed(digest);
      return file;
    }
    const temp = this.startTemp(Infinity);
    try {
      await receiveFetchedBytes(await fetch(signal), temp, { digest, size, file }, signal);
      return await this.install(temp, digest, size);
    } catch (err) {
      if (signal.aborted) throw this.closing !== undefined ? storeClosed() : aborted(signal.reason);
      throw ioError(`copy sha256:${digest} into the local cache`, err, file);
    } finally {
      await temp.discard();
    }
  }

  private startTemp(maxQueued: number): CacheTempFile {
    const root = tempRoot(this.dir);
    const file = path.join(root, `${randomBytes(12).toString("hex")}.tmp`);
    const opening = this.open().then(() => this.recreatingDir(root, () => this.fs.open(file, "wx", TEMP_MODE)));
    const temp: CacheTempFile = new CacheTempFile(this.fs, file, opening, maxQueued, () => this.temps.delete(temp));
    this.temps.add(temp);
    return temp;
  }

  /**
   * Finishes a verified temp file and renames it to its digest's place,
   * unless a whole copy is already there (another process, or this one's
   * write-through, won: the caller discards the temp). Returns the path.
   */
  private async install(temp: CacheTempFile, digest: string, size: number): Promise<string> {
    await temp.finish(this.clock(), this.fsync);
    const file = copyPath(this.dir, digest);
    for (let removal = this.removals.get(digest); removal !== undefined; removal = this.removals.get(digest)) {
      await removal.catch(() => undefined);
    }
    const existing = await lstatIfPresent(this.fs, file);
    if (existing === null || !existing.isFile() || existing.size !== size) {
      const fanDir = path.dirname(file);
      if (!this.knownDirs.has(fanDir)) {
        await makeDirectory(this.fs, fanDir, DIR_MODE);
        this.knownDirs.add(fanDir);
      }
      await this.recreatingDir(fanDir, () => this.fs.rename(temp.path, file));
      temp.moved();
      this.usedBytes += size - (existing?.isFile() ? existing.size : 0);
      if (this.usedBytes > this.maxBytes) this.queueEviction();
    } else if (this.recency.isStale(existing.mtimeMs)) {
      await this.recency.touch(file);
    }
    this.recency.markServed(digest);
    return file;
  }

  /** Runs `operation`; if it fails because `dir` is gone (someone emptied the cache), recreates it and tries once more. */
  private async recreatingDir<T>(dir: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      if (errnoCode(err) !== "ENOENT" || (await lstatIfPresent(this.fs, dir)) !== null) throw err;
      this.knownDirs.clear();
      await makeDirectory(this.fs, dir, DIR_MODE);
      return operation();
    }
  }

  // --- Eviction and removal ---

  private queueEviction(): void {
    if (this.evictionQueued || this.closing !== undefined) return;
    this.evictionQueued = true;
    const run = this.upkeep.run(() => {
      this.evictionQueued = false;
      return this.evictOnce();
    });
    // A background eviction that fails (isPinned unreachable) removes nothing more; the next insert tries again.
    this.track(run.catch(() => undefined));
  }

  private async evictOnce(): Promise<CacheRemoval> {
    const removed: CacheRemoval = { files: 0, bytes: 0 };
    if (this.closing !== undefined) return removed;
    const copies = await this.listing(() => listCopies(this.fs, this.dir));
    this.usedBytes = sumOf(copies);
    let excess = this.usedBytes - this.maxBytes;
    if (excess <= 0) return removed;
    const lastUse = (copy: CachedCopy) => this.recency.lastUse(copy.digest, copy.mtimeMs);
    copies.sort((a, b) => lastUse(a) - lastUse(b));
    for (let start = 0; start < copies.length && excess > 0 && this.closing === undefined; start += QUERY_BATCH) {
      const batch = copies.slice(start, start + QUERY_BATCH).filter((copy) => this.isEvictable(copy.digest));
      if (batch.length === 0) continue;
      let pinned: Set<string>;
      try {
        pinned = await this.isPinned(batch.map((copy) => copy.digest));
      } catch (err) {
        throw ioError("ask which cached copies are leased", err);
      }
      for (const copy of batch) {
        if (excess <= 0) break;
        // Checked again: a fetch or a hand-out may have begun while isPinned ran.
        if (pinned.has(copy.digest) || !this.isEvictable(copy.digest)) continue;
        if (await this.remove(copy.digest, copy)) {
          excess -= copy.size;
          count(removed, copy.size);
        }
      }
    }
    return removed;
  }

  private isEvictable(digest: string): boolean {
    return !this.flights.has(digest) && !this.removals.has(digest) && !this.recency.isServing(digest);
  }

  /**
   * Removes the copy of `digest`: whatever file is there (`listed` null), or
   * only the file `listed` describes if it is still that file. Registered in
   * `removals` before its first await, so fetches and hand-outs of the digest
   * wait or miss until it is done.
   */
  private remove(digest: string, listed: CachedCopy | null): Promise<boolean> {
    const file = copyPath(this.dir, digest);
    const removal = (async () => {
      try {
        const stats = await lstatIfPresent(this.fs, file);
        if (stats === null || !stats.isFile() || (listed !== null && !isUnchanged(listed, stats))) return false;
        await this.fs.unlink(file);
        this.usedBytes = Math.max(0, this.usedBytes - stats.size);
        return true;
      } catch (err) {
        if (errnoCode(err) === "ENOENT") return false;
        throw ioError(`remove ${file} from the local cache`, err, file);
      } finally {
        this.removals.delete(digest);
      }
    })();
    this.removals.set(digest, removal);
    return removal;
  }

  // --- Plumbing ---

  /** Runs a listing (or a removal of temps), naming a failure as the cache's. */
  private async listing<T>(list: () => Promise<T>): Promise<T> {
    try {
      return await list();
    } catch (err) {
      throw ioError(`list or clean the local cache in ${this.dir}`, err, this.dir);
    }
  }

  private checkArguments(digest: string, size: number): void {
    if (this.closing !== undefined) throw storeClosed();
    checkDigest(digest);
    if (!Number.isSafeInteger(size) || size < 0) throw invalidArgument(`A blob's size must be a whole number of bytes; got ${size}.`);
  }

  /** Keeps `promise` among the work `close()` waits for. */
  private track<T>(promise: Promise<T>): Promise<T> {
    this.background.add(promise);
    const forget = () => void this.background.delete(promise);
    promise.then(forget, forget);
    return promise;
  }
}

function count(removal: CacheRemoval, bytes: number): void {
  removal.files++;
  removal.bytes += bytes;
}
