/**
 * One copy on its way into the cache: a uniquely named file in
 * `<cacheDir>/tmp/`, hashed as it is written, and turned read-only once
 * complete. Both ways into the cache (a fetch, a write-through) use it.
 *
 * Each chunk is hashed and copied into buffers this object owns in the same
 * synchronous call, so a caller may reuse its buffer at once and the digest
 * describes exactly the bytes written. The copies are written out 1 MiB at a
 * time, one write in flight, while the caller goes on. Memory stays bounded:
 * a fetch waits on {@link CacheTempFile.flush} when too much is queued; a
 * write-through, which must never slow the stage it follows, gives up
 * instead (`maxQueued`).
 */
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import type { FileSystem } from "../fs-seam.js";

/** Cached copies are read-only, like the store's blobs: a tool handed the path cannot change them. */
const COPY_MODE = 0o400;
/** Size of each write to the temp file. */
const WRITE_BYTES = 1 << 20;

export class CacheTempFile {
  /** Bytes taken so far. */
  bytes = 0;
  /** Bytes copied and waiting for the disk (including the write in flight). */
  queuedBytes = 0;
  /** The first failure (an I/O error, or the reason given to {@link abandon}); later writes are dropped. */
  failure: unknown = undefined;
  private readonly hash = createHash("sha256");
  private current: Buffer | undefined;
  private filled = 0;
  private readonly queue: Buffer[] = [];
  private position = 0;
  private pumping: Promise<void> | undefined;
  private closed = false;
  /** No more bytes are taken. */
  private done = false;
  /** `onDone` was called. */
  private settled = false;
  /** Renamed into place: the name is no longer this file's to remove. */
  private isMoved = false;

  /**
   * @param opening the temp file being created (exclusively, mode 0600); a failure to create it
   *   becomes this file's failure
   * @param maxQueued past this many queued bytes, the file gives up (see the module comment)
   * @param onDone called once, when the file is moved into place or discarded
   */
  constructor(
    private readonly fs: FileSystem,
    readonly path: string,
    private readonly opening: Promise<FileHandle>,
    private readonly maxQueued: number,
    private readonly onDone: () => void,
  ) {
    opening.catch((err: unknown) => this.abandon(err));
  }

  /** Hashes and copies `chunk` before returning; never throws (see {@link failure}). */
  write(chunk: Uint8Array): void {
    if (this.failure !== undefined || this.done) return;
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
    let offset = 0;
    while (offset < chunk.byteLength) {
      this.current ??= Buffer.allocUnsafeSlow(WRITE_BYTES);
      const take = Math.min(chunk.byteLength - offset, WRITE_BYTES - this.filled);
      this.current.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === WRITE_BYTES) this.enqueue(this.current);
    }
    if (this.queuedBytes > this.maxQueued) {
      this.abandon(new Error(`the disk fell more than ${this.maxQueued} bytes behind`));
      return;
    }
    if (this.queue.length > 0) this.pumping ??= this.pump();
  }

  /** Stops taking bytes and drops what is queued; {@link finish} will fail with `reason`. */
  abandon(reason: unknown): void {
    this.failure ??= reason;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.current = undefined;
    this.filled = 0;
  }

  /** Resolves once every queued byte is written; rejects with the failure, if any. */
  async flush(): Promise<void> {
    while (this.pumping !== undefined) await this.pumping;
    if (this.failure !== undefined) throw this.failure;
  }

  /** The lowercase hex SHA-256 of the bytes taken; call once, after the last write. */
  digest(): string {
    return this.hash.digest("hex");
  }

  /**
   * Writes out the rest, then, through the descriptor (no path to redirect),
   * makes the file read-only, sets its mtime (the cache's recency) and, with
   * `fsync`, flushes it to the disk; closes it. Rejects on any failure; the
   * caller then calls {@link discard}.
   */
  async finish(mtimeMs: number, fsync: boolean): Promise<void> {
    if (this.current !== undefined && this.filled > 0) this.enqueue(this.current.subarray(0, this.filled));
    this.pumping ??= this.pump();
    await this.flush();
    const handle = await this.opening;
    await handle.chmod(COPY_MODE);
    const seconds = mtimeMs / 1000;
    await handle.utimes(seconds, seconds);
    if (fsync) await handle.sync();
    this.closed = true;
    this.done = true;
    await handle.close();
  }

  /** The finished file was renamed into place: it is no longer a temp file. */
  moved(): void {
    this.isMoved = true;
    this.settle();
  }

  /** Closes and removes the temp file. Never rejects: a temp it could not remove is old junk for `prune`. */
  async discard(): Promise<void> {
    this.settle();
    this.abandon(new Error("discarded"));
    while (this.pumping !== undefined) await this.pumping.catch(() => undefined);
    const handle = await this.opening.catch(() => undefined);
    if (handle === undefined || this.isMoved) return;
    if (!this.closed) {
      this.closed = true;
      await handle.close().catch(() => undefined);
    }
    await this.fs.unlink(this.path).catch(() => undefined);
  }

  private settle(): void {
    this.done = true;
    if (this.settled) return;
    this.settled = true;
    this.onDone();
  }

  private enqueue(buffer: Buffer): void {
    this.queue.push(buffer);
    this.queuedBytes += buffer.length;
    this.current = undefined;
    this.filled = 0;
  }

  /** Writes the queue out in order, one write at a time, until it is empty. */
  private async pump(): Promise<void> {
    try {
      const handle = await this.opening;
      while (this.queue.length > 0 && this.failure === undefined) {
        const buffer = this.queue[0] as Buffer;
        let offset = 0;
        while (offset < buffer.length) {
          const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset, this.position + offset);
          offset += bytesWritten;
        }
        this.position += buffer.length;
        // abandon() may have emptied the queue while the write was in flight.
        if (this.queue[0] === buffer) {
          this.queue.shift();
          this.queuedBytes -= buffer.length;
        }
      }
    } catch (err) {
      this.abandon(err);
    } finally {
      this.pumping = undefined;
    }
  }
}
