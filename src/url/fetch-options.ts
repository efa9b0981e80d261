/**
 * The options of a URL fetch (`stage(new URL(…), { fetch })`), validated and
 * given their defaults once, before any connection is made.
 */
import { lookup } from "node:dns/promises";
import { parseDuration, type Duration } from "../duration.js";
import { invalidArgument } from "../errors.js";

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves a host name to all its addresses, like
 * `dns.promises.lookup(name, { all: true })` (the default). Injected by tests
 * to give names a fake DNS; a custom resolver does not loosen the guard, since
 * every address it returns is checked.
 */
export type UrlResolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** How long a URL fetch may take. A single duration sets `total`. */
export interface UrlFetchTimeouts {
  /** Name resolution plus TCP connect (and the TLS handshake) of each hop. @default "10s" */
  connect?: Duration;
  /** Longest silence while waiting for the response or between body chunks. @default "30s" */
  idle?: Duration;
  /** The whole fetch, redirects and body included. @default "10m" */
  total?: Duration;
}

/** Options of a URL source (`stage(new URL("https://…"), { fetch })`). */
export interface UrlFetchOptions {
  /**
   * Request headers, such as `Authorization`. Sent only while the chain
   * of redirects stays on the URL's origin (scheme, host and port): once
   * a redirect leaves it, they are dropped for the rest of the chain.
   * `Host`, `Content-Length` and hop-by-hop headers cannot be set.
   */
  headers?: Record<string, string>;
  /** A total duration, or each limit (see {@link UrlFetchTimeouts}). */
  timeout?: Duration | UrlFetchTimeouts;
  /** Redirects followed (301, 302, 303, 307, 308), each checked like the first URL. @default 5 */
  maxRedirects?: number;
  /**
   * Allow loopback, private, link-local, CGNAT and metadata addresses, and
   * `localhost`. For tests and trusted networks only: with it, whoever
   * chooses the URL can reach services behind your firewall. @default false
   */
  allowPrivateNetwork?: boolean;
  /** Name resolution; for tests (a fake DNS). @default dns.promises.lookup with all: true */
  resolver?: UrlResolver;
}

export interface ResolvedUrlFetchOptions {
  readonly headers: Readonly<Record<string, string>>;
  readonly connectMs: number;
  readonly idleMs: number;
  readonly totalMs: number;
  readonly maxRedirects: number;
  readonly allowPrivateNetwork: boolean;
  readonly resolver: UrlResolver;
}

const DEFAULT_CONNECT_MS = 10_000;
const DEFAULT_IDLE_MS = 30_000;
const DEFAULT_TOTAL_MS = 600_000;
const DEFAULT_MAX_REDIRECTS = 5;
/** Headers the fetch owns: the pinned connection, framing and hop-by-hop headers. */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "proxy-connection",
  "expect",
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export async function systemResolver(hostname: string): Promise<readonly ResolvedAddress[]> {
  const answers = await lookup(hostname, { all: true, verbatim: true });
  return answers.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
}

function parseTimeout(value: Duration | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value, what);
  if (ms === 0) throw invalidArgument(`${what} must be more than 0.`);
  return ms;
}

export function resolveUrlFetchOptions(options: UrlFetchOptions | undefined): ResolvedUrlFetchOptions {
  const o = options ?? {};
  if (typeof o !== "object" || o === null) throw invalidArgument("fetch must be an object of fetch options.");
  const { timeout } = o;
  const limits: UrlFetchTimeouts = typeof timeout === "object" && timeout !== null ? timeout : { total: timeout };
  const totalMs = parseTimeout(limits.total, "fetch.timeout.total", DEFAULT_TOTAL_MS);
  const maxRedirects = o.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw invalidArgument(`fetch.maxRedirects must be a whole number, 0 or more; got ${String(o.maxRedirects)}.`);
  }
  if (o.allowPrivateNetwork !== undefined && typeof o.allowPrivateNetwork !== "boolean") {
    throw invalidArgument("fetch.allowPrivateNetwork must be true or false.");
  }
  if (o.resolver !== undefined && typeof o.resolver !== "function") throw invalidArgument("fetch.resolver must be a function.");
  return Object.freeze({
    headers: validateHeaders(o.headers),
    // A single duration bounds the whole fetch, so the parts are never longer than it.
    connectMs: Math.min(parseTimeout(limits.connect, "fetch.timeout.connect", DEFAULT_CONNECT_MS), totalMs),
    idleMs: Math.min(parseTimeout(limits.idle, "fetch.timeout.idle", DEFAULT_IDLE_MS), totalMs),
    totalMs,
    maxRedirects,
    allowPrivateNetwork: o.allowPrivateNetwork ?? false,
    resolver: o.resolver ?? systemResolver,
  });
}

function validateHeaders(headers: unknown): Readonly<Record<string, string>> {
  if (headers === undefined) return Object.freeze({});
  if (headers === null || typeof headers !== "object" || Array.isArray(headers)) {
    throw invalidArgument('fetch.headers must be an object such as { Authorization: "Bearer …" }.');
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw invalidArgument(`fetch.headers: ${JSON.stringify(name)} is not a header name.`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw invalidArgument(`fetch.headers: ${name} is set by the fetch itself and cannot be given.`);
    }
    if (typeof value !== "string" || /[\r\n\0]/.test(value)) {
      throw invalidArgument(`fetch.headers: the value of ${name} must be a string without line breaks or NUL.`);
    }
    out[name] = value;
  }
  return Object.freeze(out);
}
