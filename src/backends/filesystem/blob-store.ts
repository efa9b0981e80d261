/**
 * The embedded blob store: bytes on the local filesystem.
 *
 *   <dir>/
 *     blobs/sha256/ab/cd/abcd…    one file per digest (two fan-out levels), mode 0600
 *     tmp/<writer>.<random>.tmp    bytes being staged; renamed into blobs/ when complete
 *
 * Writes go to a uniquely named temp file, are fsynced, and only then renamed
 * into place, so a blob file is either absent or complete. The store's
 * directories are 0700 and its files 0600 whatever the umask.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { isSameFile, lstatIfPresent } from "../../file-identity.js";
import { errnoCode, nodeFileSystem, readdirIfPresent, type FileSystem } from "../../fs-seam.js";
import { makeDirectory } from "../../make-directory.js";
import { tempNameFor, writerOfTemp, type BlobStore, type BlobWriter, type StoredObject, type TempObject } from "../blob-store.js";

export interface FilesystemBlobStoreOptions {
  /** The store's directory; `blobs/` and `tmp/` are created inside it. */
  dir: string;
  /** @default node:fs/promises */
  fileSystem?: FileSystem;
  /** fsync each blob's bytes before renaming it into place (durable across power loss). @default true */
  fsync?: boolean;
}

const DIR_MODE = 0o700;
/** Temp files: written by the store only. */
const FILE_MODE = 0o600;
/**
 * Stored blobs are read-only, even to the store's owner: a tool handed a
 * path (resolve, lease) that writes to it by accident gets EACCES instead of
 * changing the bytes every scope shares. (root ignores modes.)
 */
const BLOB_MODE = 0o400;
/** Size of each write to a temp file (see FileBlobWriter). */
const WRITE_BYTES = 1 << 20;
const HEX_DIGEST = /^[0-9a-f]{64}$/;

function newTempName(writer: string): string {
  return tempNameFor(writer, randomBytes(12).toString("hex"));
}

export function filesystemBlobStore(options: FilesystemBlobStoreOptions): BlobStore {
  const fs = options.fileSystem ?? nodeFileSystem;
  const root = options.dir;
  const blobRoot = path.join(root, "blobs", "sha256");
  const tmpRoot = path.join(root, "tmp");
  const knownDirs = new Set<string>();

  const blobPath = (digest: string): string =>
    path.join(blobRoot, digest.slice(0, 2), digest.slice(2, 4), digest);
  const tempPath = (name: string): string => path.join(tmpRoot, name);

  async function ensureDir(dir: string): Promise<void> {
    if (knownDirs.has(dir)) return;
    await makeDirectory(fs, dir, DIR_MODE);
    knownDirs.add(dir);
  }

  /**
   * Runs `operation`; if it fails with ENOENT because `dir` is gone (another
   * process reset the store, or someone removed the folder), recreates the
   * store's directories and tries once more. A long-running process never
   * needs to reopen the store to stage again.
   */
  async function recreatingDirs<T>(dir: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      if (errnoCode(err) !== "ENOENT" || (await lstatIfPresent(fs, dir)) !== null) throw err;
      knownDirs.clear();
      await makeDirectory(fs, dir, DIR_MODE);
      await makeDirectory(fs, tmpRoot, DIR_MODE);
      return operation();
    }
  }

  async function unlinkIfPresent(file: string): Promise<void> {
    try {
      await fs.unlink(file);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
    }
  }

  async function sizeOf(file: string): Promise<number | null> {
    try {
      return (await fs.stat(file)).size;
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return null;
      throw err;
    }
  }

  return {
    kind: "filesystem",

    async open() {
      for (const dir of [root, path.join(root, "blobs"), blobRoot, tmpRoot]) {
        await makeDirectory(fs, dir, DIR_MODE);
        // mkdir's mode is filtered by the umask, and an existing directory keeps its own.
        await fs.chmod(dir, DIR_MODE);
        knownDirs.add(dir);
      }
    },

    async createWriter(writer) {
      const tempName = newTempName(writer);
      const file = tempPath(tempName);
      const handle = await recreatingDirs(tmpRoot, () => fs.open(file, "wx", FILE_MODE));
      return new FileBlobWriter(tempName, file, handle, fs, options.fsync ?? true);
    },

    async commit(tempName, digest, size) {
      const from = tempPath(tempName);
      const to = blobPath(digest);
      if ((await sizeOf(to)) === size) {
        await unlinkIfPresent(from);
        return false;
      }
      await ensureDir(path.dirname(to));
      await recreatingDirs(path.dirname(to), () => fs.rename(from, to));
      return true;
    },

    stat: (digest) => sizeOf(blobPath(digest)),

    async openRead(digest, range) {
      // The stream owns the FileHandle (not its bare fd): a FileHandle that is
      // garbage collected closes its fd, which may by then belong to another file.
      const handle = await fs.open(blobPath(digest), "r");
      if (range !== undefined && range.end <= range.start) {
        await handle.close();
        return Readable.from([]);
      }
      // `end` is inclusive for createReadStream.
      const bounds = range === undefined ? {} : { start: range.start, end: range.end - 1 };
      return createReadStream("", { fd: handle, highWaterMark: 1 << 20, ...bounds }) as Readable;
    },

    delete: (digest) => unlinkIfPresent(blobPath(digest)),

    async *list(): AsyncIterable<StoredObject> {
      for (const first of await readdirIfPresent(fs, blobRoot)) {
        const firstDir = path.join(blobRoot, first);
        for (const second of await readdirIfPresent(fs, firstDir)) {
          const secondDir = path.join(firstDir, second);
          for (const name of await readdirIfPresent(fs, secondDir)) {
            const location = path.join(secondDir, name);
            const size = await sizeOf(location);
            if (size === null) continue;
            const filedRight = HEX_DIGEST.test(name) && name.startsWith(first + second);
            yield { digest: filedRight ? name : null, location, size };
          }
        }
      }
    },

    async listTemp(): Promise<TempObject[]> {
      const out: TempObject[] = [];
      for (const name of await readdirIfPresent(fs, tmpRoot)) {
        const location = tempPath(name);
        try {
          const stats = await fs.lstat(location);
          out.push({ name, writer: writerOfTemp(name), location, size: stats.size, mtimeMs: stats.mtimeMs });
        } catch (err) {
          if (errnoCode(err) !== "ENOENT") throw err;
        }
      }
      return out;
    },

    async removeTemp(tempName) {
      if (tempName.includes("/") || tempName.includes("\\") || tempName.startsWith(".")) return;
      await fs.rm(tempPath(tempName), { force: true, recursive: true });
    },

    async removeStray(location) {
      const relative = path.relative(blobRoot, location);
      if (relative.startsWith("..") || path.isAbsolute(relative)) return;
      await fs.rm(location, { force: true, recursive: true });
    },

    async deleteMany(digests) {
      for (const digest of digests) await unlinkIfPresent(blobPath(digest));
    },

    local: {
      pathOf: blobPath,
      async device() {
        return (await fs.stat(tmpRoot)).dev;
      },

      newTempName,

      async linkFile(sourcePath, tempName, identity) {
        const temp = tempPath(tempName);
        try {
          // link(2) does not follow a symlink at sourcePath: a swapped-in symlink is linked as
          // itself and refused below, never its target.
          await recreatingDirs(tmpRoot, () => fs.link(sourcePath, temp));
        } catch (err) {
          const code = errnoCode(err);
          if (code === "ENOENT") return "changed";
          if (code === "EXDEV" || code === "EPERM" || code === "EACCES" || code === "ENOTSUP" || code === "EMLINK") return "unsupported";
          throw err;
        }
        const linked = await lstatIfPresent(fs, temp);
        if (!isSameFile(linked, identity) || (linked as Stats).nlink !== 2) {
          // Not the file that was hashed, or linked elsewhere too: drop only the store's own link.
          await unlinkIfPresent(temp);
          return isSameFile(linked, identity) ? "unsupported" : "changed";
        }
        return "linked";
      },

      async secureBlob(digest, writer, hold) {
        const file = blobPath(digest);
        const stats = await lstatIfPresent(fs, file);
        if (stats === null || !stats.isFile()) return false;
        if (stats.nlink <= 1) {
          // Its own inode already; blobs/ is private and the entry is a regular file, so chmod stays on it.
          if ((stats.mode & 0o777) !== BLOB_MODE) await fs.chmod(file, BLOB_MODE);
          return false;
        }
        // Copy to a new inode and rename it over the blob: the outside link keeps the old inode.
        const copy = tempPath(newTempName(writer));
        try {
          return await hold(async () => {
            await recreatingDirs(tmpRoot, () => fs.copyFile(file, copy));
            await fs.chmod(copy, BLOB_MODE);
            if (options.fsync ?? true) {
              const handle = await fs.open(copy, "r");
              await handle.sync().finally(() => handle.close());
            }
            await fs.rename(copy, file);
          });
        } finally {
          await unlinkIfPresent(copy).catch(() => undefined);
        }
      },
    },

    async close() {},
  };
}

/**
 * Every chunk is copied into buffers the writer owns before `write` returns
 * its promise, in the same synchronous turn in which the caller hashed it,
 * and written out 1 MiB at a time with one write in flight while the caller
 * reads and hashes the next chunks. Owning the bytes at that moment is what
 * makes the digest describe exactly the bytes written: a source may reuse
 * its buffer as soon as it yields the next chunk, and a caller may change a
 * Buffer it handed to `stage()` while the stage runs; a copy taken later (after
 * an await) would store bytes that no longer match the digest. One write at a
 * time also keeps the file's inode lock uncontended (several concurrent
 * writes to one file spin on it in the kernel), and small stream chunks
 * become large writes.
 */
/** Bytes written between two background flushes of a large file; the large-ingest benchmark shows the effect. */
const FLUSH_EVERY_BYTES = 64 << 20;

class FileBlobWriter implements BlobWriter {
  private position = 0;
  private buffer: Buffer | undefined;
  private spare: Buffer | undefined;
  private filled = 0;
  /** Full buffers copied but not yet handed to the disk. */
  private readonly full: Buffer[] = [];
  private inFlight: Promise<void> | undefined;
  private draining: Promise<void> | undefined;
  private failure: unknown = undefined;
  private closed = false;
  /** Bytes written since the last background flush began. */
  private unflushed = 0;
  /** A background `fdatasync` of what was written so far (see {@link FLUSH_EVERY_BYTES}). */
  private flushing: Promise<void> | undefined;

  constructor(
    readonly tempName: string,
    private readonly file: string,
    private readonly handle: FileHandle,
    private readonly fs: FileSystem,
    private readonly fsync: boolean,
  ) {}

  write(chunk: Uint8Array): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    // Synchronous: every byte of the chunk is the writer's before anything awaits.
    let offset = 0;
    while (offset < chunk.byteLength) {
      this.buffer ??= this.spare ?? Buffer.allocUnsafeSlow(WRITE_BYTES);
      this.spare = undefined;
      const take = Math.min(chunk.byteLength - offset, WRITE_BYTES - this.filled);
      this.buffer.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === WRITE_BYTES) {
        this.full.push(this.buffer);
        this.buffer = undefined;
        this.filled = 0;
      }
    }
    return this.drain();
  }

  /**
   * Hands the full buffers to the disk in order, one write in flight; returns
   * once the last is under way. Drains queue behind each other: writes issued
   * without awaiting each one never run two loops over the same queue.
   */
  private drain(): Promise<void> {
    const next = (this.draining ?? Promise.resolve()).then(() => this.drainQueue());
    this.draining = next.catch(() => undefined);
    return next;
  }

  private async drainQueue(): Promise<void> {
    while (this.full.length > 0) {
      await this.settle();
      const buffer = this.full.shift() as Buffer;
      const at = this.position;
      this.position += buffer.length;
      this.inFlight = this.writeFully(buffer, buffer.length, at).then(
        () => {
          if (buffer.length === WRITE_BYTES) this.spare = buffer;
          this.flushInBackground(buffer.length);
        },
        (err: unknown) => void (this.failure ??= err),
      );
    }
  }

  /** Moves the partly filled buffer to the queue (at the end of the bytes). */
  private sealPartial(): void {
    if (this.buffer === undefined || this.filled === 0) return;
    this.full.push(this.buffer.subarray(0, this.filled));
    this.buffer = undefined;
    this.filled = 0;
  }

  private async settle(): Promise<void> {
    if (this.inFlight !== undefined) await this.inFlight;
    this.inFlight = undefined;
    if (this.failure !== undefined) throw this.failure;
  }

  private async writeFully(buffer: Buffer, length: number, at: number): Promise<void> {
    let offset = 0;
    while (offset < length) {
      const { bytesWritten } = await this.handle.write(buffer, offset, length - offset, at + offset);
      offset += bytesWritten;
    }
  }

  /**
   * Large files: once {@link FLUSH_EVERY_BYTES} are written, an `fdatasync`
   * starts while the next bytes are written (one at a time), so the disk
   * writes back as the file grows instead of all at once in the final fsync.
   */
  private flushInBackground(written: number): void {
    if (!this.fsync) return;
    this.unflushed += written;
    if (this.unflushed < FLUSH_EVERY_BYTES || this.flushing !== undefined) return;
    this.unflushed = 0;
    this.flushing = this.handle.datasync().then(
      () => void (this.flushing = undefined),
      (err: unknown) => {
        this.flushing = undefined;
        this.failure ??= err;
      },
    );
  }

  async finish(): Promise<void> {
    this.sealPartial();
    await this.drain();
    await this.settle();
    await this.flushing;
    if (this.failure !== undefined) throw this.failure;
    // Read-only before it becomes a blob (through the descriptor: no path to redirect).
    await this.handle.chmod(BLOB_MODE);
    if (this.fsync) await this.handle.sync();
    this.closed = true;
    await this.handle.close();
  }

  async abort(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
    await this.flushing;
    if (!this.closed) {
      this.closed = true;
      await this.handle.close().catch(() => undefined);
    }
    try {
      await this.fs.unlink(this.file);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
    }
  }
}
