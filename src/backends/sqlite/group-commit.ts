/**
 * Group commit: the writes of one process that arrive together share one
 * SQLite transaction. A write is queued; the first of a batch schedules the
 * batch for the next turn of the event loop (`setImmediate`: a lone write
 * waits microseconds, never a timer), and writes arriving until the batch
 * takes the process's write lock join it. Each write runs inside a savepoint
 * of its own, so it fails or succeeds on its own: one that throws is rolled
 * back and rejects, the others commit. Under `synchronous = FULL` a batch
 * costs one fsync of the WAL instead of one per write.
 */
import { ioError } from "../../errors.js";
import { isBusy, retryWhileBusy, type SharedConnection } from "./connection.js";

interface PendingWrite {
  what: string;
  fn: () => unknown;
  /** Runs with the write's value right after the batch committed, before anything else can read (see record-cache.ts). */
  committed: ((value: unknown) => void) | undefined;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };

const batches = new WeakMap<SharedConnection, PendingWrite[]>();

/**
 * Runs `fn` in a write transaction shared with the writes that arrive with
 * it; `committed`, if given, runs with its value synchronously once the
 * transaction has committed.
 */
export function groupWrite<T>(
  connection: SharedConnection,
  busyTimeoutMs: number,
  what: string,
  fn: () => T,
  committed?: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const write: PendingWrite = { what, fn, committed: committed as PendingWrite["committed"], resolve: resolve as (value: unknown) => void, reject };
    const pending = batches.get(connection);
    if (pending !== undefined) {
      pending.push(write);
      return;
    }
    const batch = [write];
    batches.set(connection, batch);
    setImmediate(() => {
      void connection.writes.run(async () => {
        // Later writes start the next batch.
        if (batches.get(connection) === batch) batches.delete(connection);
        await commitBatch(connection, busyTimeoutMs, batch);
      });
    });
  });
}

/** Waits until every write queued so far has committed or failed. */
export async function settleWrites(connection: SharedConnection): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  await connection.writes.run(async () => undefined);
}

/** One write's outcome; a busy database rethrows, failing the whole batch, which is retried from the start. */
function attempt(run: () => unknown): Outcome {
  try {
    return { ok: true, value: run() };
  } catch (err) {
    if (isBusy(err)) throw err;
    return { ok: false, err };
  }
}

async function commitBatch(connection: SharedConnection, busyTimeoutMs: number, batch: PendingWrite[]): Promise<void> {
  const db = connection.db;
  let outcomes: Outcome[] = [];
  try {
    await retryWhileBusy(busyTimeoutMs, () => {
      // A lone write is the whole transaction: no savepoint to pay for.
      if (batch.length === 1) outcomes = [attempt(() => db.transaction((batch[0] as PendingWrite).fn).immediate())];
      // A nested transaction is a savepoint: a write that throws is undone alone.
      else db.transaction(() => (outcomes = batch.map((write) => attempt(db.transaction(write.fn))))).immediate();
    });
  } catch (err) {
    for (const write of batch) write.reject(ioError(write.what, err));
    return;
  }
  // A promise's reactions run only after this loop: nothing can read between the commit and a `committed` (a lookup cache stays exact).
  batch.forEach((write, i) => {
    const outcome = outcomes[i] as Outcome;
    if (!outcome.ok) return write.reject(ioError(write.what, outcome.err));
    write.committed?.(outcome.value);
    write.resolve(outcome.value);
  });
}
