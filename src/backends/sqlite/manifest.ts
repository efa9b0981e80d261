/**
 * The embedded manifest: SQLite (better-sqlite3) in WAL mode at
 * `<dir>/manifest.db`, shared safely by every process that opens the store.
 *
 *   attachments(id PK, scope, digest, …, expires_at)   UNIQUE(scope, digest); index on expires_at
 *   blobs(digest PK, size, refs, created_at)           partial index on refs = 0
 *   intents(id PK, digest, temp_name, created_at)      stages between "bytes written" and "committed"
 *   leases(id PK, attachment_id, digest, expires_at)   pins on bytes
 *
 * `blobs.refs` counts the attachment rows (live or expired) that use the
 * managed blob, so the sweep finds deletable blobs from an index instead of a
 * scan. Writes run in `BEGIN IMMEDIATE` transactions; within a process they
 * are queued on a mutex, because one transaction (the blob-deletion fence)
 * spans an await.
 */
import Database from "better-sqlite3";
import path from "node:path";
import { ioError } from "../../errors.js";
import type { Mutex } from "../../mutex.js";
import type { StageMode } from "../../types.js";
import type { AttachmentChanges } from "../../update-options.js";
import { applyChanges, intentReclaimed, isLive, mergeStaging, newRecord } from "../merge.js";
import { isBusy, openConnection, releaseConnection, retryWhileBusy, truncateWal, type SharedConnection } from "./connection.js";
import { readLargestScopes, readMetrics, readScopeMetrics } from "./schema.js";
import type {
  AttachmentRecord,
  BlobRecord,
  BlobRepair,
  IntentRecord,
  LeaseRecord,
  ListQuery,
  Manifest,
  ManifestMetrics,
  ManifestScopeMetrics,
} from "../manifest.js";

export interface SqliteManifestOptions {
  /** The database file, e.g. `<dir>/manifest.db`. */
  file: string;
  /** How long to wait for another process's write lock. @default 10000 */
  busyTimeoutMs?: number;
  /**
   * SQLite's `synchronous` setting (WAL mode): `"NORMAL"` survives process
   * crashes; `"FULL"` also power loss, at the cost of an fsync per commit.
   * Stores sharing a connection in one process share the stricter setting.
   * @default "NORMAL"
   */
  synchronous?: "NORMAL" | "FULL";
}


interface AttachmentRow {
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
}

function toRecord(row: AttachmentRow): AttachmentRecord {
  return {
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
}

function toRow(record: AttachmentRecord): AttachmentRow {
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

const BLOB_COLUMNS = "digest, size, refs, created_at AS createdAt";
const LEASE_COLUMNS = "id, attachment_id AS attachmentId, digest, created_at AS createdAt, expires_at AS expiresAt";
const INTENT_COLUMNS = "id, digest, temp_name AS tempName, linked_from AS linkedFrom, created_at AS createdAt";
const LIVE = "(expires_at IS NULL OR expires_at > @now)";

export function sqliteManifest(options: SqliteManifestOptions): Manifest {
  return new SqliteManifest(options);
}

class SqliteManifest implements Manifest {
  readonly kind = "sqlite";
  private db!: Database.Database;
  private writes!: Mutex;
  private connection: SharedConnection | undefined;
  private statements!: ReturnType<SqliteManifest["prepare"]>;

  constructor(private readonly options: SqliteManifestOptions) {}

  async open(): Promise<void> {
    const file = path.resolve(this.options.file);
    try {
      this.connection = await openConnection(
        file,
        this.busyTimeoutMs,
        this.options.synchronous ?? "NORMAL",
      );
      this.db = this.connection.db;
      this.writes = this.connection.writes;
      this.statements = this.prepare();
    } catch (err) {
      throw ioError(`open the manifest ${file}`, err, file);
    }
  }

  private prepare() {
    const db = this.connection as SharedConnection;
    return {
      insertIntent: db.prepare(
        "INSERT INTO intents (id, digest, temp_name, linked_from, created_at) VALUES (@id, @digest, @tempName, @linkedFrom, @createdAt)",
      ),
      insertBlob: db.prepare(
        "INSERT INTO blobs (digest, size, refs, created_at) VALUES (?, ?, 0, ?) ON CONFLICT (digest) DO NOTHING",
      ),
      deleteIntent: db.prepare("DELETE FROM intents WHERE id = ?"),
      byScopeDigest: db.prepare<[string, string], AttachmentRow>("SELECT * FROM attachments WHERE scope = ? AND digest = ?"),
      byId: db.prepare<[string], AttachmentRow>("SELECT * FROM attachments WHERE id = ?"),
      insertAttachment: db.prepare(
        `INSERT INTO attachments (id, scope, digest, size, name, content_type, mode, reference_path, persist, ttl_ms,
           created_at, updated_at, expires_at, source, metadata)
         VALUES (@id, @scope, @digest, @size, @name, @content_type, @mode, @reference_path, @persist, @ttl_ms,
           @created_at, @updated_at, @expires_at, @source, @metadata)`,
      ),
      updateAttachment: db.prepare(
        `UPDATE attachments SET mode = @mode, reference_path = @reference_path, persist = @persist, ttl_ms = @ttl_ms,
           updated_at = @updated_at, expires_at = @expires_at WHERE id = @id`,
      ),
      rewriteAttachment: db.prepare(
        `UPDATE attachments SET name = @name, metadata = @metadata, persist = @persist, ttl_ms = @ttl_ms,
           updated_at = @updated_at, expires_at = @expires_at WHERE id = @id`,
      ),
      deleteAttachment: db.prepare("DELETE FROM attachments WHERE id = ?"),
      addRef: db.prepare("UPDATE blobs SET refs = refs + 1 WHERE digest = ?"),
      dropRef: db.prepare("UPDATE blobs SET refs = refs - 1 WHERE digest = ? AND refs > 0"),
      liveOfScope: db.prepare<{ scope: string; now: number }, AttachmentRow>(
        `SELECT * FROM attachments WHERE scope = @scope AND ${LIVE}`,
      ),
      insertLease: db.prepare(
        "INSERT INTO leases (id, attachment_id, digest, created_at, expires_at) VALUES (@id, @attachmentId, @digest, @createdAt, @expiresAt)",
      ),
      leaseById: db.prepare<[string], LeaseRecord>(`SELECT ${LEASE_COLUMNS} FROM leases WHERE id = ?`),
      deleteLease: db.prepare("DELETE FROM leases WHERE id = ?"),
      due: db.prepare<[number, number], AttachmentRow>(
        "SELECT * FROM attachments WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?",
      ),
      unreferenced: db.prepare<[string, number], BlobRecord>(
        `SELECT ${BLOB_COLUMNS} FROM blobs WHERE refs = 0 AND digest > ? ORDER BY digest LIMIT ?`,
      ),
      blob: db.prepare<[string], BlobRecord>(`SELECT ${BLOB_COLUMNS} FROM blobs WHERE digest = ?`),
      blobNeeded: db.prepare<{ digest: string; now: number }, { needed: number }>(
        `SELECT (SELECT refs FROM blobs WHERE digest = @digest) > 0
            OR EXISTS (SELECT 1 FROM intents WHERE digest = @digest)
            OR EXISTS (SELECT 1 FROM leases WHERE digest = @digest AND expires_at > @now) AS needed`,
      ),
      deleteBlob: db.prepare("DELETE FROM blobs WHERE digest = ?"),
      blobOfSize: db.prepare<[number], { found: number }>("SELECT 1 AS found FROM blobs WHERE size = ? LIMIT 1"),
      staleIntents: db.prepare<[number, number], IntentRecord>(
        `SELECT ${INTENT_COLUMNS} FROM intents WHERE created_at <= ? ORDER BY created_at LIMIT ?`,
      ),
      intentTemps: db.prepare<[], { tempName: string }>(
        "SELECT temp_name AS tempName FROM intents WHERE temp_name IS NOT NULL",
      ),
      staleLeases: db.prepare<[number, number], LeaseRecord>(
        `SELECT ${LEASE_COLUMNS} FROM leases WHERE expires_at <= ? ORDER BY expires_at LIMIT ?`,
      ),
      blobsPage: db.prepare<[string, number], BlobRecord>(
        `SELECT ${BLOB_COLUMNS} FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?`,
      ),
      referencesPage: db.prepare<[string, number], AttachmentRow>(
        "SELECT * FROM attachments WHERE reference_path IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
      ),
      managedOfBlob: db.prepare<[string], AttachmentRow>(
        "SELECT * FROM attachments WHERE digest = ? AND reference_path IS NULL",
      ),
      intentOfDigest: db.prepare<[string], { found: number }>("SELECT 1 AS found FROM intents WHERE digest = ? LIMIT 1"),
      leaseOfDigest: db.prepare<{ digest: string; now: number }, { found: number }>(
        "SELECT 1 AS found FROM leases WHERE digest = @digest AND expires_at > @now LIMIT 1",
      ),
    };
  }

  /** One write transaction, queued behind this process's other writes. */
  private write<T>(what: string, fn: () => T): Promise<T> {
    return this.writes.run(async () => {
      try {
        return await retryWhileBusy(this.busyTimeoutMs, () => this.db.transaction(fn).immediate());
      } catch (err) {
        throw ioError(what, err);
      }
    });
  }

  /**
   * One write transaction that spans awaits (the delete fence): `BEGIN
   * IMMEDIATE` holds SQLite's write lock, so no other process's stage can
   * claim the blob while `fn` checks it and removes its bytes; the mutex does
   * the same for this process's connection. Rolls back if `fn` throws.
   */
  private fenced<T>(locking: string, what: string, fn: () => Promise<T>): Promise<T> {
    return this.writes.run(async () => {
      const db = this.db;
      try {
        await retryWhileBusy(this.busyTimeoutMs, () => db.exec("BEGIN IMMEDIATE"));
      } catch (err) {
        throw ioError(locking, err);
      }
      try {
        const result = await fn();
        db.exec("COMMIT");
        return result;
      } catch (err) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw ioError(what, err);
      }
    });
  }

  private get busyTimeoutMs(): number {
    return this.options.busyTimeoutMs ?? 10_000;
  }

  /**
   * One read. In WAL mode a read does not wait for writers; it can meet a lock
   * only in the brief moment another process recovers the database after a
   * crash, and then it is retried asynchronously like a write (the connection
   * never sleeps on the thread: see sqlite-connection.ts).
   */
  private read<T>(what: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      if (isBusy(err)) {
        return retryWhileBusy(this.busyTimeoutMs, fn).catch((again: unknown) => Promise.reject(ioError(what, again)));
      }
      return Promise.reject(ioError(what, err));
    }
  }

  /** Removes an attachment row and, for a managed blob, its reference count. */
  private dropRow(record: AttachmentRecord): void {
    this.statements.deleteAttachment.run(record.id);
    if (record.referencePath === null) this.statements.dropRef.run(record.digest);
  }

  beginStage(intent: IntentRecord, size: number): Promise<void> {
    return this.write("record the stage's intent in the manifest", () => {
      this.statements.insertIntent.run({ ...intent, linkedFrom: intent.linkedFrom ?? null });
      this.statements.insertBlob.run(intent.digest, size, intent.createdAt);
    });
  }

  commitStage(intentId: string | null, staged: Parameters<Manifest["commitStage"]>[1]) {
    return this.write("commit the attachment to the manifest", () => {
      const s = this.statements;
      if (intentId !== null && s.deleteIntent.run(intentId).changes === 0) throw intentReclaimed();
      const managed = staged.referencePath === null;
      if (managed) s.insertBlob.run(staged.digest, staged.size, staged.now);
      const row = s.byScopeDigest.get(staged.scope, staged.digest);
      if (row === undefined) {
        const record = newRecord(staged);
        s.insertAttachment.run(toRow(record));
        if (managed) s.addRef.run(staged.digest);
        return { record, merged: false };
      }
      const existing = toRecord(row);
      const record = mergeStaging(existing, staged);
      s.updateAttachment.run(toRow(record));
      if (existing.referencePath !== null && record.referencePath === null) s.addRef.run(staged.digest);
      return { record, merged: true };
    });
  }

  abandonStage(intentId: string): Promise<void> {
    return this.write("drop the intent of a failed stage", () => {
      this.statements.deleteIntent.run(intentId);
    });
  }

  getAttachment(id: string): Promise<AttachmentRecord | undefined> {
    return this.read("read the manifest", () => {
      const row = this.statements.byId.get(id);
      return row && toRecord(row);
    });
  }

  listAttachments(query: ListQuery): Promise<AttachmentRecord[]> {
    return this.read("list attachments", () => {
      const where: string[] = ["id > @after"];
      if (query.scope !== undefined) where.push("scope = @scope");
      if (!query.includeExpired) where.push(LIVE);
      const limit = Number.isFinite(query.limit) ? query.limit : -1;
      const sql = `SELECT * FROM attachments WHERE ${where.join(" AND ")} ORDER BY id LIMIT @limit`;
      const rows = (this.connection as SharedConnection)
        .prepare<object, AttachmentRow>(sql)
        .all({ after: query.afterId ?? "", scope: query.scope, now: query.now, limit });
      return rows.map(toRecord);
    });
  }

  updateAttachment(id: string, scope: string | undefined, changes: AttachmentChanges, now: number) {
    return this.write("update the attachment", () => {
      const row = this.statements.byId.get(id);
      if (row === undefined) return undefined;
      const record = toRecord(row);
      if (!isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
      const updated = applyChanges(record, changes, now);
      this.statements.rewriteAttachment.run(toRow(updated));
      return updated;
    });
  }

  releaseAttachment(id: string, scope: string | undefined, now: number) {
    return this.write("release the attachment", () => {
      const row = this.statements.byId.get(id);
      if (row === undefined) return undefined;
      const record = toRecord(row);
      if (!isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
      this.dropRow(record);
      return record;
    });
  }

  releaseScope(scope: string, now: number) {
    return this.write("release the scope", () => {
      const records = this.statements.liveOfScope.all({ scope, now }).map(toRecord);
      for (const record of records) this.dropRow(record);
      return records;
    });
  }

  addLease(lease: LeaseRecord, scope: string | undefined, now: number) {
    return this.write("record the lease", () => {
      const row = this.statements.byId.get(lease.attachmentId);
      if (row === undefined) return undefined;
      const record = toRecord(row);
      if (!isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
      this.statements.insertLease.run(lease);
      return record;
    });
  }

  hasLease(id: string) {
    return this.read("read the manifest", () => this.statements.leaseById.get(id) !== undefined);
  }

  removeLease(id: string) {
    return this.write("end the lease", () => {
      const lease = this.statements.leaseById.get(id);
      if (lease !== undefined) this.statements.deleteLease.run(id);
      return lease;
    });
  }

  expireDue(now: number, limit: number) {
    return this.write("drop expired attachments", () => {
      const records = this.statements.due.all(now, limit).map(toRecord);
      for (const record of records) this.dropRow(record);
      return records;
    });
  }

  unreferencedBlobs(afterDigest: string | null, limit: number) {
    return this.read("find unreferenced blobs", () => this.statements.unreferenced.all(afterDigest ?? "", limit));
  }

  deleteBlobIfUnneeded(digest: string, now: number, remove: () => Promise<void>) {
    return this.fenced("lock the manifest to delete a blob", `delete blob sha256:${digest}`, async () => {
      const blob = this.statements.blob.get(digest);
      const needed = this.statements.blobNeeded.get({ digest, now })?.needed === 1;
      if (needed) return undefined;
      // No row: a stage whose intent was dropped under it (a reset, a sweep of a stage older than the
      // grace period) may still have renamed its bytes into place. Nothing can need them: remove the file.
      await remove();
      if (blob === undefined) return undefined;
      this.statements.deleteBlob.run(digest);
      return blob;
    });
  }

  whileBlobKept(digest: string, swap: () => Promise<void>) {
    return this.fenced("lock the manifest to replace a blob's file", `replace the file of blob sha256:${digest}`, async () => {
      if (this.statements.blob.get(digest) === undefined) return false;
      await swap();
      return true;
    });
  }

  staleIntents(before: number, limit: number) {
    return this.read("find unfinished stages", () => this.statements.staleIntents.all(before, limit));
  }

  intentTempNames() {
    return this.read("list intents", () => new Set(this.statements.intentTemps.all().map((row) => row.tempName)));
  }

  reclaimLeases(before: number, limit: number) {
    return this.write("drop stale leases", () => {
      const leases = this.statements.staleLeases.all(before, limit);
      for (const lease of leases) this.statements.deleteLease.run(lease.id);
      return leases;
    });
  }

  getBlob(digest: string) {
    return this.read("read the manifest", () => this.statements.blob.get(digest));
  }

  hasBlobOfSize(size: number) {
    return this.read("read the manifest", () => this.statements.blobOfSize.get(size) !== undefined);
  }

  listBlobs(afterDigest: string | null, limit: number) {
    return this.read("list blobs", () => this.statements.blobsPage.all(afterDigest ?? "", limit));
  }

  listReferences(afterId: string | null, limit: number) {
    return this.read("list reference attachments", () =>
      this.statements.referencesPage.all(afterId ?? "", limit).map(toRecord),
    );
  }

  dropAttachmentsOfBlob(digest: string) {
    return this.write("drop damaged attachments", () => {
      const records = this.statements.managedOfBlob.all(digest).map(toRecord);
      for (const record of records) this.dropRow(record);
      return records;
    });
  }

  repairBlob(
    digest: string,
    now: number,
    recheck: () => Promise<boolean>,
    remove: () => Promise<void>,
  ): Promise<BlobRepair | undefined> {
    return this.fenced("lock the manifest to repair a blob", `repair blob sha256:${digest}`, async () => {
      const s = this.statements;
      // A stage in flight may be putting these very bytes in place: its outcome is for the next verify to judge.
      if (s.intentOfDigest.get(digest) !== undefined) return undefined;
      if (!(await recheck())) return undefined;
      const dropped = s.managedOfBlob.all(digest).map(toRecord);
      for (const record of dropped) this.dropRow(record);
      await remove();
      const blob = s.blob.get(digest);
      if (blob === undefined || s.leaseOfDigest.get({ digest, now }) !== undefined) return { dropped, deletedBlob: undefined };
      s.deleteBlob.run(digest);
      return { dropped, deletedBlob: blob };
    });
  }

  dropAttachment(id: string) {
    return this.write("drop the attachment", () => {
      const row = this.statements.byId.get(id);
      if (row === undefined) return undefined;
      const record = toRecord(row);
      this.dropRow(record);
      return record;
    });
  }

  metrics(now: number): Promise<ManifestMetrics> {
    return this.read("compute metrics", () => readMetrics(this.connection as SharedConnection, now));
  }

  scopeMetrics(scope: string, now: number): Promise<ManifestScopeMetrics> {
    return this.read("compute the scope's metrics", () => readScopeMetrics(this.connection as SharedConnection, scope, now));
  }

  largestScopes(limit: number, now: number): Promise<ManifestScopeMetrics[]> {
    return this.read("find the largest scopes", () => readLargestScopes(this.connection as SharedConnection, limit, now));
  }

  checkIntegrity(): Promise<string[]> {
    try {
      // At most 100 lines: enough to tell an operator the file is damaged and where, without flooding a report.
      const rows = this.db.pragma("integrity_check(100)") as { integrity_check: string }[];
      const lines = rows.map((row) => row.integrity_check);
      return Promise.resolve(lines.length === 1 && lines[0] === "ok" ? [] : lines);
    } catch (err) {
      // The check itself cannot read the file (a damaged header or schema page): that is the finding.
      const code = (err as { code?: string }).code;
      const detail = `${err instanceof Error ? err.message : String(err)}${code === undefined ? "" : ` (${code})`}`;
      return Promise.resolve([`SQLite's integrity check could not run: ${detail}`]);
    }
  }


  reset(): Promise<void> {
    return this.write("reset the manifest", () => {
      this.db.exec("DELETE FROM attachments; DELETE FROM intents; DELETE FROM leases; UPDATE blobs SET refs = 0;");
    });
  }

  checkpoint(): Promise<void> {
    return this.connection === undefined ? Promise.resolve() : truncateWal(this.connection);
  }

  close(): Promise<void> {
    const connection = this.connection;
    if (connection === undefined) return Promise.resolve();
    this.connection = undefined;
    return connection.writes.run(() => releaseConnection(path.resolve(this.options.file), connection));
  }
}
