/**
 * What the SQLite manifest's rooms share: the connection, one way to run a
 * write transaction and one way to read, and the conversion of attachment
 * rows. No transaction ever spans an await: each write is one synchronous
 * better-sqlite3 transaction, retried (asynchronously) while another
 * process holds the write lock.
 */
import type Database from "better-sqlite3";
import { ioError } from "../../errors.js";
import type { StageMode } from "../../types.js";
import type { AttachmentRecord, BlobRecord } from "../manifest.js";
import { blobWithInlineFlag, withInlineFlag } from "../merge.js";
import { isBusy, retryWhileBusy, type SharedConnection } from "./connection.js";
import { groupWrite } from "./group-commit.js";
import type { RecordCache } from "./record-cache.js";

export interface AttachmentRow {
  id: string;
  scope: string;
  digest: string;
  size: number;
  name: string;
  content_type: string;
  mode: string;
  reference_path: string | null;
  persist: number;
  ttl_ms: number | null;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
  source: string | null;
  metadata: string;
  /** Whether the blob is inline (1), from the blobs row; only in reads. */
  inline?: number | null;
}

/** A blobs row as SQLite returns it: `inline` is 0 or 1. */
export type BlobRow = Omit<BlobRecord, "inline"> & { inline?: number | boolean | null };

export function toRecord(row: AttachmentRow): AttachmentRecord {
  const record: AttachmentRecord = {
    id: row.id,
    scope: row.scope,
    digest: row.digest,
    size: row.size,
    name: row.name,
    contentType: row.content_type,
    mode: row.mode as StageMode,
    referencePath: row.reference_path,
    persist: row.persist === 1,
    ttlMs: row.ttl_ms,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    expiresAt: row.expires_at,
    source: row.source,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
  };
  return withInlineFlag(record, row.inline === 1);
}

/** A blobs row as read (`inline` 0 or 1) → a BlobRecord (`inline: true` only when it is). */
export function toBlob(row: BlobRow): BlobRecord;
export function toBlob(row: BlobRow | undefined): BlobRecord | undefined;
export function toBlob(row: BlobRow | undefined): BlobRecord | undefined {
  return row === undefined ? undefined : blobWithInlineFlag(row, row.inline === 1 || row.inline === true);
}

export function toRow(record: AttachmentRecord): AttachmentRow {
  return {
    id: record.id,
    scope: record.scope,
    digest: record.digest,
    size: record.size,
    name: record.name,
    content_type: record.contentType,
    mode: record.mode,
    reference_path: record.referencePath,
    persist: record.persist ? 1 : 0,
    ttl_ms: record.ttlMs,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
    expires_at: record.expiresAt,
    source: record.source,
    metadata: JSON.stringify(record.metadata),
  };
}

/** The open connection as the rooms use it; replaced when the manifest opens. */
export class SqliteDatabase {
  connection: SharedConnection | undefined;

  constructor(readonly busyTimeoutMs: number) {}

  get open(): SharedConnection {
    if (this.connection === undefined) throw ioError("use the manifest", new Error("the SQLite manifest is not open"));
    return this.connection;
  }

  /** A memoised prepared statement (see connection.ts: statements are never left to the garbage collector). */
  statement<P extends unknown[] | object = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    return this.open.prepare<P, R>(sql);
  }

  /**
   * One write: its own savepoint inside a write transaction that the writes
   * of this process arriving with it share (see group-commit.ts). A write
   * that changes attachment records, or what they read (a blob's `inline`),
   * tells the lookup cache in `committed` (see record-cache.ts).
   */
  write<T>(what: string, fn: () => T, committed?: (value: T, records: RecordCache) => void): Promise<T> {
    const connection = this.open;
    return groupWrite(connection, this.busyTimeoutMs, what, fn, committed && ((value) => committed(value, connection.records)));
  }

  /** The connection's lookup cache of attachment records. */
  get records(): RecordCache {
    return this.open.records;
  }

  /** SQLite's count of other connections' commits (`PRAGMA data_version`): it changes when another process commits. */
  dataVersion(): number {
    return this.open.prepare<[], { data_version: number }>("PRAGMA data_version").get()?.data_version ?? -1;
  }

  /**
   * One read. In WAL mode a read does not wait for writers; it can meet a lock
   * only in the brief moment another process recovers the database after a
   * crash, and then it is retried asynchronously like a write.
   */
  read<T>(what: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      if (isBusy(err)) {
        return retryWhileBusy(this.busyTimeoutMs, fn).catch((again: unknown) => Promise.reject(ioError(what, again)));
      }
      return Promise.reject(ioError(what, err));
    }
  }
}
