/**
 * A request body as a stage source: the raw request stream, never buffered,
 * counted against `--max-size` as it arrives (TOO_LARGE the moment the
 * limit is crossed, or before a byte is read when Content-Length already
 * says so). A client that disconnects mid-body makes the stream fail, so
 * the stage fails and keeps nothing.
 */
import type { IncomingMessage } from "node:http";
import { aborted, tooLarge } from "../errors.js";

/** Fails at once when the declared length is over the limit. */
export function refuseDeclaredOversize(request: IncomingMessage, maxSize: number): void {
  const declared = request.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxSize) throw tooLarge(maxSize);
}

/**
 * The body's chunks, failing with TOO_LARGE once more than `maxSize` bytes
 * have arrived, and with ABORTED when `signal` aborts (the server's
 * shutdown). The abort is watched here, one short-lived listener per chunk,
 * rather than passed to `stage()` as its `signal`: the stage races every
 * chunk against one long-lived abort promise, which keeps each chunk
 * reachable until the signal fires (a 64 MiB body held 64 MiB; see the
 * report of issue 14).
 */
export async function* boundedBody(request: IncomingMessage, maxSize: number, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const iterator = request[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let size = 0;
  try {
    for (;;) {
      if (signal.aborted) throw aborted(signal.reason);
      let onAbort: (() => void) | undefined;
      const abortion = new Promise<never>((_, reject) => {
        onAbort = () => reject(aborted(signal.reason));
        signal.addEventListener("abort", onAbort, { once: true });
      });
      let step: IteratorResult<Buffer>;
      try {
        step = await Promise.race([iterator.next(), abortion]);
      } finally {
        signal.removeEventListener("abort", onAbort as () => void);
      }
      if (step.done === true) return;
      size += step.value.byteLength;
      if (size > maxSize) throw tooLarge(maxSize);
      yield step.value;
    }
  } finally {
    void iterator.return?.()?.catch(() => undefined);
  }
}
