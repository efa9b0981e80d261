/**
 * Every failure attache reports is an {@link AttacheError} with a stable
 * {@link AttacheErrorCode}. Helpers that build the common errors live here
 * once, so that messages stay consistent across the store.
 */

/** The stable error codes. Match on `err.code`, never on the message. */
export type AttacheErrorCode =
  | "NOT_FOUND"
  | "INVALID_ARGUMENT"
  | "INVALID_SOURCE"
  | "CHECKSUM_MISMATCH"
  | "INTEGRITY_ERROR"
  | "TOO_LARGE"
  | "ABORTED"
  | "STORE_CLOSED"
  | "IO_ERROR"
  | "UPLOAD_FAILED"
  | "UNSUPPORTED";

/** Context carried by an {@link AttacheError}, besides its code and message. */
export interface AttacheErrorContext {
  /** The attachment ref the operation was about. */
  ref?: string;
  /** The digest that was expected (`sha256:<hex>`). */
  expected?: string;
  /** The digest that was found (`sha256:<hex>`). */
  actual?: string;
  /** The file the operation was about. */
  path?: string;
  /** The underlying error. */
  cause?: unknown;
  /** The key of the upload destination the operation was about (`"openai:<account hash>"`), never a credential. */
  destination?: string;
  /** The HTTP status a remote service answered with, when it answered. */
  status?: number;
  /**
   * Whether the same call may succeed later. By default it is worked out
   * from the code and the cause (see {@link isTransientFailure}); set it
   * where the caller knows better.
   */
  retryable?: boolean;
}

/**
 * Codes of causes that say "not now" rather than "not this": the process or
 * the system is out of descriptors, the disk is full, a lock is held, the
 * network failed. The same call may succeed once that passes.
 */
const TRANSIENT_CAUSES: ReadonlySet<string> = new Set([
  "EMFILE",
  "ENFILE",
  "ENOSPC",
  "EDQUOT",
  "EAGAIN",
  "EWOULDBLOCK",
  "EBUSY",
  "EINTR",
  "ETIMEDOUT",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "EAI_AGAIN",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_FULL",
  // PostgreSQL SQLSTATEs: serialization failure, deadlock, lock not available, the server shutting
  // down or restarting, too many connections, and the connection exceptions of class 08.
  "40001",
  "40P01",
  "55P03",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
]);
/** HTTP statuses that invite a retry: timeout, rate limit, a gateway or service briefly unavailable. */
const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([408, 429, 502, 503, 504]);
/** Causes of a full disk (SQLite reports ENOSPC as SQLITE_FULL). */
const DISK_FULL_CAUSES: ReadonlySet<string> = new Set(["ENOSPC", "EDQUOT", "SQLITE_FULL"]);
/** Codes whose outcome does not change on a second try, whatever the cause. */
const NEVER_RETRYABLE: ReadonlySet<AttacheErrorCode> = new Set([
  "NOT_FOUND",
  "INVALID_ARGUMENT",
  "CHECKSUM_MISMATCH",
  "TOO_LARGE",
  "ABORTED",
  "STORE_CLOSED",
]);
/** Deepest cause followed: causes are short chains, and a cycle must not loop. */
const MAX_CAUSE_DEPTH = 8;

/**
 * The error codes along `err`'s cause chain, outermost first: errno codes
 * (`EMFILE`), SQLite codes reduced to their primary code (`SQLITE_BUSY_SNAPSHOT`
 * counts as `SQLITE_BUSY`), and `HTTP_<status>` for a cause with a status.
 */
export function causeCodes(err: unknown): string[] {
  const codes: string[] = [];
  let current = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current !== null && typeof current === "object"; depth++) {
    const { code, status, statusCode } = current as { code?: unknown; status?: unknown; statusCode?: unknown };
    if (typeof code === "string") codes.push(code.startsWith("SQLITE_") ? code.split("_", 2).join("_") : code);
    const httpStatus = typeof status === "number" ? status : statusCode;
    if (typeof httpStatus === "number") codes.push(`HTTP_${httpStatus}`);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/** True when `err` (or any error in its cause chain) says the disk is full. */
export function isDiskFull(err: unknown): boolean {
  return causeCodes(err).some((code) => DISK_FULL_CAUSES.has(code));
}

/**
 * True when `err` (or any error in its cause chain) is a failure that may
 * pass: see the causes listed in `TRANSIENT_CAUSES` and `TRANSIENT_STATUSES`.
 */
export function isTransientFailure(err: unknown): boolean {
  return causeCodes(err).some(
    (code) => TRANSIENT_CAUSES.has(code) || (code.startsWith("HTTP_") && TRANSIENT_STATUSES.has(Number(code.slice(5)))),
  );
}

/** The one error class attache throws. */
export class AttacheError extends Error {
  override readonly name = "AttacheError";
  readonly code: AttacheErrorCode;
  /**
   * True where the same call may succeed later (a busy lock, too many open
   * files, a full disk, a network error, a 429): retry it after a pause, or
   * once space or descriptors are freed. False where retrying as is cannot
   * help (a bad argument, a missing attachment, damaged bytes).
   */
  readonly retryable: boolean;
  // `declare`: only the fields a given error has are set, so logs stay short.
  declare readonly ref?: string;
  declare readonly expected?: string;
  declare readonly actual?: string;
  declare readonly path?: string;
  declare readonly destination?: string;
  declare readonly status?: number;

  constructor(code: AttacheErrorCode, message: string, context: AttacheErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.retryable = context.retryable ?? (!NEVER_RETRYABLE.has(code) && isTransientFailure(context.cause));
    for (const key of ["ref", "expected", "actual", "path", "destination", "status"] as const) {
      if (context[key] !== undefined) Object.defineProperty(this, key, { value: context[key], enumerable: true });
    }
  }
}

/** True when `err` is an {@link AttacheError}, optionally with the given code. */
export function isAttacheError(err: unknown, code?: AttacheErrorCode): err is AttacheError {
  return err instanceof AttacheError && (code === undefined || err.code === code);
}

export function invalidArgument(message: string, context?: AttacheErrorContext): AttacheError {
  return new AttacheError("INVALID_ARGUMENT", message, context);
}

export function notFound(ref: string): AttacheError {
  return new AttacheError(
    "NOT_FOUND",
    `No live attachment ${ref} here: it was never staged in this scope, or it was released or has expired. Stage the file again to get a new ref.`,
    { ref },
  );
}

export function storeClosed(): AttacheError {
  return new AttacheError(
    "STORE_CLOSED",
    "The store is closed. Open it again with openStore() before using it.",
  );
}

export function aborted(cause?: unknown): AttacheError {
  return new AttacheError("ABORTED", "The operation was aborted by its signal; nothing was kept.", {
    cause,
  });
}

/**
 * A remote upload, metadata or delete request that failed: `destination`
 * names the destination's key, `status` the provider's HTTP status when it
 * answered, `cause` the client's error. Set `retryable` (true when the
 * retries ran out on a failure that may pass, such as a 429 or a 503).
 */
export function uploadFailed(message: string, context: AttacheErrorContext = {}): AttacheError {
  return new AttacheError("UPLOAD_FAILED", message, context);
}

/** What was asked cannot be done by this target or destination (a type it cannot take, a step its API lacks). */
export function unsupported(message: string, context: AttacheErrorContext = {}): AttacheError {
  return new AttacheError("UNSUPPORTED", message, { retryable: false, ...context });
}

export function tooLarge(limit: number): AttacheError {
  return new AttacheError(
    "TOO_LARGE",
    `The source is larger than maxSize (${limit} bytes); nothing was kept. Raise maxSize or stage a smaller file.`,
  );
}

export function integrityError(
  ref: string,
  path: string,
  message: string,
  context: AttacheErrorContext = {},
): AttacheError {
  return new AttacheError(
    "INTEGRITY_ERROR",
    `${message} Run a verify with repair (store.verify({ repair: true }) or \`attache verify --repair\`) to drop the damaged attachment, then stage the file again.`,
    { ...context, ref, path },
  );
}

/**
 * Wraps an unexpected filesystem or database failure. AttacheErrors pass
 * through unchanged, so this is safe to apply at any boundary. The message
 * names the cause in words (a full disk, too many open files, a held lock),
 * and `retryable` follows from the cause.
 */
export function ioError(what: string, cause: unknown, path?: string): AttacheError {
  if (cause instanceof AttacheError) return cause;
  const codes = causeCodes(cause);
  const detail = cause instanceof Error ? cause.message : String(cause);
  const context = { cause, ...(path === undefined ? {} : { path }) };
  if (codes.some((code) => DISK_FULL_CAUSES.has(code))) {
    return new AttacheError(
      "IO_ERROR",
      `Could not ${what}: the disk is full (${detail}). Free space (release or sweep attachments, or delete other files), then retry.`,
      context,
    );
  }
  const hint = codes.some((code) => code === "EACCES" || code === "EPERM")
    ? " Check the permissions of the store directory."
    : codes.some((code) => code === "EMFILE" || code === "ENFILE")
      ? " Too many open files: raise the limit or lower concurrency, then retry."
      : codes.some((code) => code === "SQLITE_BUSY" || code === "SQLITE_LOCKED")
        ? " Another process holds the manifest locked: retry in a moment."
        : " Retry; if it persists, run verify().";
  return new AttacheError("IO_ERROR", `Could not ${what}: ${detail}.${hint}`, context);
}
