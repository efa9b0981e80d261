/**
 * The single pass over a source's bytes: every chunk is counted against
 * `maxSize`, hashed, kept for content sniffing if it is among the first few
 * KiB, and handed to the blob writer, in that order, so the bytes are read
 * once and the digest describes exactly what was written.
 */
import { createHash } from "node:crypto";
import type { BlobWriter } from "./backends/blob-store.js";
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
  writer: BlobWriter | null;
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
  let onAbort: (() => void) | undefined;
  const abortion =
    signal === undefined
      ? undefined
      : new Promise<never>((_, reject) => {
          onAbort = () => reject(aborted(signal.reason));
          if (signal.aborted) onAbort();
          else signal.addEventListener("abort", onAbort, { once: true });
        });
  abortion?.catch(() => undefined);

  try {
    for (;;) {
      let step: IteratorResult<Uint8Array>;
      try {
        step = await (abortion ? Promise.race([iterator.next(), abortion]) : iterator.next());
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
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
  if (signal?.aborted) throw aborted(signal.reason);
  return { digest: hash.digest("hex"), size, head: Buffer.concat(head) };
}
