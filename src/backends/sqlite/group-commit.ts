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

async function commitBatch(connection: SharedConnection, busyTimeoutMs: number, batch: PendingWrite[]): Promise<void> {
  let outcomes: Outcome[] = [];
  try {
    await retryWhileBusy(busyTimeoutMs, () => {
      outcomes = [];
      if (batch.length === 1) {
        // A lone write is the whole transaction: no savepoint to pay for.
        const write = batch[0] as PendingWrite;
        try {
          outcomes.push({ ok: true, value: connection.db.transaction(write.fn).immediate() });
        } catch (err) {
          if (isBusy(err)) throw err;
          outcomes.push({ ok: false, err });
        }
        return;
      }
      connection.db
        .transaction(() => {
          for (const write of batch) {
            try {
              // A nested transaction is a savepoint: a write that throws is undone alone.
              outcomes.push({ ok: true, value: connection.db.transaction(write.fn)() });
            } catch (err) {
              // A busy database fails the whole batch, which is retried from the start.
              if (isBusy(err)) throw err;
              outcomes.push({ ok: false, err });
            }
          }
        })
        .immediate();
    });
  } catch (err) {
    for (const write of batch) write.reject(ioError(write.what, err));
    return;
  }
  // Before any promise settles: nothing can read in between (a lookup cache stays exact).
  batch.forEach((write, i) => {
    const outcome = outcomes[i] as Outcome;
    if (outcome.ok) write.committed?.(outcome.value);
  });
  batch.forEach((write, i) => {
    const outcome = outcomes[i] as Outcome;
    if (outcome.ok) write.resolve(outcome.value);
    else write.reject(ioError(write.what, outcome.err));
  });
}
