/**
 * An `UploadInput` over a Buffer, standing in for the store: `openRange`
 * streams a fresh slice for every call and the stream of a range ending at
 * the end errors with INTEGRITY_ERROR (instead of ending) when the stored
 * bytes do not hash to the digest; `beforeComplete` checks the same.
 * Everything the destination does with it is recorded for the assertions.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { AttacheError } from "../../../src/errors.js";
import type { RetryNotice, UploadInput } from "../../../src/providers/destination.js";

export interface TestUpload extends UploadInput {
  /** Every state given to onCheckpoint, in order. */
  readonly checkpoints: unknown[];
  /** Every range opened, in order. */
  readonly opened: Array<[number, number]>;
  /** Every progress figure reported. */
  readonly progress: number[];
  /** Every retry notice. */
  readonly retries: RetryNotice[];
  /** How often beforeComplete was called. */
  beforeCompleteCalls: number;
}

export interface TestUploadOptions {
  name?: string;
  contentType?: string;
  /** What the "store" actually holds; bytes other than `bytes` make the digest check fail. @default bytes */
  stored?: Buffer;
  resume?: unknown;
  signal?: AbortSignal;
  /** Called after each checkpoint was recorded (to abort after N parts, say). */
  onCheckpoint?: (state: unknown, count: number) => void | Promise<void>;
  /** Bytes per chunk of the streams. @default 16 KiB */
  streamChunk?: number;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Deterministic pseudo-random bytes. */
export function testBytes(size: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(size);
  let state = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/** An UploadInput whose digest is that of `bytes`. */
export function bufferUpload(bytes: Buffer, options: TestUploadOptions = {}): TestUpload {
  const digest = sha256(bytes);
  const stored = options.stored ?? bytes;
  const streamChunk = options.streamChunk ?? 16 * 1024;
  const intact = (): boolean => sha256(stored) === digest;
  const integrityError = (): AttacheError => new AttacheError("INTEGRITY_ERROR", "The stored bytes do not hash to the digest.");
  const upload: TestUpload = {
    name: options.name ?? "report.pdf",
    contentType: options.contentType ?? "application/pdf",
    size: bytes.length,
    digest,
    resume: options.resume ?? null,
    ...(options.signal ? { signal: options.signal } : {}),
    checkpoints: [],
    opened: [],
    progress: [],
    retries: [],
    beforeCompleteCalls: 0,
    async openRange(start, end) {
      upload.opened.push([start, end]);
      const slice = stored.subarray(start, end);
      async function* chunks(): AsyncGenerator<Buffer> {
        for (let at = 0; at < slice.length; at += streamChunk) yield slice.subarray(at, Math.min(at + streamChunk, slice.length));
        if (end === bytes.length && !intact()) throw integrityError();
      }
      return Readable.from(chunks(), { objectMode: false });
    },
    async beforeComplete() {
      upload.beforeCompleteCalls++;
      if (!intact()) throw integrityError();
    },
    async onCheckpoint(state) {
      upload.checkpoints.push(structuredClone(state));
      await options.onCheckpoint?.(state, upload.checkpoints.length);
    },
    onProgress(bytesSent) {
      upload.progress.push(bytesSent);
    },
    onRetry(notice) {
      upload.retries.push(notice);
    },
  };
  return upload;
}

/** `bytes` with one byte flipped: what a damaged blob holds. */
export function corrupted(bytes: Buffer, at = Math.floor(bytes.length / 2)): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] as number) ^ 0xff;
  return copy;
}
