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
  | "IO_ERROR";

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
}

/** The one error class attache throws. */
export class AttacheError extends Error {
  override readonly name = "AttacheError";
  readonly code: AttacheErrorCode;
  // `declare`: only the fields a given error has are set, so logs stay short.
  declare readonly ref?: string;
  declare readonly expected?: string;
  declare readonly actual?: string;
  declare readonly path?: string;

  constructor(code: AttacheErrorCode, message: string, context: AttacheErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    for (const key of ["ref", "expected", "actual", "path"] as const) {
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
 * through unchanged, so this is safe to apply at any boundary.
 */
export function ioError(what: string, cause: unknown, path?: string): AttacheError {
  if (cause instanceof AttacheError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const detail = cause instanceof Error ? cause.message : String(cause);
  const hint =
    code === "ENOSPC"
      ? " The disk is full: free space, then retry."
      : code === "EACCES" || code === "EPERM"
        ? " Check the permissions of the store directory."
        : code === "EMFILE" || code === "ENFILE"
          ? " Too many open files: raise the limit or lower concurrency, then retry."
          : code === "SQLITE_BUSY" || code === "SQLITE_LOCKED"
            ? " Another process holds the manifest locked: retry in a moment."
            : " Retry; if it persists, run verify().";
  return new AttacheError("IO_ERROR", `Could not ${what}: ${detail}.${hint}`, {
    cause,
    ...(path === undefined ? {} : { path }),
  });
}
