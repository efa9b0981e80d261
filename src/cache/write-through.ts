/**
 * Write-through: the host that stages a blob keeps a copy in its cache as it
 * stages, without reading the bytes back. The store tees each staged chunk
 * into the writer (which copies and hashes it at once and never makes the
 * stage wait) and commits once the blob is committed. The cache is a
 * convenience: whatever goes wrong here (a full disk, a disk slower than the
 * stage, a blob larger than the whole cache, bytes that do not match) the
 * stage goes on, `commit` resolves to `null`, and the temp file is removed.
 */
import type { CacheTempFile } from "./cache-temp-file.js";
import { HEX_DIGEST } from "./cache-layout.js";
import type { CacheWriteThrough } from "./types.js";

/** What a write-through needs from its cache. */
export interface WriteThroughHost {
  /** The cache's size limit: a write-through past it gives up at once. */
  readonly maxBytes: number;
  /** True once the cache is closing. */
  isClosed(): boolean;
  /** Finishes a verified temp file and moves it into place; resolves to the copy's path. */
  install(temp: CacheTempFile, digest: string, size: number): Promise<string>;
  /** Keeps `promise` among the work the cache's `close()` waits for. */
  track<T>(promise: Promise<T>): Promise<T>;
  /** Called once, when the write-through is committed or aborted. */
  onEnd(): void;
}

export function startWriteThrough(temp: CacheTempFile, host: WriteThroughHost): CacheWriteThrough {
  let ended = false;
  let freeing = false;
  const end = (): boolean => {
    if (ended) return false;
    ended = true;
    host.onEnd();
    return true;
  };
  const commit = async (digest: string, size: number): Promise<string | null> => {
    try {
      if (host.isClosed() || temp.failure !== undefined || !HEX_DIGEST.test(digest) || temp.bytes !== size) return null;
      if (temp.digest() !== digest) return null;
      return await host.install(temp, digest, size);
    } catch {
      return null;
    } finally {
      await temp.discard();
    }
  };
  return {
    write(chunk) {
      if (ended) return;
      temp.write(chunk);
      if (temp.bytes > host.maxBytes) temp.abandon(new Error("the blob is larger than the whole cache"));
      if (temp.failure !== undefined && !freeing) {
        // Give the disk its space back now rather than at commit.
        freeing = true;
        host.track(temp.discard());
      }
    },
    commit(digest, size) {
      if (!end()) return Promise.resolve(null);
      return host.track(commit(digest, size));
    },
    async abort() {
      if (end()) await host.track(temp.discard());
    },
  };
}
