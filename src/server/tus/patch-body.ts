/**
 * A PATCH body written into an upload's bytes file at its offset, hashed on
 * the way when the request carries `Upload-Checksum`. Every chunk is written
 * before the next is read, so `written` is exact however the body ends: a
 * dropped connection, a takeover by a newer request, a server shutdown. The
 * bytes are fsynced before the caller acknowledges the new offset.
 */
import { createHash, type Hash } from "node:crypto";
import type { Readable } from "node:stream";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { nodeFileSystem } from "../../fs-seam.js";

export interface BodyWritten {
  /** Bytes written from `offset` on. */
  written: number;
  /** Why the body stopped before its end (null when it was read whole). */
  interruption: unknown;
  /** The body went past `maxBytes`: nothing past them was written. */
  tooLarge: boolean;
  /** SHA-256 of what was written, when asked for. */
  sha256: Buffer | null;
}

export interface WriteBodyOptions {
  offset: number;
  /** The most the body may hold (Upload-Length minus the offset). */
  maxBytes: number;
  hash: boolean;
  signal: AbortSignal;
}

class BodyTooLarge extends Error {}

export async function writeBody(body: Readable, file: string, options: WriteBodyOptions): Promise<BodyWritten> {
  const handle = await nodeFileSystem.open(file, "r+");
  const hash: Hash | null = options.hash ? createHash("sha256") : null;
  let written = 0;
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      if (written + chunk.length > options.maxBytes) {
        callback(new BodyTooLarge());
        return;
      }
      handle.write(chunk, 0, chunk.length, options.offset + written).then(({ bytesWritten }) => {
        hash?.update(chunk.subarray(0, bytesWritten));
        written += bytesWritten;
        callback(bytesWritten === chunk.length ? null : new Error("short write"));
      }, callback);
    },
  });
  let interruption: unknown = null;
  try {
    await pipeline(body, sink, { signal: options.signal });
  } catch (err) {
    interruption = err;
  }
  try {
    if (written > 0) await handle.datasync();
  } finally {
    await handle.close();
  }
  return {
    written,
    interruption: interruption instanceof BodyTooLarge ? null : interruption,
    tooLarge: interruption instanceof BodyTooLarge,
    sha256: hash?.digest() ?? null,
  };
}
