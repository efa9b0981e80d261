/**
 * The body of one request: bytes [start, end) of the blob, from a stream the
 * store opens afresh for this attempt. It counts the bytes as they go (for
 * progress) and remembers why its source failed, because an SDK reports a
 * body that failed mid-request as a connection error: the source's own
 * error (INTEGRITY_ERROR for bad bytes) is what must reach the caller, and
 * it must not be retried as a network failure.
 */
import { AttacheError, ioError } from "../errors.js";
import type { UploadInput } from "./destination.js";

/** An async iterable of bytes with a filename, as the OpenAI SDK streams a multipart file part. */
export interface NamedByteStream extends AsyncIterable<Uint8Array> {
  readonly name: string;
}

export class RangeBody {
  private sourceFailure: AttacheError | undefined;
  private used = false;

  private constructor(
    private readonly source: NodeJS.ReadableStream | import("node:stream").Readable,
    readonly start: number,
    readonly end: number,
    private readonly onBytes?: (bytesRead: number) => void,
  ) {}

  /** Opens the range through `input.openRange`. */
  static async open(input: UploadInput, start: number, end: number, onBytes?: (bytesRead: number) => void): Promise<RangeBody> {
    let source;
    try {
      source = await input.openRange(start, end);
    } catch (err) {
      throw ioError(`read bytes ${start}-${end} of ${input.name} to upload them`, err);
    }
    return new RangeBody(source, start, end, onBytes);
  }

  /** Why the source failed, once it has (INTEGRITY_ERROR, a short range, a read error). */
  get failure(): AttacheError | undefined {
    return this.sourceFailure;
  }

  /** The bytes, one pass only; fails when the source fails or yields other than end - start bytes. */
  async *chunks(): AsyncGenerator<Uint8Array> {
    if (this.used) throw new Error("RangeBody is read once; open a fresh one for each attempt.");
    this.used = true;
    const expected = this.end - this.start;
    let read = 0;
    try {
      for await (const chunk of this.source as AsyncIterable<Buffer | string>) {
        const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
        read += bytes.byteLength;
        if (read > expected) throw this.shortOrLong(read);
        this.onBytes?.(read);
        yield bytes;
      }
      if (read !== expected) throw this.shortOrLong(read);
    } catch (err) {
      this.sourceFailure ??= ioError(`read bytes ${this.start}-${this.end} to upload them`, err);
      throw this.sourceFailure;
    }
  }

  /** The bytes as a named stream for a multipart file part (OpenAI). */
  asNamedStream(name: string): NamedByteStream {
    return { name, [Symbol.asyncIterator]: () => this.chunks() };
  }

  /** The whole range in memory (a Gemini chunk, an Anthropic file), read before the request starts. */
  async readAll(): Promise<Buffer> {
    const parts: Uint8Array[] = [];
    for await (const chunk of this.chunks()) parts.push(chunk);
    return Buffer.concat(parts);
  }

  /** Releases the source (a file descriptor) whether or not it was read to the end. */
  close(): void {
    const stream = this.source as { destroy?: () => void };
    stream.destroy?.();
  }

  private shortOrLong(read: number): AttacheError {
    return new AttacheError(
      "INTEGRITY_ERROR",
      `The stored bytes ${this.start}-${this.end} ran ${read > this.end - this.start ? "past" : "short of"} the range (${read} bytes read); the blob is damaged. Run a verify with repair, then stage the file again.`,
    );
  }
}

/**
 * Opens a fresh body for one attempt, runs `send` with it, and closes it.
 * When the body's source failed, that failure is thrown instead of
 * whatever the client made of the aborted request.
 */
export async function sendRange<T>(
  input: UploadInput,
  start: number,
  end: number,
  onBytes: ((bytesRead: number) => void) | undefined,
  send: (body: RangeBody) => PromiseLike<T>,
): Promise<T> {
  const body = await RangeBody.open(input, start, end, onBytes);
  try {
    return await send(body);
  } catch (err) {
    throw body.failure ?? err;
  } finally {
    body.close();
  }
}
