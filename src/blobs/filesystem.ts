/**
 * The embedded blob store: bytes on the local filesystem.
 *
 *   <dir>/
 *     blobs/sha256/ab/cd/abcd…    one file per digest (two fan-out levels), mode 0600
 *     tmp/<random>.tmp             bytes being staged; renamed into blobs/ when complete
 *
 * Writes go to a uniquely named temp file, are fsynced, and only then renamed
 * into place, so a blob file is either absent or complete. The store's
 * directories are 0700 and its files 0600 whatever the umask.
 */
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { errnoCode, nodeFileSystem, type FileSystem } from "../fs-seam.js";
import type { BlobStore, BlobWriter, StoredObject, TempObject } from "./types.js";

export interface FilesystemBlobStoreOptions {
  /** The store's directory; `blobs/` and `tmp/` are created inside it. */
  dir: string;
  /** @default node:fs/promises */
  fileSystem?: FileSystem;
  /** fsync each blob's bytes before renaming it into place (durable across power loss). @default true */
  fsync?: boolean;
}

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
/** Size of each write to a temp file (see FileBlobWriter). */
const WRITE_BYTES = 1 << 20;
const HEX_DIGEST = /^[0-9a-f]{64}$/;

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
    await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
    knownDirs.add(dir);
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
        await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
        // mkdir's mode is filtered by the umask, and an existing directory keeps its own.
        await fs.chmod(dir, DIR_MODE);
        knownDirs.add(dir);
      }
    },

    async createWriter() {
      const tempName = `${randomBytes(12).toString("hex")}.tmp`;
      const file = tempPath(tempName);
      const handle = await fs.open(file, "wx", FILE_MODE);
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
      await fs.rename(from, to);
      return true;
    },

    async localDevice() {
      return (await fs.stat(tmpRoot)).dev;
    },

    async adoptFile(sourcePath, digest, size) {
      const to = blobPath(digest);
      // The source is linked in, not renamed: it stays where it is until the caller has committed
      // the attachment and removes it, so a crash or a failure before that never loses the user's file.
      if ((await sizeOf(to)) === size) return false;
      await ensureDir(path.dirname(to));
      try {
        await fs.link(sourcePath, to);
      } catch (err) {
        const code = errnoCode(err);
        if (code === "EXDEV" || code === "EPERM" || code === "ENOTSUP" || code === "EMLINK") return null;
        if (code !== "EEXIST") throw err;
        // A damaged file of another size sits there: link under a temp name and rename over it (atomic).
        const temp = tempPath(`${randomBytes(12).toString("hex")}.tmp`);
        await fs.link(sourcePath, temp);
        try {
          await fs.rename(temp, to);
        } catch (renameError) {
          await unlinkIfPresent(temp).catch(() => undefined);
          throw renameError;
        }
      }
      await fs.chmod(to, FILE_MODE);
      return true;
    },

    stat: (digest) => sizeOf(blobPath(digest)),

    async openRead(digest) {
      // The stream owns the FileHandle (not its bare fd): a FileHandle that is
      // garbage collected closes its fd, which may by then belong to another file.
      const handle = await fs.open(blobPath(digest), "r");
      return createReadStream("", { fd: handle, highWaterMark: 1 << 20 }) as Readable;
    },

    pathOf: blobPath,

    localPath: async (digest) => blobPath(digest),

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
          out.push({ name, location, size: stats.size, mtimeMs: stats.mtimeMs });
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

    async clear() {
      for (const dir of [path.join(root, "blobs"), tmpRoot]) {
        await fs.rm(dir, { recursive: true, force: true });
      }
      knownDirs.clear();
      await this.open();
    },

    async close() {},
  };
}

async function readdirIfPresent(fs: FileSystem, dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") return [];
    throw err;
  }
}

/**
 * Chunks are copied into a buffer the writer owns and written out 1 MiB at a
 * time, with one write in flight while the caller reads and hashes the next
 * chunks. Owning the bytes matters: a source may reuse its buffer as soon as
 * it yields the next chunk, and a write still in flight would then store
 * bytes that no longer match the digest. One write at a time also keeps the
 * file's inode lock uncontended (several concurrent writes to one file spin
 * on it in the kernel), and small stream chunks become large writes.
 */
class FileBlobWriter implements BlobWriter {
  private position = 0;
  private buffer: Buffer | undefined;
  private spare: Buffer | undefined;
  private filled = 0;
  private inFlight: Promise<void> | undefined;
  private failure: unknown = undefined;
  private closed = false;

  constructor(
    readonly tempName: string,
    private readonly file: string,
    private readonly handle: FileHandle,
    private readonly fs: FileSystem,
    private readonly fsync: boolean,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    let offset = 0;
    while (offset < chunk.byteLength) {
      this.buffer ??= this.spare ?? Buffer.allocUnsafeSlow(WRITE_BYTES);
      this.spare = undefined;
      const take = Math.min(chunk.byteLength - offset, WRITE_BYTES - this.filled);
      this.buffer.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === WRITE_BYTES) await this.flush();
    }
  }

  /** Hands the filled buffer to the disk once the previous write is done. */
  private async flush(): Promise<void> {
    await this.settle();
    const buffer = this.buffer;
    if (buffer === undefined || this.filled === 0) return;
    const length = this.filled;
    const at = this.position;
    this.position += length;
    this.buffer = undefined;
    this.filled = 0;
    this.inFlight = this.writeFully(buffer, length, at).then(
      () => void (this.spare = buffer),
      (err: unknown) => void (this.failure ??= err),
    );
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

  async finish(): Promise<void> {
    await this.flush();
    await this.settle();
    if (this.fsync) await this.handle.sync();
    this.closed = true;
    await this.handle.close();
  }

  async abort(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
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
