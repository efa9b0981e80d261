/**
 * The single pass over a source's bytes: every chunk is counted against
 * `maxSize`, hashed, kept for content sniffing if it is among the first few
 * KiB, and handed to the blob writer, in that order, so the bytes are read
 * once and the digest describes exactly what was written.
 */
import { createHash } from "node:crypto";
import { aborted, AttacheError, ioError, tooLarge } from "./errors.js";
import { SNIFF_BYTES } from "./content-type.js";
import { invalidSource, type OpenedSource } from "./source.js";

export interface Hashed {
  /** Lowercase hex SHA-256. */
  digest: string;
  size: number;
  /** The first bytes, for content sniffing. */
  head: Buffer;
}

export interface HashOptions {
  /** Where the bytes go; `null` to hash only (`move`, `reference`). */
  writer: { write(chunk: Uint8Array): Promise<void> | undefined } | null;
  maxSize: number;
  signal: AbortSignal | undefined;
  onProgress?: ((progress: { bytes: number; total: number | null }) => void) | undefined;
}

export async function hashSource(source: OpenedSource, options: HashOptions): Promise<Hashed> {
  const { writer, maxSize, signal, onProgress } = options;
  if (source.size !== null && source.size > maxSize) throw tooLarge(maxSize);
  const hash = createHash("sha256");
  const head: Buffer[] = [];
  let headBytes = 0;
  let size = 0;

  const iterator = source.chunks()[Symbol.asyncIterator]();
  /**
   * The next chunk, or ABORTED as soon as the signal fires. Each wait has a
   * listener of its own, removed when it settles: one race against a promise
   * that lives for the whole stage would keep every chunk reachable from it.
   */
  const next = (): Promise<IteratorResult<Uint8Array>> => {
    if (signal === undefined) return iterator.next();
    if (signal.aborted) return Promise.reject(aborted(signal.reason));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(aborted(signal.reason));
      signal.addEventListener("abort", onAbort, { once: true });
      iterator.next().then(
        (step) => {
          signal.removeEventListener("abort", onAbort);
          resolve(step);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
  };

  try {
    for (;;) {
      let step: IteratorResult<Uint8Array>;
      try {
        step = await next();
      } catch (err) {
        if (err instanceof AttacheError) throw err;
        throw invalidSource(`The source failed while it was being read: ${(err as Error)?.message ?? String(err)}. Nothing was kept.`, err);
      }
      if (step.done) break;
      const chunk = step.value;
      size += chunk.byteLength;
      if (size > maxSize) throw tooLarge(maxSize);
      // Hashed and copied by the writer in the same synchronous turn: a source that changes
      // its buffer afterwards (a caller's Buffer, a stream reusing its chunk) cannot make the
      // stored bytes differ from the digest.
      hash.update(chunk);
      const written = writer?.write(chunk);
      if (headBytes < SNIFF_BYTES) {
        const take = chunk.subarray(0, SNIFF_BYTES - headBytes);
        head.push(Buffer.from(take));
        headBytes += take.byteLength;
      }
      if (written !== undefined) {
        try {
          await written;
        } catch (err) {
          throw ioError("write the staged bytes", err);
        }
      }
      onProgress?.({ bytes: size, total: source.size });
    }
  } catch (err) {
    source.destroy();
    void iterator.return?.()?.catch(() => undefined);
    throw err;
  }
  if (signal?.aborted) throw aborted(signal.reason);
  return { digest: hash.digest("hex"), size, head: Buffer.concat(head) };
}
