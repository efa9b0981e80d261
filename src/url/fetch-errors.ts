/**
 * The errors of a URL fetch. A refused address, scheme or redirect chain and
 * an HTTP error status are `INVALID_SOURCE`: the URL, not the store, is at
 * fault. A timeout, a network failure and a 408, 429 or 5xx status are
 * `INVALID_SOURCE` too, with `retryable: true`: the same URL may work later.
 */
import { AttacheError } from "../errors.js";

/** A URL as shown in a message: without its query and fragment, which may hold tokens. */
export function shownUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** The fetch will not go there: a scheme, address or redirect the guard refuses. */
export function refusedUrl(url: URL, why: string): AttacheError {
  return new AttacheError("INVALID_SOURCE", `Refused to fetch ${shownUrl(url)}: ${why}.`, { retryable: false });
}

/** The fetch went there and failed: `retryable` when the same URL may work later. */
export function fetchFailed(url: URL, what: string, context: { cause?: unknown; status?: number; retryable: boolean }): AttacheError {
  return new AttacheError("INVALID_SOURCE", `Could not fetch ${shownUrl(url)}: ${what}. Nothing was kept.`, context);
}

/** A timeout of one kind ("connect", "idle", "total"). */
export function fetchTimedOut(url: URL, kind: string, ms: number): AttacheError {
  const hint = kind === "total" ? "raise fetch.timeout" : `raise fetch.timeout.${kind}`;
  return fetchFailed(url, `the ${kind} timeout of ${ms} ms passed (${hint}, or retry)`, { retryable: true });
}
