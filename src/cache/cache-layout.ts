/**
 * Where the local cache keeps its files, and how it lists them.
 *
 *   <cacheDir>/                 0700
 *     sha256/ab/abcd…           one read-only (0400) copy per digest, named by its
 *                               lowercase hex SHA-256, under its first two hex digits
 *     tmp/<random>.tmp          copies being written (0600); renamed into sha256/ once verified
 *
 * A copy's mtime is its recency (see local-cache.ts): every process sharing
 * the directory reads and moves the same clock hand. Anything else found
 * under `sha256/` (a misnamed file, a directory) is not a copy: listing skips
 * it, and the cache never removes it.
 */
import type { Stats } from "node:fs";
import path from "node:path";
import { invalidArgument } from "../errors.js";
import { lstatIfPresent } from "../file-identity.js";
import { errnoCode, readdirIfPresent, type FileSystem } from "../fs-seam.js";

/** A lowercase hex SHA-256, the only name a copy may have. */
export const HEX_DIGEST = /^[0-9a-f]{64}$/;
/** How many `lstat` calls a listing keeps in flight. */
const LIST_CONCURRENCY = 32;

/** Refuses anything but a lowercase hex SHA-256 (`INVALID_ARGUMENT`): a digest becomes a path. */
export function checkDigest(digest: string): void {
  if (typeof digest !== "string" || !HEX_DIGEST.test(digest)) {
    throw invalidArgument(`A cached blob is named by its SHA-256 as 64 lowercase hex digits; got ${JSON.stringify(digest)}.`);
  }
}

/** `<cacheDir>/sha256`. */
export function copiesRoot(dir: string): string {
  return path.join(dir, "sha256");
}

/** `<cacheDir>/tmp`. */
export function tempRoot(dir: string): string {
  return path.join(dir, "tmp");
}

/** Where the copy of `digest` lives (whether or not it is there). */
export function copyPath(dir: string, digest: string): string {
  return path.join(copiesRoot(dir), digest.slice(0, 2), digest);
}

/** A copy as listed: enough to order it by recency and to tell later whether it is still the same file. */
export interface CachedCopy {
  digest: string;
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** A temp file as listed. */
interface CacheTemp {
  path: string;
  size: number;
  mtimeMs: number;
}

/** True when `stats` (a fresh `lstat`) is still the file `copy` was listed as: not replaced, not touched since. */
export function isUnchanged(copy: CachedCopy, stats: Stats | null): boolean {
  return stats !== null && stats.isFile() && stats.ino === copy.ino && stats.size === copy.size && stats.mtimeMs === copy.mtimeMs;
}

/**
 * Every copy in the cache, in no particular order. The cache is bounded by
 * its size, so the listing is too; copies removed while it runs are left out.
 */
export async function listCopies(fs: FileSystem, dir: string): Promise<CachedCopy[]> {
  const root = copiesRoot(dir);
  const found: CachedCopy[] = [];
  for (const fan of await readdirIfPresent(fs, root)) {
    if (!/^[0-9a-f]{2}$/.test(fan)) continue;
    const names = (await readdirIfPresent(fs, path.join(root, fan))).filter(
      (name) => HEX_DIGEST.test(name) && name.startsWith(fan),
    );
    await forEachLimited(names, async (digest) => {
      const file = path.join(root, fan, digest);
      const stats = await lstatIfPresent(fs, file);
      if (stats?.isFile()) found.push({ digest, path: file, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino });
    });
  }
  return found;
}

/** Every entry in `tmp/` (regular files only: nothing else is the cache's). */
async function listTemps(fs: FileSystem, dir: string): Promise<CacheTemp[]> {
  const root = tempRoot(dir);
  const found: CacheTemp[] = [];
  await forEachLimited(await readdirIfPresent(fs, root), async (name) => {
    const file = path.join(root, name);
    const stats = await lstatIfPresent(fs, file);
    if (stats?.isFile()) found.push({ path: file, size: stats.size, mtimeMs: stats.mtimeMs });
  });
  return found;
}

/**
 * Removes the temp files whose mtime is at or before `cutoffMs`, except the
 * paths in `spare` (this process's own, still in use): crash leftovers.
 */
export async function removeTempsOlderThan(
  fs: FileSystem,
  dir: string,
  cutoffMs: number,
  spare: ReadonlySet<string>,
): Promise<{ files: number; bytes: number }> {
  const removed = { files: 0, bytes: 0 };
  for (const temp of await listTemps(fs, dir)) {
    if (temp.mtimeMs > cutoffMs || spare.has(temp.path)) continue;
    try {
      await fs.unlink(temp.path);
      removed.files++;
      removed.bytes += temp.size;
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
    }
  }
  return removed;
}

/** The total size of `copies`. */
export function sumOf(copies: readonly { size: number }[]): number {
  return copies.reduce((total, copy) => total + copy.size, 0);
}

async function forEachLimited<T>(items: readonly T[], action: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += LIST_CONCURRENCY) {
    await Promise.all(items.slice(start, start + LIST_CONCURRENCY).map(action));
  }
}
