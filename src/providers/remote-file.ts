/**
 * The steps every destination shares around its provider calls: the size
 * check before an upload, the retry options of an upload's requests, and
 * stat/delete, where a provider's "no such file" is an answer rather than a
 * failure (stat → null, delete → done).
 */
import { AttacheError, invalidArgument, isAttacheError } from "../errors.js";
import type { DestinationSettings, RemoteFile, UploadInput } from "./destination.js";
import { withRetries, type RetryOptions } from "./retry.js";

/** The per-request options attache passes to an SDK call (a subset of the SDKs' `RequestOptions`). */
export interface SdkRequestOptions {
  /** Always 0: attache's retry policy decides. */
  maxRetries?: number;
  /** The destination's timeout, in milliseconds. */
  timeout?: number;
  signal?: AbortSignal | null;
}

/** Fails before any request when `input` cannot be uploaded: a bad size, or larger than `maxSize` (TOO_LARGE). */
export function refuseOversize(input: UploadInput, maxSize: number, destination: string): void {
  if (!Number.isSafeInteger(input.size) || input.size < 0) {
    throw invalidArgument(`upload: size must be a whole number of bytes; got ${String(input.size)}.`);
  }
  if (input.size > maxSize) {
    throw new AttacheError(
      "TOO_LARGE",
      `${input.name} (${input.size} bytes) is larger than this destination takes (maxSize ${maxSize} bytes); nothing was sent. Render it inline, or use a destination with a larger limit.`,
      { destination, retryable: false },
    );
  }
}

/** The retry options of one request of an upload: the input's signal and retry hook. */
export function uploadRetryOptions(
  input: UploadInput,
  settings: DestinationSettings,
  destination: string,
  what: string,
  signal: AbortSignal | undefined = input.signal,
): RetryOptions {
  return {
    policy: settings.retry,
    destination,
    what,
    ...(signal ? { signal } : {}),
    onRetry: (notice) => input.onRetry?.(notice),
  };
}

/** One stat or delete call. */
export interface RemoteCall {
  settings: DestinationSettings;
  destination: string;
  what: string;
  signal?: AbortSignal;
  /** The statuses that mean "no such file" for this provider. */
  goneStatuses: readonly number[];
}

/** Reads a remote file's metadata with retries; null when the provider says it is gone. */
export async function statRemoteFile(call: RemoteCall, read: () => PromiseLike<RemoteFile>): Promise<RemoteFile | null> {
  try {
    return await withRetries(async () => await read(), retryOptionsOf(call));
  } catch (err) {
    if (isGone(err, call)) return null;
    throw err;
  }
}

/** Deletes a remote file with retries; a file already gone counts as deleted. */
export async function removeRemoteFile(call: RemoteCall, remove: () => PromiseLike<unknown>): Promise<void> {
  try {
    await withRetries(async () => await remove(), retryOptionsOf(call));
  } catch (err) {
    if (!isGone(err, call)) throw err;
  }
}

function retryOptionsOf(call: RemoteCall): RetryOptions {
  return { policy: call.settings.retry, destination: call.destination, what: call.what, ...(call.signal ? { signal: call.signal } : {}) };
}

function isGone(err: unknown, call: RemoteCall): boolean {
  return isAttacheError(err, "UPLOAD_FAILED") && err.status !== undefined && call.goneStatuses.includes(err.status);
}
