/**
 * The one retry policy every provider request goes through. The SDKs' own
 * retries are off for these requests (`maxRetries: 0`), so this loop alone
 * decides: network errors, timeouts, 408, 409, 429 and 5xx are tried again
 * after an exponential backoff with full jitter (a random wait between 0
 * and min(maxDelay, minDelay · 2^retry)), or after exactly the wait the
 * provider asked for with `retry-after-ms` / `Retry-After`. Other 4xx fail
 * at once, a 413 as `TOO_LARGE`. Each attempt builds its request afresh, so
 * a body stream is never sent twice.
 */
import { AttacheError, aborted, uploadFailed } from "../errors.js";
import type { RetryNotice, RetryPolicy } from "./destination.js";
import { describeRequestFailure, type RequestFailure } from "./http-status.js";

/** How {@link withRetries} runs one request. */
export interface RetryOptions {
  policy: RetryPolicy;
  /** The destination's key, carried by the errors. */
  destination: string;
  /** What the request does, for error messages: `"upload part 3/5 of report.pdf"`. */
  what: string;
  /** Aborts the waits and stops further attempts: the loop then rejects with ABORTED. */
  signal?: AbortSignal;
  /** Called before each wait. */
  onRetry?: (notice: RetryNotice) => void;
  /** Waits `ms`, or rejects when `signal` aborts; a seam for tests. @default an abortable setTimeout */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A number in [0, 1) for the jitter; a seam for tests. @default Math.random */
  random?: () => number;
}

/**
 * Runs `request(attempt)` until it succeeds or the policy gives up. An
 * AttacheError thrown by `request` (bad bytes, an integrity failure) is
 * passed through untouched, never retried.
 */
export async function withRetries<T>(request: (attempt: number) => PromiseLike<T>, options: RetryOptions): Promise<T> {
  const { policy, signal } = options;
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw aborted(signal.reason);
    try {
      return await request(attempt);
    } catch (err) {
      if (signal?.aborted) throw aborted(signal.reason);
      if (err instanceof AttacheError) throw err;
      const failure = describeRequestFailure(err);
      const giveUp = finalError(err, failure, attempt, options);
      if (giveUp) throw giveUp;
      const backoff = random() * Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** attempt);
      const delayMs = failure.retryAfterMs ?? Math.round(backoff);
      options.onRetry?.({ attempt, delayMs, error: err, ...(failure.status === undefined ? {} : { status: failure.status }) });
      await sleep(delayMs, signal);
    }
  }
}

/** The error to give up with after `attempt` failed, or undefined to try again. */
function finalError(err: unknown, failure: RequestFailure, attempt: number, options: RetryOptions): AttacheError | undefined {
  const { destination, what, policy } = options;
  const { status } = failure;
  const context = { destination, cause: err, ...(status === undefined ? {} : { status }) };
  const detail = describe(err, status);
  if (status === 413) {
    return new AttacheError("TOO_LARGE", `Could not ${what}: the provider refused it as too large (${detail}). Lower the destination's maxSize or chunkSize.`, {
      ...context,
      retryable: false,
    });
  }
  if (!failure.retryable) {
    return uploadFailed(`Could not ${what}: ${detail}. Retrying will not help as is; check the request, the credential and the provider's limits.`, {
      ...context,
      retryable: false,
    });
  }
  if (attempt >= policy.retries) {
    return uploadFailed(`Could not ${what} after ${attempt + 1} attempt(s): ${detail}. Try again later.`, { ...context, retryable: true });
  }
  if (failure.retryAfterMs !== undefined && failure.retryAfterMs > policy.maxDelayMs) {
    return uploadFailed(
      `Could not ${what}: ${detail}, and the provider asked to wait ${failure.retryAfterMs}ms, longer than retry.maxDelay (${policy.maxDelayMs}ms). Try again later.`,
      { ...context, retryable: true },
    );
  }
  return undefined;
}

function describe(err: unknown, status: number | undefined): string {
  const message = err instanceof Error ? err.message : String(err);
  if (status === undefined) return `a network error (${message})`;
  return message.startsWith(String(status)) || message.startsWith(`HTTP ${status}`) ? message : `HTTP ${status} (${message})`;
}

/** setTimeout as a promise that rejects with ABORTED when `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal.reason));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(aborted(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
