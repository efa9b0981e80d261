/**
 * Taking a blob store's stream of one blob into a cache temp file, and
 * checking it: never more bytes than stored (the stream is cut at the first
 * byte too many), exactly as many at the end, and the digest. The fetch waits
 * on the disk when too much is queued, so memory stays bounded whatever the
 * size; an abort signal cuts the stream at once.
 */
import type { Readable } from "node:stream";
import { aborted, AttacheError } from "../errors.js";
import type { CacheTempFile } from "./cache-temp-file.js";

/** A fetch waits for the disk when this much is queued. */
const HIGH_WATER = 4 << 20;

/**
 * Streams `source` into `temp` and verifies it against `digest` and `size`.
 * Rejects with `INTEGRITY_ERROR` (wrong size or digest; `file` is the copy's
 * place, for the error), `ABORTED`, the stream's own error, or the disk's.
 */
export async function receiveFetchedBytes(
  source: Readable | AsyncIterable<Uint8Array>,
  temp: CacheTempFile,
  expected: { digest: string; size: number; file: string },
  signal: AbortSignal,
): Promise<void> {
  const { digest, size, file } = expected;
  const iterator = (source as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const abortion = new Promise<never>((_, reject) => {
    onAbort = () => reject(aborted(signal.reason));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  abortion.catch(() => undefined);
  try {
    for (;;) {
      const step = await Promise.race([iterator.next(), abortion]);
      if (step.done) break;
      const chunk = typeof step.value === "string" ? Buffer.from(step.value) : step.value;
      if (temp.bytes + chunk.byteLength > size) {
        throw damagedFetch(digest, file, `The blob store sent more than the ${size} bytes stored for sha256:${digest}.`);
      }
      temp.write(chunk);
      if (temp.queuedBytes >= HIGH_WATER || temp.failure !== undefined) await temp.flush();
    }
  } finally {
    if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
    void iterator.return?.()?.catch(() => undefined);
    (source as Partial<Readable>).destroy?.();
  }
  const actual = temp.digest();
  if (temp.bytes !== size) {
    throw damagedFetch(digest, file, `The blob store sent ${temp.bytes} bytes for sha256:${digest}, where ${size} were stored.`, actual);
  }
  if (actual !== digest) {
    throw damagedFetch(digest, file, `The bytes fetched for sha256:${digest} hash to sha256:${actual}.`, actual);
  }
}

/**
 * Fetched bytes that are not the blob. The cache knows a digest, not a ref,
 * so this is built here rather than with `integrityError` (which names one).
 */
function damagedFetch(digest: string, file: string, message: string, actual?: string): AttacheError {
  return new AttacheError(
    "INTEGRITY_ERROR",
    `${message} Nothing was cached. The stored blob may be damaged: run store.verify({ repair: true }) (or \`attache verify --repair\`) to drop what is lost, then stage the file again.`,
    { expected: `sha256:${digest}`, ...(actual === undefined ? {} : { actual: `sha256:${actual}` }), path: file },
  );
}
