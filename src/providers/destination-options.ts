/**
 * The options every destination factory takes, resolved once into
 * {@link DestinationSettings}, and the destination key that names an account
 * in the ledger without holding its credential.
 */
import { createHash } from "node:crypto";
import { parseDuration, type Duration } from "../duration.js";
import { invalidArgument } from "../errors.js";
import type { DestinationSettings, Provider } from "./destination.js";

/** Options common to `openaiFiles`, `anthropicFiles` and `geminiFiles`. */
export interface DestinationOptions {
  /**
   * Part size in bytes: a larger file goes in ceil(size / chunkSize) parts.
   * @default 64 MiB (OpenAI, its largest part), 8 MiB (Gemini; a multiple of 256 KiB)
   */
  chunkSize?: number;
  /** Parts in flight at once. @default 4 */
  concurrency?: number;
  /**
   * Retries of network errors, 408, 409, 429 and 5xx, with exponential
   * backoff and full jitter; `Retry-After` and `retry-after-ms` are honoured.
   * @default { retries: 5, minDelay: "500ms", maxDelay: "30s" }
   */
  retry?: { retries?: number; minDelay?: Duration; maxDelay?: Duration };
  /** The longest one request may take before it is aborted (and retried). @default "10m" */
  timeout?: Duration;
  /** A ledger hit expiring sooner than this is uploaded again. @default "1h" */
  minRemaining?: Duration;
  /** Largest file accepted, in bytes; may only lower the provider's limit. @default the provider's limit */
  maxSize?: number;
  /** Delete the remote file once no live attachment uses its digest. @default false */
  deleteWhenUnused?: boolean;
  /**
   * A stable name for the account, hashed into the destination key with the
   * client's credential. Required when the client holds no credential string
   * to tell accounts apart by (an `apiKey` function, workload identity).
   */
  account?: string;
}

/** What a provider allows and prefers, for {@link resolveDestinationSettings}. */
export interface ProviderLimits {
  /** The provider's largest file, in bytes. */
  maxSize: number;
  /** The default part size. */
  defaultChunkSize: number;
  /** The largest part the provider takes. */
  maxChunkSize: number;
  /** Part sizes must be a multiple of this (Gemini: 256 KiB). @default 1 */
  chunkGranularity?: number;
}

/** setTimeout's limit: a longer timeout would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Applies the defaults to `options` and validates every value; bad values fail with INVALID_ARGUMENT. */
export function resolveDestinationSettings(
  factory: string,
  options: DestinationOptions,
  limits: ProviderLimits,
): DestinationSettings {
  const granularity = limits.chunkGranularity ?? 1;
  const chunkSize = options.chunkSize ?? limits.defaultChunkSize;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0 || chunkSize > limits.maxChunkSize || chunkSize % granularity !== 0) {
    throw invalidArgument(
      `${factory}: chunkSize must be a whole number of bytes from ${granularity} to ${limits.maxChunkSize}${granularity > 1 ? `, a multiple of ${granularity}` : ""}; got ${String(options.chunkSize)}.`,
    );
  }
  const concurrency = options.concurrency ?? 4;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw invalidArgument(`${factory}: concurrency must be a whole number of at least 1; got ${String(options.concurrency)}.`);
  }
  const retry = options.retry ?? {};
  if (typeof retry !== "object" || retry === null) throw invalidArgument(`${factory}: retry must be an object such as { retries: 5 }.`);
  const retries = retry.retries ?? 5;
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw invalidArgument(`${factory}: retry.retries must be a whole number of at least 0; got ${String(retry.retries)}.`);
  }
  const minDelayMs = finiteDuration(factory, retry.minDelay ?? "500ms", "retry.minDelay");
  const maxDelayMs = finiteDuration(factory, retry.maxDelay ?? "30s", "retry.maxDelay");
  if (maxDelayMs < minDelayMs) throw invalidArgument(`${factory}: retry.maxDelay must not be shorter than retry.minDelay.`);
  const timeoutMs = finiteDuration(factory, options.timeout ?? "10m", "timeout");
  if (timeoutMs < 1) throw invalidArgument(`${factory}: timeout must be at least 1ms.`);
  const minRemainingMs = finiteDuration(factory, options.minRemaining ?? "1h", "minRemaining");
  const maxSize = options.maxSize ?? limits.maxSize;
  if (!Number.isSafeInteger(maxSize) || maxSize < 0 || maxSize > limits.maxSize) {
    throw invalidArgument(`${factory}: maxSize must be a whole number of bytes from 0 to the provider's limit (${limits.maxSize}); got ${String(options.maxSize)}.`);
  }
  const deleteWhenUnused = options.deleteWhenUnused ?? false;
  if (typeof deleteWhenUnused !== "boolean") throw invalidArgument(`${factory}: deleteWhenUnused must be true or false.`);
  return Object.freeze({
    chunkSize,
    concurrency,
    retry: Object.freeze({ retries, minDelayMs, maxDelayMs }),
    timeoutMs,
    minRemainingMs,
    maxSize,
    deleteWhenUnused,
  });
}

function finiteDuration(factory: string, value: Duration, what: string): number {
  const ms = parseDuration(value, `${factory}: ${what}`);
  if (ms > MAX_TIMEOUT_MS) throw invalidArgument(`${factory}: ${what} must be finite and at most ${MAX_TIMEOUT_MS}ms; got ${String(value)}.`);
  return ms;
}

/**
 * The account part of a destination key: the client's credential, and the
 * `account` option. Without either, two accounts could share ledger entries,
 * so that fails with INVALID_ARGUMENT.
 */
export function accountOf(factory: string, credential: string | null | undefined, account: string | undefined): { credential: string; account: string | null } {
  if (account !== undefined && (typeof account !== "string" || account === "")) throw invalidArgument(`${factory}: account must be a non-empty string.`);
  if (!credential && account === undefined) {
    throw invalidArgument(
      `${factory}: the client holds no API key to tell its account by (an apiKey function or another credential provider); pass account: "<a stable name for it>".`,
    );
  }
  return { credential: credential ?? "", account: account ?? null };
}

/**
 * `${provider}:${hash}`: the hash (sha256, 24 hex digits) covers the base
 * URL, the credential and each option that changes what a remote file may be
 * used for, so two accounts, or two purposes, never share a ledger entry. The
 * credential cannot be read back from it.
 */
export function destinationKey(
  provider: Provider,
  account: { baseURL: string; credential: string; account: string | null; usage?: readonly unknown[] },
): string {
  const material = JSON.stringify([provider, account.baseURL.replace(/\/+$/, ""), account.credential, account.account, account.usage ?? []]);
  return `${provider}:${createHash("sha256").update(material).digest("hex").slice(0, 24)}`;
}

/** Seconds a provider's expiry field wants, from a duration; fails with INVALID_ARGUMENT outside [min, max]. */
export function expirySeconds(factory: string, value: Duration, minSeconds: number, maxSeconds: number): number {
  const seconds = Math.round(parseDuration(value, `${factory}: expiresAfter`) / 1000);
  if (!(seconds >= minSeconds && seconds <= maxSeconds)) {
    throw invalidArgument(`${factory}: expiresAfter must be from ${minSeconds}s to ${maxSeconds}s, as the provider allows; got ${String(value)}.`);
  }
  return seconds;
}
