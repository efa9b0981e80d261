/**
 * Reading an attachment's bytes, verified: every byte handed out is hashed,
 * and the stream fails with INTEGRITY_ERROR at its end if the digest or size
 * differs from what was staged (a blob changed on disk, or a `reference`
 * file changed since it was recorded).
 */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { Transform, type Readable } from "node:stream";
import type { StoreContext } from "./context.js";
import { integrityError, ioError } from "./errors.js";
import { errnoCode, nodeFileSystem } from "./fs-seam.js";
import { refOf } from "./ids.js";
import type { AttachmentRecord } from "./manifest/types.js";

/** Opens the raw bytes of an attachment; ENOENT-coded errors mean the file is gone. */
export async function openRaw(ctx: StoreContext, record: AttachmentRecord): Promise<Readable> {
  if (record.referencePath === null) return ctx.blobs.openRead(record.digest);
  const handle = await ctx.fs.open(record.referencePath, "r");
  return createReadStream("", { fd: handle, highWaterMark: 1 << 20 });
}

function locationOf(ctx: StoreContext, record: AttachmentRecord): string {
  return record.referencePath ?? ctx.blobs.pathOf(record.digest);
}

function missingBytes(ctx: StoreContext, record: AttachmentRecord, cause: unknown) {
  const where = locationOf(ctx, record);
  return integrityError(
    refOf(record.id),
    where,
    record.referencePath === null
      ? `The bytes of ${refOf(record.id)} are missing from the store (${where}).`
      : `The referenced file ${where} of ${refOf(record.id)} is gone or unreadable.`,
    { cause },
  );
}

async function openOrFail(ctx: StoreContext, record: AttachmentRecord): Promise<Readable> {
  try {
    return await openRaw(ctx, record);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "EACCES" || code === "ENOTDIR") throw missingBytes(ctx, record, err);
    throw ioError(`open ${locationOf(ctx, record)}`, err, locationOf(ctx, record));
  }
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
      hash.update(chunk);
      size += chunk.length;
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
  const file = record.referencePath ?? (ctx.blobs.kind === "filesystem" ? ctx.blobs.pathOf(record.digest) : null);
  if (file !== null) return readFileVerified(ctx, record, file);
  const raw = await openOrFail(ctx, record);
  const hash = createHash("sha256");
  const bytes = Buffer.allocUnsafe(record.size);
  let size = 0;
  try {
    for await (const chunk of raw) {
      const piece = chunk as Buffer;
      hash.update(piece);
      // A reference file that grew past its recorded size cannot verify; stop reading it.
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
  let handle;
  try {
    handle = await ctx.fs.open(file, "r");
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "EACCES" || code === "ENOTDIR") throw missingBytes(ctx, record, err);
    throw ioError(`open ${file}`, err, file);
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

/** The local path of an attachment's bytes, checked to exist with the staged size. */
export async function localPathOf(ctx: StoreContext, record: AttachmentRecord): Promise<string> {
  let file: string;
  try {
    file = record.referencePath ?? (await ctx.blobs.localPath(record.digest));
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw missingBytes(ctx, record, err);
    throw ioError(`find the bytes of ${refOf(record.id)}`, err);
  }
  let size: number;
  try {
    // On the real filesystem a synchronous stat of a local file costs a few
    // microseconds, a round trip through libuv's thread pool tens (resolve()
    // was 4.7x slower with it). A wrapped seam (tests, fault injection) keeps
    // the asynchronous call.
    size = (ctx.fs === nodeFileSystem ? statSync(file) : await ctx.fs.stat(file)).size;
  } catch (err) {
    throw missingBytes(ctx, record, err);
  }
  if (size !== record.size) {
    throw integrityError(refOf(record.id), file, `${file} holds ${size} bytes where ${record.size} were staged.`);
  }
  return file;
}
