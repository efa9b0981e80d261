/**
 * Freeing space must work on a full disk. Deleting a blob is not enough on
 * its own: the manifest records the release first, and SQLite needs room in
 * its WAL for that write, so on a disk at 100% every release, sweep and reset
 * failed with SQLITE_FULL and nothing could free space through the store.
 *
 * So the store keeps a small reserve file, `<dir>/reserve`, and runs every
 * operation that frees space through {@link DiskReserve.freeing}: if it fails
 * because the disk is full, the reserve is deleted, the manifest's journal
 * is checkpointed and truncated (giving its space back too), and the
 * operation is retried once. Operations that take space (stages) never touch
 * the reserve: on a full disk they fail, cleanly, with "the disk is full".
 *
 * The reserve is created when the store opens and replenished after each
 * freeing operation, but only while the disk has at least twice its size
 * free, so it never takes the last space a stage could use. The background
 * sweep therefore brings it back once space has been freed. It is written
 * through a uniquely named temp file in `<dir>/tmp` and renamed into place,
 * so it is either absent or whole (a crash leaves a temp file, which the
 * sweep reclaims like any other); it is filled with random bytes, because a
 * compressing filesystem would store zeros in no space at all.
 *
 * 1 MiB covers what freeing needs once the WAL is truncated: a release or
 * a sweep's batch writes a few dozen 4 KiB pages, and each blob it deletes
 * returns at least a page. It is a few per cent of even a small filesystem.
 */
import { randomBytes } from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { isDiskFull } from "./errors.js";

/** The reserve's size (see the module comment for why 1 MiB). */
export const RESERVE_BYTES = 1 << 20;
/** The reserve is (re)created only when this many times its size is free. */
const FREE_SPACE_FACTOR = 2;

export interface DiskReserve {
  /**
   * Runs an operation that frees space. If it fails because the disk is
   * full, gives the reserve back, truncates the manifest's journal, and runs
   * it once more. Afterwards, tops the reserve up again if there is room.
   * Use it only for steps that can safely run twice.
   */
  freeing<T>(operation: () => Promise<T>): Promise<T>;
  /** Creates the reserve if it is missing and the disk has room; never fails. */
  replenish(): Promise<void>;
}

export interface DiskReserveOptions {
  /** The store's directory, or `null` when its bytes are not on the local disk (no reserve file). */
  dir: string | null;
  /** Gives back the space the manifest's journal holds (Manifest.checkpoint). */
  truncateJournal: () => Promise<void>;
}

export function diskReserve(options: DiskReserveOptions): DiskReserve {
  return new FileReserve(options.dir, options.truncateJournal);
}

class FileReserve implements DiskReserve {
  private readonly file: string | null;
  /** What this process last saw; another process may have given it back since (then it finds ENOENT). */
  private present = false;
  /** Bumped by each give-back, so a replenish that started before one does not undo it. */
  private generation = 0;
  private replenishing: Promise<void> | undefined;

  constructor(
    private readonly dir: string | null,
    private readonly truncateJournal: () => Promise<void>,
  ) {
    this.file = dir === null ? null : path.join(dir, "reserve");
  }

  async freeing<T>(operation: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await operation();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      await this.giveBack();
      await this.truncateJournal().catch(() => undefined);
      result = await operation();
    }
    await this.replenish();
    return result;
  }

  replenish(): Promise<void> {
    if (this.file === null || this.present) return Promise.resolve();
    return (this.replenishing ??= this.create(this.file)
      .catch(() => undefined)
      .finally(() => (this.replenishing = undefined)));
  }

  private async giveBack(): Promise<void> {
    this.generation++;
    this.present = false;
    if (this.file !== null) await fsp.rm(this.file, { force: true }).catch(() => undefined);
  }

  private async create(file: string): Promise<void> {
    const generation = this.generation;
    const existing = await fsp.stat(file).catch(() => undefined);
    if (existing?.size === RESERVE_BYTES) {
      this.present = true;
      return;
    }
    const space = await fsp.statfs(path.dirname(file));
    if (space.bavail * space.bsize < FREE_SPACE_FACTOR * RESERVE_BYTES) return;
    const temp = path.join(this.dir as string, "tmp", `reserve-${randomBytes(8).toString("hex")}.tmp`);
    try {
      const handle = await fsp.open(temp, "wx", 0o600);
      try {
        const bytes = randomBytes(RESERVE_BYTES);
        for (let offset = 0; offset < bytes.length; ) {
          offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
        }
      } finally {
        await handle.close();
      }
      // The disk filled and the reserve was given back meanwhile: that space is spoken for.
      if (generation !== this.generation) throw new Error("the reserve was given back while it was being created");
      await fsp.rename(temp, file);
      this.present = true;
    } catch (err) {
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
  }
}
