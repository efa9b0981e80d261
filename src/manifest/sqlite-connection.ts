import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { Mutex } from "../mutex.js";
import { migrate } from "./sqlite-schema.js";

/** How long one SQLite call may block the thread waiting for a lock. */
const SYNC_BUSY_WAIT_MS = 25;

/**
 * One connection per database file per process, shared by every store opened
 * on it: the blob-deletion fence holds the write lock across an await, and a
 * second connection in the same thread would block on that lock synchronously
 * (a self-deadlock until the busy timeout). Sharing the connection shares the
 * write mutex instead, so the second store simply queues.
 */
export interface SharedConnection {
  db: Database.Database;
  writes: Mutex;
  users: number;
}
const connections = new Map<string, SharedConnection>();

export async function openConnection(
  file: string,
  busyTimeoutMs: number,
  synchronous: "NORMAL" | "FULL",
): Promise<SharedConnection> {
  const known = connections.get(file);
  if (known !== undefined && known.db.open) {
    if (synchronous === "FULL") known.db.pragma("synchronous = FULL");
    known.users++;
    return known;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // SQLite's own busy handler sleeps on this thread: keep it short, and wait
  // out longer locks with async retries (retryWhileBusy) so the event loop runs.
  const db = new Database(file, { timeout: Math.min(busyTimeoutMs, SYNC_BUSY_WAIT_MS) });
  try {
    fs.chmodSync(file, 0o600);
    // Switching a new database to WAL takes an exclusive lock that SQLite does
    // not wait for (no busy handler): when several processes create the store
    // at once, the losers get SQLITE_BUSY at once, so retry here.
    await retryWhileBusy(busyTimeoutMs, () => {
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${synchronous}`);
      migrate(db);
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
  const connection = { db, writes: new Mutex(), users: 1 };
  connections.set(file, connection);
  return connection;
}

/**
 * Runs `fn`, retrying with async backoff while SQLite reports the database
 * busy or locked by another connection, for up to `timeoutMs` in all.
 */
export async function retryWhileBusy<T>(timeoutMs: number, fn: () => T): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if ((code !== "SQLITE_BUSY" && code !== "SQLITE_LOCKED") || Date.now() + delay > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
  }
}

/** Drops one user of a shared connection, closing it with the last one. */
export function releaseConnection(file: string, connection: SharedConnection): void {
  if (--connection.users > 0) return;
  if (connections.get(file) === connection) connections.delete(file);
  if (connection.db.open) connection.db.close();
}
