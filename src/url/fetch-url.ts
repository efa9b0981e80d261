/**
 * Fetches one http(s) URL under the SSRF guard, and hands back its body as a
 * Node Readable with what the response says about it:
 *
 *   for each hop (the URL, then at most `maxRedirects` redirects):
 *     1. http or https only, no credentials in the URL, never https → http
 *     2. resolve the host once and check every address (resolve-pinned.ts)
 *     3. connect to a checked address only (a pinned `lookup`, no agent, so
 *        no pooled socket from another check is reused), send GET
 *     4. 301/302/303/307/308: leave the origin → drop the caller's headers
 *        for the rest of the chain; next hop
 *   then: status ≥ 400 refused; `Content-Length` over `maxSize` refused
 *   before the body; the body counted against `maxSize` as it streams.
 *
 * Timeouts: `connect` (resolution, TCP and TLS of each hop), `idle` (no byte
 * from the server for that long, headers or body) and `total` (the whole
 * fetch, until the body's last byte). The caller's `signal` aborts it all.
 */
import http, { type ClientRequest, type IncomingMessage } from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { Readable } from "node:stream";
import { aborted, AttacheError, isTransientFailure, tooLarge } from "../errors.js";
import { fileNameFromDisposition, fileNameFromUrl } from "./content-disposition.js";
import { fetchFailed, fetchTimedOut, refusedUrl } from "./fetch-errors.js";
import type { ResolvedUrlFetchOptions } from "./fetch-options.js";
import { bareHostname, pinnedLookup, resolvePinned } from "./resolve-pinned.js";

export interface FetchUrlOptions extends ResolvedUrlFetchOptions {
  /** Largest body accepted, in bytes. @default Infinity */
  readonly maxSize?: number;
  readonly signal?: AbortSignal | undefined;
  /**
   * Private hosts let through while `allowPrivateNetwork` is off. A seam for
   * tests only: it lets a loopback server start a redirect chain whose other
   * hops the guard still checks. Not reachable from `stage()`.
   */
  readonly trustedHost?: (hostname: string) => boolean;
}

export interface FetchedUrl {
  /** The response body, exactly as sent (no content decoding is asked for). Destroy it to stop early. */
  readonly body: Readable;
  /** From `Content-Disposition`, else the final URL's last path segment; null when neither names a file. */
  readonly name: string | null;
  /** The response's media type (`image/png`, parameters dropped), or null. */
  readonly contentType: string | null;
  /** `Content-Length`, when the server sent one. */
  readonly length: number | null;
  /** The URL the body came from, after redirects. */
  readonly finalUrl: URL;
}

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Statuses after which the same URL may answer later. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);
/** Longest delay `setTimeout` honours; a longer (or infinite) limit means no timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const USER_AGENT = "attache";

function startTimer(ms: number, fire: () => void): NodeJS.Timeout | undefined {
  return Number.isFinite(ms) && ms <= MAX_TIMER_MS ? setTimeout(fire, ms) : undefined;
}

/** Resolves like `promise`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err as Error);
      },
    );
  });
}

/** Fetches `url` under the guard; see the file comment for what is checked. */
export async function fetchUrl(url: URL, options: FetchUrlOptions): Promise<FetchedUrl> {
  const start = new URL(url.href);
  const maxSize = options.maxSize ?? Infinity;
  if (options.signal?.aborted) throw aborted(options.signal.reason);
  // One controller for every reason to stop the whole fetch: the caller's signal, the total timeout.
  const stop = new AbortController();
  const onCallerAbort = () => stop.abort(aborted(options.signal?.reason));
  options.signal?.addEventListener("abort", onCallerAbort, { once: true });
  const totalTimer = startTimer(options.totalMs, () => stop.abort(fetchTimedOut(start, "total", options.totalMs)));
  const release = () => {
    clearTimeout(totalTimer);
    options.signal?.removeEventListener("abort", onCallerAbort);
  };
  try {
    let current = start;
    let sameOrigin = true;
    for (let redirects = 0; ; redirects++) {
      checkUrl(current, redirects > 0);
      const hop = await openHop(current, sameOrigin ? options.headers : {}, options, stop.signal);
      const { response } = hop;
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (REDIRECT_STATUSES.has(status) && location !== undefined) {
        hop.end();
        if (redirects >= options.maxRedirects) {
          throw refusedUrl(start, `it redirects more than ${options.maxRedirects} times (fetch.maxRedirects)`);
        }
        const next = redirectTarget(current, location);
        if (next.origin !== start.origin) sameOrigin = false;
        current = next;
        continue;
      }
      if (status < 200 || status > 299) {
        hop.end();
        const words = `the server answered ${status}${response.statusMessage ? ` ${response.statusMessage}` : ""}`;
        throw fetchFailed(current, words, { status, retryable: RETRYABLE_STATUSES.has(status) });
      }
      const length = contentLength(response);
      if (length !== null && length > maxSize) {
        hop.end();
        throw tooLarge(maxSize);
      }
      return {
        body: hop.streamBody(maxSize, release),
        name: fileNameFromDisposition(response.headers["content-disposition"]) ?? fileNameFromUrl(current),
        contentType: mediaType(response.headers["content-type"]),
        length,
        finalUrl: current,
      };
    }
  } catch (err) {
    release();
    throw err;
  }
}

function checkUrl(url: URL, redirected: boolean): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw refusedUrl(url, `${redirected ? "a redirect to " : ""}${url.protocol} is not fetched; only http and https URLs are`);
  }
  if (url.username !== "" || url.password !== "") {
    throw refusedUrl(url, "credentials in the URL are not sent; pass them in fetch.headers (such as Authorization)");
  }
}

/** The next hop of a redirect from `from`; refuses what no hop may be (not a URL, https → http). */
export function redirectTarget(from: URL, location: string): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch (err) {
    throw refusedUrl(from, `it redirects to ${JSON.stringify(location.slice(0, 200))}, which is not a URL (${(err as Error).message})`);
  }
  if (from.protocol === "https:" && next.protocol === "http:") {
    throw refusedUrl(from, `it redirects from https to http (${next.origin}); insecure downgrades are not followed`);
  }
  return next;
}

function contentLength(response: IncomingMessage): number | null {
  const header = response.headers["content-length"];
  return header !== undefined && /^\d+$/.test(header.trim()) ? Number(header) : null;
}

function mediaType(header: string | undefined): string | null {
  const essence = header?.split(";", 1)[0]?.trim().toLowerCase();
  return essence !== undefined && /^[\w.+-]+\/[\w.+-]+$/.test(essence) ? essence : null;
}

/** One request and its response, with the reason it was stopped (a timeout, an abort, a limit). */
interface Hop {
  readonly response: IncomingMessage;
  /** Ends the hop without reading its body (a redirect, a refused status or size). */
  end(): void;
  /** The body, counted against `maxSize`; `done` runs once when it ends or is destroyed. */
  streamBody(maxSize: number, done: () => void): Readable;
}

function networkFailure(url: URL, err: unknown): AttacheError {
  if (err instanceof AttacheError) return err;
  const message = (err as Error)?.message ?? String(err);
  return fetchFailed(url, message, { cause: err, retryable: isTransientFailure(err) });
}

async function openHop(url: URL, headers: Readonly<Record<string, string>>, options: FetchUrlOptions, stop: AbortSignal): Promise<Hop> {
  const connecting = new AbortController();
  const connectTimer = startTimer(options.connectMs, () => connecting.abort(fetchTimedOut(url, "connect", options.connectMs)));
  const phase = AbortSignal.any([stop, connecting.signal]);
  let pinned;
  try {
    const trusted = options.trustedHost?.(bareHostname(url)) === true;
    pinned = await untilAborted(resolvePinned(url, { resolver: options.resolver, allowPrivateNetwork: options.allowPrivateNetwork || trusted }), phase);
  } catch (err) {
    clearTimeout(connectTimer);
    throw err;
  }
  const secure = url.protocol === "https:";
  const hostname = pinned.hostname;
  const request: ClientRequest = (secure ? https : http).request({
    protocol: url.protocol,
    hostname,
    port: url.port === "" ? undefined : Number(url.port),
    path: `${url.pathname}${url.search}`,
    method: "GET",
    headers: { "user-agent": USER_AGENT, accept: "*/*", "accept-encoding": "identity", ...headers },
    agent: false,
    lookup: pinnedLookup(pinned),
    ...(secure && isIP(hostname) === 0 ? { servername: hostname } : {}),
  });
  let failure: AttacheError | undefined;
  let onFailure: ((err: AttacheError) => void) | undefined;
  const fail = (err: AttacheError) => {
    failure ??= err;
    onFailure?.(failure);
    request.destroy();
  };
  const onPhaseAbort = () => fail(phase.reason as AttacheError);
  phase.addEventListener("abort", onPhaseAbort, { once: true });
  if (phase.aborted) onPhaseAbort();
  request.on("socket", (socket) => {
    socket.once(secure ? "secureConnect" : "connect", () => clearTimeout(connectTimer));
  });
  // Idle: no bytes from the server for idleMs, while waiting for headers or between body chunks.
  request.setTimeout(Math.min(options.idleMs, MAX_TIMER_MS), () => fail(fetchTimedOut(url, "idle", options.idleMs)));
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(connectTimer);
    phase.removeEventListener("abort", onPhaseAbort);
  };
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const refuse = (err: unknown) => {
      finish();
      reject(failure ?? networkFailure(url, err));
    };
    const onClose = () => refuse(new Error("the connection closed before the response"));
    request.once("response", (answer) => {
      request.off("close", onClose);
      onFailure = undefined;
      resolve(answer);
    });
    request.on("error", refuse);
    request.once("close", onClose);
    onFailure = refuse;
    request.end();
  });
  // The hop is connected: the connect timeout no longer applies, the idle, total and abort do.
  clearTimeout(connectTimer);
  return {
    response,
    end() {
      finish();
      request.destroy();
    },
    streamBody(maxSize, done) {
      let received = 0;
      let ended = false;
      let released = false;
      const releaseOnce = () => {
        if (released) return;
        released = true;
        finish();
        done();
      };
      const body = new Readable({
        read() {
          response.resume();
        },
        destroy(err, callback) {
          if (!ended) request.destroy();
          releaseOnce();
          callback(err);
        },
      });
      onFailure = (err) => body.destroy(err);
      if (failure !== undefined) body.destroy(failure);
      response.on("data", (chunk: Buffer) => {
        received += chunk.byteLength;
        if (received > maxSize) {
          fail(tooLarge(maxSize));
          return;
        }
        if (!body.push(chunk)) response.pause();
      });
      response.on("end", () => {
        ended = true;
        releaseOnce();
        body.push(null);
      });
      response.on("error", (err) => body.destroy(failure ?? networkFailure(url, err)));
      response.on("close", () => {
        if (!ended) {
          body.destroy(failure ?? fetchFailed(url, "the connection closed before the whole body arrived", { retryable: true }));
        }
      });
      return body;
    },
  };
}
