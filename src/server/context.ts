/**
 * What every part of `attache serve` shares: the store it serves, the
 * server's options, and who is asking. The routes (src/server/routes/), the
 * tus endpoint (src/server/tus/) and the dashboard (src/server/dashboard/) are
 * each a Fastify plugin taking a ServerContext; src/server/app.ts builds the
 * instance and registers them.
 */
import type { FastifyRequest } from "fastify";
import type { Store } from "../index.js";

/** The options of `attache serve`, resolved (durations in ms, sizes in bytes). */
export interface ServeOptions {
  /** Largest body or fetched URL staged, in bytes (`--max-size`); Infinity = unlimited. */
  readonly maxSize: number;
  /** How long an unfinished tus upload may resume (`--upload-expiry`, default 24 h). */
  readonly uploadExpiryMs: number;
  /** Uploads (POST bodies and tus PATCHes) in flight at once; more get 503 with Retry-After. */
  readonly maxConcurrentUploads: number;
  /** `from-url` may reach private, loopback and link-local addresses (`--allow-private-network`). */
  readonly allowPrivateNetwork: boolean;
  /** Total time for one `from-url` fetch (`--fetch-timeout`). */
  readonly fetchTimeoutMs: number;
  /** How long SIGTERM waits for in-flight requests before aborting them (`--drain-timeout`, default 10 s). */
  readonly drainTimeoutMs: number;
  /** Where unfinished tus uploads keep their bytes (default `<store dir>/tus`). */
  readonly uploadDir: string;
  /** The one origin browsers may call from (`--cors`; `"*"` = any); absent = no CORS headers. */
  readonly corsOrigin?: string;
  /** pino level of the request log (`--log-level`): fatal, error, warn, info, debug, trace or silent. @default "info" */
  readonly logLevel?: string;
  /** Longest time to receive one whole request, body included (Node's `requestTimeout`); 0 = none. @default 3_600_000 (1 h) */
  readonly requestTimeoutMs?: number;
  /** A connection silent for this long is closed (Node's socket timeout). @default 60_000 */
  readonly idleTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this long. @default 5_000 */
  readonly keepAliveTimeoutMs?: number;
}

/** Who a request acts for, from its `Authorization: Bearer` token. */
export interface Principal {
  /** An admin token: every scope, sweep and verify, /metrics. */
  readonly admin: boolean;
  /** True when the token's scope patterns cover `scope` (always for admin, and when no tokens are configured). */
  allows(scope: string): boolean;
}

export interface ServerContext {
  readonly store: Store;
  readonly options: ServeOptions;
  /**
   * The principal of a request, or throws the 401 `UNAUTHORIZED` error the
   * error handler answers. Without a tokens file every request is an admin
   * (the server then listens on loopback only).
   */
  authenticate(request: FastifyRequest): Principal;
  /**
   * Counts an upload in flight until the returned function is called; throws
   * a retryable 503 when `maxConcurrentUploads` are already running.
   */
  beginUpload(): () => void;
  /** Aborted when the server starts draining past its drain timeout: in-flight uploads stop and stage nothing. */
  readonly shutdown: AbortSignal;
}
