import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { makeDirectorySync } from "../../make-directory.js";
import { Mutex } from "../../mutex.js";
import { RecordCache } from "./record-cache.js";
import { migrate } from "./schema.js";

/**
 * SQLite's own busy handler (`busy_timeout`) waits for a lock by sleeping on
 * this thread, holding the event loop for its whole wait: at 25 ms a second's
 * wait for another process held the loop for about 250 ms in all. So it is
 * off: a call that finds the database locked fails at once with SQLITE_BUSY,
 * and all the waiting is done by retryWhileBusy's timers.
 */
const SYNC_BUSY_WAIT_MS = 0;
/**
 * What the WAL file is cut back to once a checkpoint has emptied it
 * (`journal_size_limit`). Without a limit it keeps its largest size for
 * good; 4 MiB is its size at SQLite's default auto-checkpoint (1000 pages of
 * 4 KiB), so ordinary use never shrinks and regrows it, and only a burst
 * (a large release or reset) leaves space that is then given back.
 */
const WAL_SIZE_LIMIT_BYTES = 4 << 20;

/**
 * One connection per database file per process, shared by every store opened
 * on it: one set of prepared statements and one write queue (the mutex), so
 * two stores in one process never contend for SQLite's write lock with each
 * other, only with other processes.
 */
export interface SharedConnection {
  db: Database.Database;
  writes: Mutex;
  users: number;
  /** `db.prepare`, memoised by SQL text: a statement is prepared once per connection and reused. */
  prepare: Database.Database["prepare"];
  /** The lookup cache of attachment records, shared by every store on this connection (record-cache.ts). */
  records: RecordCache;
}
const connections = new Map<string, SharedConnection>();

/**
 * better-sqlite3 12 on Node 24 aborts the process (`Assertion failed: (env)
 * != nullptr` in RemoveEnvironmentCleanupHook) when the garbage collector
 * finalises one of its Statement or Database objects at the wrong moment.
 * So no such object is ever left for the collector: statements are memoised
 * per connection (never prepared per call, never `db.pragma()`), and on
 * Node 24 and later every connection, with its statements, is kept reachable
 * for the life of the process. The cost is a few KiB per database file opened.
 */
const KEEP_NATIVE_OBJECTS = Number(process.versions.node.split(".")[0]) >= 24;
const keptAlive: SharedConnection[] = [];

function memoisedPrepare(db: Database.Database): Database.Database["prepare"] {
  const statements = new Map<string, Database.Statement>();
  return ((sql: string) => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  }) as Database.Database["prepare"];
}

export async function openConnection(
  file: string,
  busyTimeoutMs: number,
  synchronous: "NORMAL" | "FULL",
): Promise<SharedConnection> {
  const known = connections.get(file);
  if (known !== undefined && known.db.open) {
    if (synchronous === "FULL") known.db.exec("PRAGMA synchronous = FULL");
    known.users++;
    return known;
  }
  makeDirectorySync(path.dirname(file), 0o700);
  // Every statement that can find the database locked — the WAL switch and
  // migration below, each write transaction's BEGIN IMMEDIATE — runs inside
  // retryWhileBusy. Reads in WAL mode take no lock another connection holds,
  // and a checkpoint that finds one reports it busy instead of waiting.
  const db = new Database(file, { timeout: SYNC_BUSY_WAIT_MS });
  const connection: SharedConnection = { db, writes: new Mutex(), users: 1, prepare: memoisedPrepare(db), records: new RecordCache() };
  if (KEEP_NATIVE_OBJECTS) keptAlive.push(connection);
  try {
    fs.chmodSync(file, 0o600);
    // Switching a new database to WAL takes an exclusive lock that SQLite does
    // not wait for (no busy handler): when several processes create the store
    // at once, the losers get SQLITE_BUSY at once, so retry here.
    db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    // Statement journals (the undo log of each savepoint in a group commit) stay in memory: they
    // are small, and a temp file cost every write of a batch a write(2) per page it touched.
    db.exec("PRAGMA temp_store = MEMORY");
    await retryWhileBusy(busyTimeoutMs, () => {
      // A new (empty) database frees the pages of deleted inline bytes on request (`reclaimSpace`):
      // set before its first table and before WAL writes its header. An existing one keeps its
      // setting; switching it needs a VACUUM of the whole file, not done behind the user's back.
      if ((db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count === 0) db.exec("PRAGMA auto_vacuum = INCREMENTAL");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${synchronous}`);
      migrate(connection);
    });
  } catch (err) {
    db.close();
    throw err;
  }
  const raced = connections.get(file);
  if (raced !== undefined && raced.db.open) {
    // Another open in this process finished first; use its connection.
    db.close();
    raced.users++;
    return raced;
  }
  connections.set(file, connection);
  return connection;
}

/**
 * True for SQLite's "try again later" answers, extended codes included
 * (SQLITE_BUSY_RECOVERY while another process recovers the WAL after a
 * crash, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE, …).
 */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || code.startsWith("SQLITE_BUSY_") || code.startsWith("SQLITE_LOCKED_"));
}

/**
 * Runs `fn`, retrying with async backoff while SQLite reports the database
 * busy or locked by another connection, for up to `timeoutMs` in all. This is
 * the only place a lock is waited for (the connection's own busy handler is
 * off), so the event loop runs while another process holds the lock.
 */
export async function retryWhileBusy<T>(timeoutMs: number, fn: () => T): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err) || Date.now() + delay > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
  }
}

/**
 * Checkpoints the WAL into the database and truncates it to zero bytes,
 * giving its space back to the filesystem: the first step when the disk is
 * full. Queued behind this process's writes (a checkpoint cannot run inside
 * one of their transactions). When another process is reading, SQLite skips
 * the truncation rather than wait; that is fine, it is only a best effort.
 */
export function truncateWal(connection: SharedConnection): Promise<void> {
  return connection.writes.run(() => {
    if (connection.db.open) connection.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get();
  });
}

/** Drops one user of a shared connection, closing it with the last one. */
export function releaseConnection(file: string, connection: SharedConnection): void {
  if (--connection.users > 0) return;
  if (connections.get(file) === connection) connections.delete(file);
  if (connection.db.open) connection.db.close();
}
