/**
 * Named paths: a lease that asks for `named: true` gets its bytes at a path
 * that ends in the attachment's display name, for tools that dispatch on the
 * extension (`…/photo.jpg`, not `…/sha256/ab/cd/abcd…`).
 *
 *   <dir>/leases/<lease-id>/<display name>    read-only (0400), one folder per lease
 *
 * The file is a hard link to the blob when it can be (no copy; blobs are
 * read-only, so a tool cannot change the shared bytes through it), and a
 * copy otherwise (a `reference` file, which its owner may still change; a
 * blob store without local files). The folder goes when the lease ends. The
 * lease row is written before the folder, so a folder without a row is a
 * leftover (a crash, a lease that ran out): the sweep removes it.
 */
import { constants } from "node:fs";
import path from "node:path";
import type { StoreContext } from "./context.js";
import { errnoCode } from "./fs-seam.js";
import { makeDirectory } from "./make-directory.js";

const DIR_MODE = 0o700;
const FILE_MODE = 0o400;
const LEASE_ID = /^[0-9a-z]{26}$/;

function leasesRoot(ctx: StoreContext): string {
  return path.join(ctx.options.dir, "leases");
}

/**
 * Puts the bytes at `source` under `<dir>/leases/<leaseId>/<name>` and
 * returns that path. `name` is already a sanitised display name (a basename).
 */
export async function createNamedPath(ctx: StoreContext, leaseId: string, source: string, name: string, link: boolean): Promise<string> {
  const folder = path.join(leasesRoot(ctx), leaseId);
  await makeDirectory(ctx.fs, folder, DIR_MODE);
  const file = path.join(folder, name);
  try {
    if (link) {
      try {
        await ctx.fs.link(source, file);
        return file;
      } catch (err) {
        const code = errnoCode(err);
        if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK" && code !== "ENOTSUP") throw err;
      }
    }
    await ctx.fs.copyFile(source, file, constants.COPYFILE_EXCL);
    await ctx.fs.chmod(file, FILE_MODE);
    return file;
  } catch (err) {
    await removeNamedPath(ctx, leaseId).catch(() => undefined);
    throw err;
  }
}

/** Removes a lease's folder; a missing one is not an error. */
export async function removeNamedPath(ctx: StoreContext, leaseId: string): Promise<void> {
  if (!LEASE_ID.test(leaseId)) return;
  await ctx.fs.rm(path.join(leasesRoot(ctx), leaseId), { recursive: true, force: true });
}

/**
 * Removes the folders of leases that no longer exist (ended by a crash, or
 * reclaimed after their ttl). The folder holds only named leases alive now,
 * so listing it is small by construction. Returns how many it removed.
 */
export async function reclaimNamedPaths(ctx: StoreContext): Promise<number> {
  let names: string[];
  try {
    names = await ctx.fs.readdir(leasesRoot(ctx));
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    if (LEASE_ID.test(name) && (await ctx.manifest.pins.hasLease(name))) continue;
    await ctx.fs.rm(path.join(leasesRoot(ctx), name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}
