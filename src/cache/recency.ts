/**
 * A copy's recency is its mtime, so that every process sharing the cache
 * directory orders copies the same way without any shared state but the
 * files. A use moves the mtime to the clock, at most once a minute per copy
 * (recency is a hint, and a touch is a write). Besides, this process
 * remembers which copies it handed out in the last few seconds, so that its
 * own evictions spare them (see local-cache.ts).
 */
import type { FileSystem } from "../fs-seam.js";
import { Generations } from "../generations.js";

/** A copy's mtime is moved at most this often. */
const TOUCH_INTERVAL_MS = 60_000;
/** How long a path handed out by this process is spared by its evictions. */
const SERVED_GRACE_MS = 5_000;
/** Past this many remembered hand-outs, the older half is forgotten (generations.ts). */
const SERVED_LIMIT = 4096;

export class Recency {
  private readonly served = new Generations<string, number>(SERVED_LIMIT);

  constructor(
    private readonly fs: FileSystem,
    private readonly clock: () => number,
  ) {}

  /** True when a copy last touched at `mtimeMs` is due a touch. */
  isStale(mtimeMs: number): boolean {
    return this.clock() - mtimeMs >= TOUCH_INTERVAL_MS;
  }

  /** Sets `file`'s mtime to the clock. A copy gone meanwhile, or any failure, is ignored: the next use touches it again. */
  async touch(file: string): Promise<void> {
    const seconds = this.clock() / 1000;
    try {
      const handle = await this.fs.open(file, "r");
      await handle.utimes(seconds, seconds).finally(() => handle.close());
    } catch {
      // Recency is a hint.
    }
  }

  /**
   * Records that this process handed out the copy of `digest` now; constant
   * work however many copies are handed out. Of many hand-outs in a few
   * seconds (more than the limit), the older ones may be forgotten early:
   * an eviction may then take their copies, as it may any path from `resolve()`.
   */
  markServed(digest: string): void {
    this.served.set(digest, this.clock());
  }

  /** True when this process handed out the copy of `digest` in the last few seconds. */
  isServing(digest: string): boolean {
    const at = this.served.get(digest);
    return at !== undefined && this.clock() - at < SERVED_GRACE_MS;
  }

  /** A listed copy's recency: its mtime, or this process's last hand-out if later. */
  lastUse(digest: string, mtimeMs: number): number {
    return Math.max(mtimeMs, this.served.get(digest) ?? -Infinity);
  }
}
