/**
 * Turns anything `stage` accepts into one shape: an async sequence of byte
 * chunks plus what the source says about itself (a path, a name, a type, a
 * size). An http(s) URL is fetched under the SSRF guard of src/url/. Paths are opened non-blocking and checked to be regular files, so a
 * FIFO, socket, device or directory is refused instead of hanging the stage.
 */
import { constants, type Stats } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { AttacheError, invalidArgument, ioError } from "./errors.js";
import { errnoCode, type FileSystem } from "./fs-seam.js";
import type { StageSource } from "./types.js";
import { openUrlSource, type UrlSourceOptions } from "./url/url-source.js";

/** Bytes read from a file per chunk. */
const FILE_CHUNK_BYTES = 1 << 20;
/** Largest chunk handed on from a buffer source, so writes stay bounded. */
const BUFFER_CHUNK_BYTES = 4 << 20;

export interface OpenedSource {
  /** The absolute path, for path sources. */
  readonly path: string | null;
  readonly nameHint: string | null;
  /** A type the caller declared (a Blob's `type`): it outranks sniffing. */
  readonly typeHint: string | null;
  /** The type a server said the bytes have (a URL's `Content-Type`): it ranks below sniffing, with the name's extension. */
  readonly servedType?: string | null;
  /** The provenance a stage records when the caller gives no `source` (a URL's origin). */
  readonly provenance?: string | null;
  /** The size, when the source knows it before reading. */
  readonly size: number | null;
  /** `fstat` of the opened file, for path sources. */
  readonly stats: Stats | null;
  /** True when `chunks()` can be called again to read the same bytes (paths and buffers). */
  readonly rereadable: boolean;
  chunks(): AsyncIterable<Uint8Array>;
  /** Stops the source (destroys a stream) after an abort or failure. */
  destroy(): void;
  close(): Promise<void>;
  /** Fails with INVALID_SOURCE if a path source changed since it was opened. */
  assertUnchanged(): Promise<void>;
}

export function invalidSource(message: string, cause?: unknown, file?: string): AttacheError {
  return new AttacheError("INVALID_SOURCE", message, {
    ...(cause === undefined ? {} : { cause }),
    ...(file === undefined ? {} : { path: file }),
  });
}

export interface SourceOptions extends UrlSourceOptions {
  /** Refuse a symbolic link (`move`, `reference`). */
  noFollow: boolean;
}

export async function openSource(source: StageSource, fs: FileSystem, options: SourceOptions): Promise<OpenedSource> {
  if (typeof source === "string") return openPath(path.resolve(source), fs, options.noFollow);
  if (source instanceof URL) {
    // An http(s) URL is fetched under the SSRF guard (src/url/); a file: URL is a path.
    if (source.protocol === "http:" || source.protocol === "https:") {
      if (options.noFollow) throw invalidArgument('modes "move" and "reference" need a path source; a URL can only be copied (mode "copy").');
      return openUrlSource(source, options);
    }
    if (source.protocol !== "file:") {
      throw invalidSource(`Only file:, http: and https: URLs can be staged, not ${source.protocol} URLs: download the bytes and stage them as a stream.`);
    }
    return openPath(fileURLToPath(source), fs, options.noFollow);
  }
  if (source instanceof Uint8Array) return fromBuffer(source);
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    const name = typeof (source as { name?: unknown }).name === "string" ? (source as File).name : null;
    return fromIterable(webStreamChunks(source.stream()), {
      nameHint: name,
      typeHint: source.type === "" ? null : source.type,
      size: source.size,
    });
  }
  if (source instanceof Readable) {
    return fromIterable(source, { nameHint: null, typeHint: null, size: null }, () => source.destroy());
  }
  if (source !== null && typeof source === "object") {
    if (typeof (source as ReadableStream).getReader === "function") {
      const stream = source as ReadableStream<Uint8Array>;
      return fromIterable(webStreamChunks(stream), { nameHint: null, typeHint: null, size: null });
    }
    if (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === "function") {
      return fromIterable(source as AsyncIterable<Uint8Array>, { nameHint: null, typeHint: null, size: null });
    }
  }
  throw invalidArgument(
    "stage() takes a path, a file: or http(s): URL, a Buffer or Uint8Array, a Blob, a Node Readable, a web ReadableStream or an AsyncIterable of Uint8Array.",
  );
}

async function openPath(file: string, fs: FileSystem, noFollow: boolean): Promise<OpenedSource> {
  if (file.includes("\0")) throw invalidArgument("A path cannot contain NUL bytes.");
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    const flags = constants.O_RDONLY | constants.O_NONBLOCK | (noFollow ? constants.O_NOFOLLOW : 0);
    handle = await fs.open(file, flags);
  } catch (err) {
    throw describeOpenError(err, file, noFollow);
  }
  let stats: Stats;
  try {
    stats = await handle.stat();
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw invalidSource(`Could not read ${file}: ${(err as Error).message}.`, err, file);
  }
  if (!stats.isFile()) {
    await handle.close().catch(() => undefined);
    const what = stats.isDirectory() ? "a directory" : stats.isFIFO() ? "a FIFO" : stats.isSocket() ? "a socket" : "a device";
    throw invalidSource(`${file} is ${what}, not a regular file: only regular files can be staged by path (pipe other sources in as a stream).`, undefined, file);
  }
  let closed = false;
  return {
    path: file,
    nameHint: path.basename(file),
    typeHint: null,
    size: stats.size,
    stats,
    rereadable: true,
    chunks: () => fileChunks(handle, file),
    destroy() {},
    async close() {
      if (closed) return;
      closed = true;
      await handle.close().catch(() => undefined);
    },
    async assertUnchanged() {
      let now: Stats;
      try {
        now = await handle.stat();
      } catch (err) {
        throw invalidSource(`Could not re-check ${file} after reading it: ${(err as Error).message}. Nothing was kept.`, err, file);
      }
      if (now.size !== stats.size || now.mtimeMs !== stats.mtimeMs || now.ino !== stats.ino) {
        throw invalidSource(`${file} changed while it was being staged; nothing was kept. Stage it again once it is complete.`, undefined, file);
      }
    },
  };
}

function describeOpenError(err: unknown, file: string, noFollow: boolean): AttacheError {
  switch (errnoCode(err)) {
    case "ENOENT":
      return invalidSource(`${file} does not exist: check the path.`, err, file);
    case "EACCES":
    case "EPERM":
      return invalidSource(`${file} is not readable by this process: check its permissions.`, err, file);
    case "ELOOP":
      return noFollow
        ? invalidSource(`${file} is a symbolic link; "move" and "reference" need the real file: pass its target, or use mode "copy".`, err, file)
        : invalidSource(`${file} is a symbolic link loop.`, err, file);
    case "EISDIR":
      return invalidSource(`${file} is a directory, not a regular file.`, err, file);
    case "EMFILE":
    case "ENFILE":
      // Out of descriptors says nothing about the file: a caller must not drop it as a bad source.
      return ioError(`open ${file}`, err, file);
    default:
      return invalidSource(`Could not open ${file}: ${(err as Error).message}.`, err, file);
  }
}

async function* fileChunks(handle: FileHandle, file: string): AsyncGenerator<Uint8Array> {
  const readAt = (position: number): Promise<Buffer> => {
    const read = (async () => {
      const buffer = Buffer.allocUnsafeSlow(FILE_CHUNK_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, FILE_CHUNK_BYTES, position);
      return bytesRead === FILE_CHUNK_BYTES ? buffer : buffer.subarray(0, bytesRead);
    })();
    // The read ahead may fail while the consumer is busy (or has given up): that
    // failure is seen when the chunk is awaited, never as an unhandled rejection.
    read.catch(() => undefined);
    return read;
  };
  let position = 0;
  // One read ahead, so the disk read of chunk n+1 overlaps the hashing of chunk n.
  let next = readAt(position);
  try {
    for (;;) {
      let chunk: Buffer;
      try {
        chunk = await next;
      } catch (err) {
        throw invalidSource(`Could not read ${file}: ${(err as Error).message}.`, err, file);
      }
      if (chunk.length === 0) return;
      position += chunk.length;
      next = readAt(position);
      yield chunk;
    }
  } finally {
    next.catch(() => undefined);
  }
}

function fromBuffer(bytes: Uint8Array): OpenedSource {
  return {
    path: null,
    nameHint: null,
    typeHint: null,
    size: bytes.byteLength,
    stats: null,
    rereadable: true,
    async *chunks() {
      for (let offset = 0; offset < bytes.byteLength; offset += BUFFER_CHUNK_BYTES) {
        yield bytes.subarray(offset, Math.min(offset + BUFFER_CHUNK_BYTES, bytes.byteLength));
      }
    },
    destroy() {},
    async close() {},
    async assertUnchanged() {},
  };
}

function fromIterable(
  iterable: AsyncIterable<unknown>,
  hints: { nameHint: string | null; typeHint: string | null; size: number | null },
  destroy: () => void = () => undefined,
): OpenedSource {
  return {
    path: null,
    ...hints,
    stats: null,
    rereadable: false,
    async *chunks() {
      for await (const chunk of iterable) {
        if (chunk instanceof Uint8Array) yield chunk;
        else if (typeof chunk === "string") yield Buffer.from(chunk);
        else throw invalidSource(`The stream yielded a ${typeof chunk}, not bytes: stage streams of Uint8Array or Buffer chunks.`);
      }
    },
    destroy,
    async close() {},
    async assertUnchanged() {},
  };
}

async function* webStreamChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
