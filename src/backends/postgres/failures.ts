/**
 * How the PostgreSQL manifest reports a failure: every error leaves it as an
 * AttacheError (IO_ERROR), and `retryable` says whether the same call may
 * succeed later. PostgreSQL names its failures by SQLSTATE (`err.code`,
 * five characters); pg's own connection failures carry a Node errno code or,
 * for a socket that simply closed, no code at all — those are recognised by
 * the connection having been lost while the call used it.
 */
import { AttacheError, ioError } from "../../errors.js";

/** SQLSTATEs after which PostgreSQL has rolled the transaction back and running it again is safe and may succeed. */
const RERUN_IN_PLACE: ReadonlySet<string> = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
]);

/**
 * SQLSTATEs and classes that say "not now" rather than "not this": the
 * connection failed (class 08), the server is shutting down or starting
 * (57P01 admin_shutdown, as `pg_terminate_backend` answers; 57P02, 57P03),
 * a lock was not granted in time (55P03), a statement was cancelled (57014),
 * the server is out of a resource (class 53: disk full, memory,
 * connections), or an idle transaction was ended by the server (25P03).
 */
const TRANSIENT_STATES: ReadonlySet<string> = new Set([...RERUN_IN_PLACE, "55P03", "57014", "57P01", "57P02", "57P03", "25P03"]);
const TRANSIENT_CLASSES: ReadonlySet<string> = new Set(["08", "53"]);
/** Node errno codes of a network that failed or a server not (yet) listening. */
const TRANSIENT_ERRNOS: ReadonlySet<string> = new Set([
  "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "EAI_AGAIN",
]);

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The SQLSTATE of a server error, or undefined (pg's own and Node's errors). */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && SQLSTATE.test(code) ? code : undefined;
}

/** True when PostgreSQL rolled the transaction back for a conflict with another one: run it again. */
export function mayRunAgain(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && RERUN_IN_PLACE.has(state);
}

/**
 * True when the server ended the connection along with the statement (a
 * FATAL error: shutdown, termination, an idle transaction timed out, a
 * connection failure): the client must not go back to the pool, even if
 * pg has not yet seen the socket close.
 */
export function endsConnection(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && (state.startsWith("08") || state === "57P01" || state === "57P02" || state === "57P03" || state === "25P03");
}

/**
 * True when `err` says the call may succeed later. `connectionLost` is set
 * when the client's connection failed while the call used it (pg then
 * rejects with a codeless "Connection terminated unexpectedly").
 */
export function isTransientPostgresFailure(err: unknown, connectionLost: boolean): boolean {
  if (connectionLost) return true;
  const state = sqlState(err);
  if (state !== undefined) return TRANSIENT_STATES.has(state) || TRANSIENT_CLASSES.has(state.slice(0, 2));
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && TRANSIENT_ERRNOS.has(code);
}

/**
 * Wraps a failure of one manifest call. A transient one is an IO_ERROR with
 * `retryable: true` (the cause keeps its SQLSTATE). Each call is one
 * transaction, so it either happened whole or not at all — only a connection
 * that broke while COMMIT was under way leaves open which. Others go through
 * the store's {@link ioError}.
 */
export function postgresFailure(what: string, err: unknown, connectionLost = false): AttacheError {
  if (err instanceof AttacheError) return err;
  if (!isTransientPostgresFailure(err, connectionLost)) return ioError(what, err);
  const detail = err instanceof Error ? err.message : String(err);
  const state = sqlState(err);
  return new AttacheError(
    "IO_ERROR",
    `Could not ${what}: ${detail}${state === undefined ? "" : ` (SQLSTATE ${state})`}. ` +
      "PostgreSQL was unreachable, restarting or busy, or the transaction met a conflicting one; nothing was left half-done. Retry in a moment.",
    { cause: err, retryable: true },
  );
}
