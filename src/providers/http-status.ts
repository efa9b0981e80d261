/**
 * What a failed request tells the retry loop: the provider's HTTP status (if
 * it answered), whether another attempt may help, and how long the provider
 * asked us to wait. Errors are read structurally, so the SDKs' error classes
 * (OpenAI's and Anthropic's `APIError` with `status` and `headers`, Gemini's
 * `ApiError` with `status`) are never imported.
 */
import { causeCodes } from "../errors.js";

/** A failed request, classified. */
export interface RequestFailure {
  /** The provider's HTTP status; undefined when it never answered (a network error, a timeout). */
  status?: number;
  /** True for network errors, timeouts, 408, 409, 429 and 5xx. */
  retryable: boolean;
  /** The wait the provider asked for (`retry-after-ms`, else `Retry-After` in seconds or as an HTTP date), in milliseconds. */
  retryAfterMs?: number;
}

/**
 * A non-2xx answer to a request attache sends itself (Gemini's resumable
 * protocol), shaped as the SDKs shape theirs: `status` and `headers`.
 * Only ever a `cause` of an AttacheError.
 */
export class HttpStatusError extends Error {
  override readonly name = "HttpStatusError";
  constructor(
    readonly status: number,
    readonly headers: Headers,
    body: string,
  ) {
    super(`HTTP ${status}${body ? `: ${body.slice(0, 500)}` : ""}`);
  }
}

/** Statuses worth another attempt besides 5xx: timeout, conflict, rate limit. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 409, 429]);
/** Names the SDKs and fetch give to errors of the connection, not of the request. */
const NETWORK_ERROR_NAMES: ReadonlySet<string> = new Set([
  "APIConnectionError",
  "APIConnectionTimeoutError",
  "TimeoutError",
  "AbortError",
  "FetchError",
  "SocketError",
]);
const NETWORK_CAUSE_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "EAI_AGAIN",
]);

/** True for the statuses a retry may get past. */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status) || status >= 500;
}

/** Classifies `err`, thrown by an SDK call or by fetch. */
export function describeRequestFailure(err: unknown, now: number = Date.now()): RequestFailure {
  const { status, headers } = (err ?? {}) as { status?: unknown; headers?: unknown };
  if (typeof status === "number" && status >= 100) {
    const retryAfterMs = parseRetryAfter(headers, now);
    return { status, retryable: isRetryableStatus(status), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
  return { retryable: isNetworkError(err) };
}

/** True when `err` says the connection failed (reset, refused, dropped mid-body, timed out), not the request. */
export function isNetworkError(err: unknown): boolean {
  for (let current = err, depth = 0; depth < 8 && current instanceof Error; depth++, current = current.cause) {
    // The SDKs' error classes keep the name "Error"; their constructors carry the class name.
    if (NETWORK_ERROR_NAMES.has(current.name) || NETWORK_ERROR_NAMES.has(current.constructor.name)) return true;
    if (current.name === "TypeError" && /fetch failed|terminated|other side closed/i.test(current.message)) return true;
  }
  return causeCodes(err).some((code) => NETWORK_CAUSE_CODES.has(code) || code.startsWith("UND_ERR_"));
}

/**
 * The wait asked for by `retry-after-ms` (milliseconds, as OpenAI and
 * Anthropic send it) or `Retry-After` (seconds, or an HTTP date), in
 * milliseconds; undefined when neither is there or readable.
 */
export function parseRetryAfter(headers: unknown, now: number = Date.now()): number | undefined {
  const ms = headerValue(headers, "retry-after-ms");
  if (ms !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Math.ceil(Number(ms));
  const value = headerValue(headers, "retry-after");
  if (value === undefined) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** One header from a `Headers` or a plain record (SDKs differ). */
function headerValue(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== "object") return undefined;
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? String(value[0]) : String(value);
  }
  return undefined;
}
