/**
 * Files are compared by what they are (device + inode), never by the string
 * that names them: a path can reach the store through a symlinked parent or a
 * bind mount, and the file at a path can be replaced (an editor's atomic save)
 * between the moment it was hashed and the moment it is taken. Everything
 * here acts on directory entries without following a final symlink.
 */
import type { Stats } from "node:fs";
import path from "node:path";
import { errnoCode, type FileSystem } from "./fs-seam.js";

/** The identity of an opened file: what `fstat` said when it was hashed. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/** True when `stats` (from `lstat`) is the regular file `identity`. */
export function isSameFile(stats: Stats | null, identity: FileIdentity): boolean {
  return stats !== null && stats.isFile() && stats.dev === identity.dev && stats.ino === identity.ino;
}

/** `lstat`, or `null` when nothing is there. */
export async function lstatIfPresent(fs: FileSystem, file: string): Promise<Stats | null> {
  try {
    return await fs.lstat(file);
  } catch (err) {
    if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") return null;
    throw err;
  }
}

/**
 * True when `file`'s directory is `dir` or lies below it, comparing real
 * directories by device and inode (so a symlinked parent, a symlinked store
 * directory or a bind mount cannot disguise the store's own files).
 */
export async function isInsideDirectory(fs: FileSystem, file: string, dir: string): Promise<boolean> {
  let target: Stats;
  try {
    target = await fs.stat(dir);
  } catch {
    return false;
  }
  let at: string;
  try {
    at = await fs.realpath(path.dirname(file));
  } catch {
    // A parent that cannot be resolved cannot be opened either; the open reports it.
    return false;
  }
  for (;;) {
    const stats = await fs.stat(at).catch(() => null);
    if (stats !== null && stats.dev === target.dev && stats.ino === target.ino) return true;
    const parent = path.dirname(at);
    if (parent === at) return false;
    at = parent;
  }
}

/**
 * Removes the directory entry `file` only if it is still the file `identity`
 * (checked with `lstat` right before the unlink, which never follows a
 * symlink). A file saved over the path since it was hashed, or a symlink
 * swapped in, is left alone. The check and the unlink are two calls, so a
 * replacement landing in the microseconds between them would be removed;
 * renaming the entry aside first would close that gap but could strand the
 * user's file under a hidden name if the next call failed, which is worse.
 * Returns whether it was removed; a failure leaves the file where it is.
 */
export async function unlinkIfSame(fs: FileSystem, file: string, identity: FileIdentity): Promise<boolean> {
  try {
    if (!isSameFile(await lstatIfPresent(fs, file), identity)) return false;
    await fs.unlink(file);
    return true;
  } catch {
    return false;
  }
}
