/**
 * Reading an attachment's bytes, verified: every byte handed out is hashed,
 * and the stream fails with INTEGRITY_ERROR at its end if the digest or size
 * differs from what was staged (a blob changed on disk, or a `reference`
 * file changed since it was recorded). No reader hands out more than the
 * staged size, blocks opening a FIFO, or follows a symlink swapped in for a
 * `reference` file.
 */
import { createHash } from "node:crypto";
import { constants, createReadStream, lstatSync, statSync, type Stats } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import type { StoreContext } from "./context.js";
import { integrityError, ioError, isAttacheError } from "./errors.js";
import { errnoCode, nodeFileSystem } from "./fs-seam.js";
import { refOf } from "./ids.js";
import type { ByteRange, LocalBlobFiles } from "./backends/blob-store.js";
import type { AttachmentRecord } from "./backends/manifest.js";

/** What stands at a path where a regular file is expected, for messages. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isSocket()) return "a socket";
  if (stats.isSymbolicLink()) return "a symbolic link";
  return "a device";
}

/**
 * The error for a path where the staged regular file no longer stands (a
 * FIFO, a device, a socket, a directory or, for a `reference`, a symlink took
 * its place). It is ENOENT-coded because the file that was staged is gone:
 * readers report missing bytes (INTEGRITY_ERROR), `verify` a missing
 * attachment, and nothing blocks on or reads through what replaced it.
 */
function notRegularFile(file: string, what: string, cause?: unknown): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${file} is now ${what}, not the regular file that was staged`, { cause });
  err.code = "ENOENT";
  return err;
}

/** A regular file holding an attachment's bytes, open, with its size when it was opened. */
interface OpenedFile {
  handle: FileHandle;
  size: number;
}

/**
 * Opens the file holding an attachment's bytes, refusing anything but a
 * regular file before a byte is read. O_NONBLOCK: opening a FIFO returns at
 * once instead of occupying a thread-pool thread until a writer comes (four of
 * them would stall every other filesystem call of the process). O_NOFOLLOW for
 * `reference` files: staging refuses symlinks, so a symlink found there now is
 * a changed file, not a way to reach the bytes.
 */
async function openRegularFile(ctx: StoreContext, file: string, noFollow: boolean): Promise<OpenedFile> {
  let handle: FileHandle;
  try {
    handle = await ctx.fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK | (noFollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    // O_NOFOLLOW refuses a symlink with ELOOP; open(2) refuses a socket with ENXIO.
    const code = errnoCode(err);
    if (noFollow && code === "ELOOP") throw notRegularFile(file, "a symbolic link", err);
    if (code === "ENXIO") throw notRegularFile(file, "a socket", err);
    throw err;
  }
  let stats: Stats;
  try {
    stats = await handle.stat();
  } catch (err) {
    await handle.close().catch(() => undefined);
    // The file opened, so it is there: a failure now is an I/O error, never a sign that it is gone.
    throw ioError(`stat ${file}`, err, file);
  }
  if (!stats.isFile()) {
    await handle.close().catch(() => undefined);
    throw notRegularFile(file, kindOf(stats));
  }
  return { handle, size: stats.size };
}

/**
 * Passes on at most `limit` bytes of `source`, then ends and destroys it: for
 * bytes whose file cannot be checked when opened (a blob store's own stream).
 */
function takeAtMost(source: Readable, limit: number): Readable {
  async function* take(): AsyncGenerator<Buffer> {
    let left = limit;
    try {
      for await (const chunk of source) {
        const piece = chunk as Buffer;
        if (piece.length >= left) {
          yield piece.subarray(0, left);
          return;
        }
        left -= piece.length;
        yield piece;
      }
    } finally {
      source.destroy();
    }
  }
  return Readable.from(take(), { objectMode: false, highWaterMark: 1 << 20 });
}

/** An attachment's bytes as opened: never more than the staged size + 1, the one byte that shows the file grew. */
interface OpenedBytes {
  stream: Readable;
  /** The file's size when it was opened, or `null` when the bytes are not read from a local file. */
  sizeOnDisk: number | null;
}

/**
 * The one way every reader opens an attachment's bytes. A `reference` file is
 * opened without blocking or following symlinks and must be a regular file;
 * a blob comes from the blob store. Either way the stream stops after the
 * staged size + 1 bytes, so a file swapped for a device or grown by a gigabyte
 * costs one byte more than the attachment, not the gigabyte.
 */
async function openBytes(ctx: StoreContext, record: AttachmentRecord): Promise<OpenedBytes> {
  const limit = record.size + 1;
  if (record.referencePath === null && record.inline === true) {
    return { stream: Readable.from([await inlineBytesOf(ctx, record)], { objectMode: false }), sizeOnDisk: null };
  }
  if (record.referencePath === null) {
    return { stream: takeAtMost(await ctx.blobs.openRead(record.digest), limit), sizeOnDisk: null };
  }
  const { handle, size } = await openRegularFile(ctx, record.referencePath, true);
  // The stream owns the FileHandle; `end` is inclusive, so this is `limit` bytes.
  const stream = createReadStream("", { fd: handle, start: 0, end: limit - 1, highWaterMark: 1 << 20 });
  return { stream, sizeOnDisk: size };
}

/**
 * Opens the raw bytes of an attachment, at most its staged size + 1 (a size
 * that differs shows up as a digest that differs); ENOENT-coded errors mean
 * the file is gone or is no longer a regular file.
 */
export async function openRaw(ctx: StoreContext, record: AttachmentRecord): Promise<Readable> {
  return (await openBytes(ctx, record)).stream;
}

/** Where the bytes are, for messages: a local file, or the blob in a store without local files. */
/**
 * The raw bytes [start, end) of an attachment (an upload sends large files
 * in parts): from the blob store, or from the `reference` file opened as
 * every reader opens it (regular file, not followed). Not verified: the
 * caller hashes what it reads.
 */
export async function openRange(ctx: StoreContext, record: AttachmentRecord, range: ByteRange): Promise<Readable> {
  try {
    if (record.referencePath === null && record.inline === true) {
      const bytes = await inlineBytesOf(ctx, record);
      return Readable.from([bytes.subarray(range.start, Math.max(range.start, range.end))], { objectMode: false });
    }
    if (record.referencePath === null) return await ctx.blobs.openRead(record.digest, range);
    const { handle } = await openRegularFile(ctx, record.referencePath, true);
    if (range.end <= range.start) {
      await handle.close();
      return Readable.from([]);
    }
    return createReadStream("", { fd: handle, start: range.start, end: range.end - 1, highWaterMark: 1 << 20 });
  } catch (err) {
    throw openFailure(ctx, record, err);
  }
}

function locationOf(ctx: StoreContext, record: AttachmentRecord): string {
  if (record.referencePath === null && record.inline === true) return `sha256:${record.digest} inline in the ${ctx.manifest.kind} manifest`;
  return record.referencePath ?? ctx.blobs.local?.pathOf(record.digest) ?? `sha256:${record.digest} in the ${ctx.blobs.kind} blob store`;
}

/**
 * The bytes of an inline blob, as the manifest holds them (not verified).
 * ENOENT-coded when the row holds none (released and swept meanwhile, or
 * moved to the blob store by a repair), so readers report missing bytes.
 */
async function inlineBytesOf(ctx: StoreContext, record: AttachmentRecord): Promise<Buffer> {
  const bytes = await ctx.manifest.blobs.readInline?.(record.digest);
  if (bytes !== undefined) return bytes;
  const err: NodeJS.ErrnoException = new Error(`the ${ctx.manifest.kind} manifest holds no inline bytes for sha256:${record.digest}`);
  err.code = "ENOENT";
  throw err;
}

/** The first errno-style code along an error's `cause` chain. */
function causeCode(err: unknown): string | undefined {
  for (let at = err, depth = 0; at !== undefined && at !== null && depth < 8; at = (at as { cause?: unknown }).cause, depth++) {
    const code = errnoCode(at);
    if (code !== undefined && code.startsWith("E")) return code;
  }
  return undefined;
}

function missingBytes(ctx: StoreContext, record: AttachmentRecord, cause: unknown) {
  const where = locationOf(ctx, record);
  return integrityError(
    refOf(record.id),
    where,
    record.referencePath === null
      ? `The bytes of ${refOf(record.id)} are missing from the store (${where}).`
      : `The referenced file ${where} of ${refOf(record.id)} is gone, unreadable or no longer a regular file.`,
    { cause },
  );
}

/** The error for a failed open: a file that is gone is damage (INTEGRITY_ERROR), anything else an I/O failure. */
function openFailure(ctx: StoreContext, record: AttachmentRecord, err: unknown) {
  const code = errnoCode(err);
  if (code === "ENOENT" || code === "EACCES" || code === "ENOTDIR") return missingBytes(ctx, record, err);
  return ioError(`open ${locationOf(ctx, record)}`, err, locationOf(ctx, record));
}

function wrongSize(ctx: StoreContext, record: AttachmentRecord, found: string) {
  const where = locationOf(ctx, record);
  return integrityError(refOf(record.id), where, `${where} holds ${found} bytes where ${record.size} were staged.`);
}

/** `openBytes` for readers: a failure is an AttacheError, and a file of the wrong size fails before a byte is read. */
async function openOrFail(ctx: StoreContext, record: AttachmentRecord): Promise<Readable> {
  let opened: OpenedBytes;
  try {
    opened = await openBytes(ctx, record);
  } catch (err) {
    throw openFailure(ctx, record, err);
  }
  if (opened.sizeOnDisk !== null && opened.sizeOnDisk !== record.size) {
    opened.stream.destroy();
    throw wrongSize(ctx, record, String(opened.sizeOnDisk));
  }
  return opened.stream;
}

function mismatch(ctx: StoreContext, record: AttachmentRecord, actualDigest: string, actualSize: number) {
  return integrityError(
    refOf(record.id),
    locationOf(ctx, record),
    `The bytes of ${refOf(record.id)} changed on disk: ${actualSize} bytes hashing to sha256:${actualDigest}, where ${record.size} bytes hashing to sha256:${record.digest} were staged.`,
    { expected: `sha256:${record.digest}`, actual: `sha256:${actualDigest}` },
  );
}

/** A stream of the attachment's bytes that fails at its end if they do not verify. */
export async function openVerified(ctx: StoreContext, record: AttachmentRecord): Promise<Readable> {
  const raw = await openOrFail(ctx, record);
  const hash = createHash("sha256");
  let size = 0;
  const verifier = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      // More bytes than were staged cannot verify: fail now rather than hand them out.
      if (size > record.size) return callback(wrongSize(ctx, record, `more than ${record.size}`));
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const actual = hash.digest("hex");
      callback(actual === record.digest && size === record.size ? null : mismatch(ctx, record, actual, size));
    },
  });
  raw.on("error", (err) => verifier.destroy(ioError(`read ${locationOf(ctx, record)}`, err, locationOf(ctx, record))));
  verifier.on("close", () => raw.destroy());
  return raw.pipe(verifier);
}

/**
 * The attachment's bytes in one Buffer, verified. The Buffer is allocated once
 * at the staged size and filled as the bytes stream in, so a large read costs
 * one copy and no more than its own size in memory.
 */
export async function readVerified(ctx: StoreContext, record: AttachmentRecord): Promise<Buffer> {
  if (record.referencePath === null && record.inline === true) {
    let bytes: Buffer;
    try {
      bytes = await inlineBytesOf(ctx, record);
    } catch (err) {
      throw openFailure(ctx, record, err);
    }
    const actual = createHash("sha256").update(bytes).digest("hex");
    if (actual !== record.digest || bytes.length !== record.size) throw mismatch(ctx, record, actual, bytes.length);
    return bytes;
  }
  const file = record.referencePath ?? ctx.blobs.local?.pathOf(record.digest) ?? ctx.cache?.pathIfCached(record.digest, record.size) ?? null;
  if (file !== null) return readFileVerified(ctx, record, file);
  const raw = await openOrFail(ctx, record);
  const hash = createHash("sha256");
  const bytes = Buffer.allocUnsafe(record.size);
  let size = 0;
  try {
    for await (const chunk of raw) {
      const piece = chunk as Buffer;
      hash.update(piece);
      // Bytes past the staged size cannot verify; stop reading.
      if (size + piece.length > record.size) {
        size += piece.length;
        break;
      }
      piece.copy(bytes, size);
      size += piece.length;
    }
  } catch (err) {
    throw ioError(`read ${locationOf(ctx, record)}`, err, locationOf(ctx, record));
  } finally {
    raw.destroy();
  }
  const actual = hash.digest("hex");
  if (actual !== record.digest || size !== record.size) throw mismatch(ctx, record, actual, size);
  return bytes;
}

/** Chunk size of direct reads: large enough that hashing, not syscalls, dominates. */
const READ_CHUNK = 4 << 20;

/**
 * `readVerified` for bytes in a local file: reads straight into the result
 * Buffer (no intermediate chunks), hashing each piece while the next is read.
 */
async function readFileVerified(ctx: StoreContext, record: AttachmentRecord, file: string): Promise<Buffer> {
  let opened: OpenedFile;
  try {
    opened = await openRegularFile(ctx, file, record.referencePath !== null);
  } catch (err) {
    throw openFailure(ctx, record, err);
  }
  const { handle } = opened;
  if (opened.size !== record.size) {
    await handle.close().catch(() => undefined);
    throw wrongSize(ctx, record, String(opened.size));
  }
  // One byte of slack: a file that grew past its staged size shows up as a size mismatch.
  const bytes = Buffer.allocUnsafe(record.size + 1);
  const hash = createHash("sha256");
  let size = 0;
  try {
    const readAt = (offset: number) => {
      const read = handle.read(bytes, offset, Math.min(READ_CHUNK, bytes.length - offset), offset);
      read.catch(() => undefined); // seen when awaited, never as an unhandled rejection
      return read;
    };
    let next = bytes.length > 0 ? readAt(0) : undefined;
    while (next !== undefined) {
      const { bytesRead } = await next;
      if (bytesRead === 0) break;
      const start = size;
      size += bytesRead;
      next = size < bytes.length ? readAt(size) : undefined;
      hash.update(bytes.subarray(start, size));
    }
  } catch (err) {
    throw ioError(`read ${file}`, err, file);
  } finally {
    await handle.close().catch(() => undefined);
  }
  const actual = hash.digest("hex");
  if (actual !== record.digest || size !== record.size) throw mismatch(ctx, record, actual, size);
  return bytes.subarray(0, size);
}

/**
 * The local path of an attachment's bytes, checked to be a regular file of
 * the staged size. A `reference` path is not followed (lstat): a symlink
 * found there is a changed file, as staging refuses symlinks.
 */
export async function localPathOf(ctx: StoreContext, record: AttachmentRecord): Promise<string> {
  if (record.referencePath === null && (record.inline === true || ctx.blobs.local === undefined)) return cachedCopyOf(ctx, record);
  const file = record.referencePath ?? (ctx.blobs.local as LocalBlobFiles).pathOf(record.digest);
  const noFollow = record.referencePath !== null;
  let stats: Stats;
  try {
    // On the real filesystem a synchronous stat of a local file costs a few
    // microseconds, a round trip through libuv's thread pool tens (resolve()
    // was 4.7x slower with it). A wrapped seam (tests, fault injection) keeps
    // the asynchronous call.
    if (ctx.fs === nodeFileSystem) stats = noFollow ? lstatSync(file) : statSync(file);
    else stats = noFollow ? await ctx.fs.lstat(file) : await ctx.fs.stat(file);
  } catch (err) {
    throw missingBytes(ctx, record, err);
  }
  if (!stats.isFile()) throw missingBytes(ctx, record, notRegularFile(file, kindOf(stats)));
  if (stats.size !== record.size) throw wrongSize(ctx, record, String(stats.size));
  return file;
}

/**
 * The path of a verified, read-only copy of a blob held in a store without
 * local files, or inline in the manifest, written into the local cache if it
 * is not there yet.
 */
async function cachedCopyOf(ctx: StoreContext, record: AttachmentRecord): Promise<string> {
  const cache = ctx.cache;
  if (cache === null) throw ioError(`find the bytes of ${refOf(record.id)}`, new Error("the store has no local cache for a blob store without local files"));
  try {
    const fetch = record.inline === true ? async () => Readable.from([await inlineBytesOf(ctx, record)]) : () => ctx.blobs.openRead(record.digest);
    return await cache.ensure(record.digest, record.size, fetch);
  } catch (err) {
    if (causeCode(err) === "ENOENT") throw missingBytes(ctx, record, err);
    if (isAttacheError(err, "INTEGRITY_ERROR")) {
      throw integrityError(refOf(record.id), locationOf(ctx, record), `The bytes of ${refOf(record.id)} (${locationOf(ctx, record)}) are damaged: ${err.message}`, {
        expected: err.expected,
        actual: err.actual,
        cause: err,
      });
    }
    throw err;
  }
}
