/**
 * Ctrl-C and SIGTERM during network work: the signal aborts the work through
 * its AbortSignal, so the store records what was done (an upload's parts
 * or offset) and the command ends with ABORTED instead of dying mid-request.
 * A second Ctrl-C finds no listener and ends the process the default way.
 *
 * An upload keeps its progress in the ledger when aborted, so the ABORTED
 * error is given the destination it was for: the CLI then says that running
 * the command again resumes it, rather than "nothing was kept".
 */
import { AttacheError, isAttacheError } from "../index.js";

/** Runs `work` with a signal that SIGINT and SIGTERM abort; an abort names `destination` when given. */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>, destination?: string): Promise<T> {
  const controller = new AbortController();
  const abort = (signal: NodeJS.Signals) => controller.abort(new Error(`interrupted by ${signal}`));
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);
  try {
    return await work(controller.signal);
  } catch (err) {
    if (destination !== undefined && isAttacheError(err, "ABORTED") && err.destination === undefined) {
      throw new AttacheError("ABORTED", err.message, { cause: err.cause, destination });
    }
    throw err;
  } finally {
    process.off("SIGINT", abort);
    process.off("SIGTERM", abort);
  }
}
