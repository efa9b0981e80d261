import fsp from "node:fs/promises";

/**
 * The filesystem calls attache makes, as one object. The default is
 * `node:fs/promises`; tests pass a wrapper that fails chosen steps (ENOSPC,
 * EIO, EACCES, EMFILE) to prove that every failure is reported cleanly and
 * leaves nothing behind. File handles returned by `open` are used for
 * `read`, `write`, `sync`, `stat` and `close`, so a wrapper can fail those too.
 */
export interface FileSystem {
  open: typeof fsp.open;
  rename: typeof fsp.rename;
  link: typeof fsp.link;
  unlink: typeof fsp.unlink;
  mkdir: typeof fsp.mkdir;
  stat: typeof fsp.stat;
  lstat: typeof fsp.lstat;
  readdir: typeof fsp.readdir;
  chmod: typeof fsp.chmod;
  realpath: typeof fsp.realpath;
  rm: typeof fsp.rm;
  access: typeof fsp.access;
  copyFile: typeof fsp.copyFile;
}

/** The real filesystem. */
export const nodeFileSystem: FileSystem = {
  open: fsp.open,
  rename: fsp.rename,
  link: fsp.link,
  unlink: fsp.unlink,
  mkdir: fsp.mkdir,
  stat: fsp.stat,
  lstat: fsp.lstat,
  readdir: fsp.readdir,
  chmod: fsp.chmod,
  realpath: fsp.realpath,
  rm: fsp.rm,
  access: fsp.access,
  copyFile: fsp.copyFile,
};

/** The errno code of a Node system error, if any. */
export function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** The names in `dir`, or none when it (or a parent) is missing. */
export async function readdirIfPresent(fs: FileSystem, dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") return [];
    throw err;
  }
}
