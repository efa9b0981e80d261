/**
 * How `attache serve` answers a failure: every error becomes
 * `{ "error": { "code", "message" } }` with a status that follows from its
 * code. The store's failures are AttacheErrors (src/errors.ts); the few that
 * belong to HTTP alone — no token, not an admin, too many uploads at once —
 * are {@link ServiceError}s, defined here once.
 */
import type { AttacheErrorCode } from "../index.js";
import { isAttacheError } from "../index.js";

/** Codes only the service answers with (the library never throws them). */
export type ServiceErrorCode = "UNAUTHORIZED" | "FORBIDDEN" | "BUSY";

/** A failure of the HTTP layer: authentication, authorisation, load. */
export class ServiceError extends Error {
  override readonly name = "ServiceError";
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    /** True where the same request may succeed later (BUSY): answered with `Retry-After`. */
    readonly retryable = false,
  ) {
    super(message);
  }
}

export function unauthorized(): ServiceError {
  return new ServiceError(
    "UNAUTHORIZED",
    "Send a token from the server's tokens file as `Authorization: Bearer <token>`; this request had none, or one the server does not know.",
  );
}

export function forbidden(what: string): ServiceError {
  return new ServiceError("FORBIDDEN", `${what} needs an admin token (one with "admin": true in the tokens file).`);
}

export function busy(limit: number): ServiceError {
  return new ServiceError(
    "BUSY",
    `${limit} uploads are already in flight on this server (--max-uploads); retry after the Retry-After delay, or raise the limit.`,
    true,
  );
}

/** The status for each of the library's codes (DESIGN.md, "HTTP service"). */
const STATUS_OF_CODE: Readonly<Record<AttacheErrorCode | ServiceErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_SOURCE: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TOO_LARGE: 413,
  UNSUPPORTED: 415,
  CHECKSUM_MISMATCH: 422,
  INTEGRITY_ERROR: 500,
  UPLOAD_FAILED: 502,
  IO_ERROR: 503,
  STORE_CLOSED: 503,
  // A stage aborted by the server's shutdown: the client may send it again to another instance.
  ABORTED: 503,
  BUSY: 503,
};

/** Codes for the statuses Fastify itself answers with (a malformed JSON body, an unknown media type, …). */
const CODE_OF_STATUS: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  404: "NOT_FOUND",
  408: "TIMEOUT",
  413: "TOO_LARGE",
  415: "UNSUPPORTED",
  503: "UNAVAILABLE",
};

/** What the error handler answers: status, body, and whether to send `Retry-After`. */
export interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
  retryable: boolean;
}

/** Maps any thrown value to its answer. Unknown failures are 500 INTERNAL with a message that leaks nothing. */
export function answerFor(err: unknown): ErrorAnswer {
  if (isAttacheError(err)) return { status: STATUS_OF_CODE[err.code], code: err.code, message: err.message, retryable: err.retryable };
  if (err instanceof ServiceError) return { status: STATUS_OF_CODE[err.code], code: err.code, message: err.message, retryable: err.retryable };
  const { statusCode, validation, message } = err as { statusCode?: unknown; validation?: unknown; message?: unknown };
  if (validation !== undefined) return { status: 400, code: "INVALID_ARGUMENT", message: String(message), retryable: false };
  if (typeof statusCode === "number" && statusCode >= 400 && statusCode < 500) {
    return { status: statusCode, code: CODE_OF_STATUS[statusCode] ?? "INVALID_ARGUMENT", message: String(message), retryable: false };
  }
  return {
    status: 500,
    code: "INTERNAL",
    message: "The server failed unexpectedly; the failure is in its log. Retry, and report it if it persists.",
    retryable: false,
  };
}
