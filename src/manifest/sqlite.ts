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
import fs from "node:fs";
import path from "node:path";
import { ioError } from "../errors.js";
import { Mutex } from "../mutex.js";
import type { StageMode } from "../types.js";
import { intentReclaimed, isLive, mergeStaging, newRecord } from "./merge.js";
import type {
  AttachmentRecord,
  BlobRecord,
  IntentRecord,
  LeaseRecord,
  ListQuery,
  Manifest,
  ManifestMetrics,
} from "./types.js";

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

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS attachments (
  id TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  mode TEXT NOT NULL,
  reference_path TEXT,
  persist INTEGER NOT NULL,
  ttl_ms INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER,
  source TEXT,
  metadata TEXT NOT NULL,
  UNIQUE (scope, digest)
);
CREATE INDEX IF NOT EXISTS attachments_expiry ON attachments (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS attachments_scope ON attachments (scope, id);
CREATE INDEX IF NOT EXISTS attachments_digest ON attachments (digest);
CREATE INDEX IF NOT EXISTS attachments_reference ON attachments (id) WHERE reference_path IS NOT NULL;
CREATE TABLE IF NOT EXISTS blobs (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  refs INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blobs_unreferenced ON blobs (digest) WHERE refs = 0;
CREATE TABLE IF NOT EXISTS intents (
  id TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  temp_name TEXT,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS intents_digest ON intents (digest);
CREATE INDEX IF NOT EXISTS intents_age ON intents (created_at);
CREATE TABLE IF NOT EXISTS leases (
  id TEXT PRIMARY KEY,
  attachment_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leases_digest ON leases (digest, expires_at);
CREATE INDEX IF NOT EXISTS leases_expiry ON leases (expires_at);
`;

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
const INTENT_COLUMNS = "id, digest, temp_name AS tempName, created_at AS createdAt";
const LIVE = "(expires_at IS NULL OR expires_at > @now)";

export function sqliteManifest(options: SqliteManifestOptions): Manifest {
  return new SqliteManifest(options);
}

/**
 * One connection per database file per process, shared by every store opened
 * on it: the blob-deletion fence holds the write lock across an await, and a
 * second connection in the same thread would block on that lock synchronously
 * (a self-deadlock until the busy timeout). Sharing the connection shares the
 * write mutex instead, so the second store simply queues.
 */
interface SharedConnection {
  db: Database.Database;
  writes: Mutex;
  users: number;
}
const connections = new Map<string, SharedConnection>();

async function openConnection(
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
  const db = new Database(file, { timeout: busyTimeoutMs });
  try {
    fs.chmodSync(file, 0o600);
    // Switching a new database to WAL takes an exclusive lock that SQLite does
    // not wait for (no busy handler): when several processes create the store
    // at once, the losers get SQLITE_BUSY at once, so retry here.
    await retryWhileBusy(busyTimeoutMs, () => {
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${synchronous}`);
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version < SCHEMA_VERSION) {
        db.transaction(() => {
          db.exec(SCHEMA);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      }
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

async function retryWhileBusy(timeoutMs: number, fn: () => void): Promise<void> {
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
        this.options.busyTimeoutMs ?? 10_000,
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
    const db = this.db;
    return {
      insertIntent: db.prepare(
        "INSERT INTO intents (id, digest, temp_name, created_at) VALUES (@id, @digest, @tempName, @createdAt)",
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
    };
  }

  /** One write transaction, queued behind this process's other writes. */
  private write<T>(what: string, fn: () => T): Promise<T> {
    return this.writes.run(() => {
      try {
        return this.db.transaction(fn).immediate();
      } catch (err) {
        throw ioError(what, err);
      }
    });
  }

  private read<T>(what: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
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
      this.statements.insertIntent.run(intent);
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
      const rows = this.db
        .prepare<object, AttachmentRow>(sql)
        .all({ after: query.afterId ?? "", scope: query.scope, now: query.now, limit });
      return rows.map(toRecord);
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
    return this.writes.run(async () => {
      const db = this.db;
      try {
        db.exec("BEGIN IMMEDIATE");
      } catch (err) {
        throw ioError("lock the manifest to delete a blob", err);
      }
      try {
        const blob = this.statements.blob.get(digest);
        const needed = this.statements.blobNeeded.get({ digest, now })?.needed === 1;
        if (blob === undefined || needed) {
          db.exec("COMMIT");
          return undefined;
        }
        await remove();
        this.statements.deleteBlob.run(digest);
        db.exec("COMMIT");
        return blob;
      } catch (err) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw ioError(`delete blob sha256:${digest}`, err);
      }
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
    return this.read("compute metrics", () => {
      const db = this.db;
      const totals = db
        .prepare<{ now: number }, Record<string, number | null>>(
          `SELECT
             COALESCE(SUM(expires_at IS NULL), 0) AS persistentCount,
             COALESCE(SUM(CASE WHEN expires_at IS NULL THEN size END), 0) AS persistentBytes,
             COALESCE(SUM(expires_at > @now), 0) AS expirableCount,
             COALESCE(SUM(CASE WHEN expires_at > @now THEN size END), 0) AS expirableBytes,
             COALESCE(SUM(expires_at <= @now), 0) AS expiredCount,
             COALESCE(SUM(CASE WHEN expires_at <= @now THEN size END), 0) AS expiredBytes,
             MIN(CASE WHEN expires_at > @now THEN expires_at END) AS nextExpiryAt
           FROM attachments`,
        )
        .get({ now }) as Record<string, number | null>;
      const distinct = db
        .prepare<{ now: number }, { scopes: number }>(`SELECT COUNT(DISTINCT scope) AS scopes FROM attachments WHERE ${LIVE}`)
        .get({ now }) as { scopes: number };
      const distinctBytes = db
        .prepare<{ now: number }, { bytes: number | null }>(
          `SELECT SUM(size) AS bytes FROM (SELECT digest, MAX(size) AS size FROM attachments WHERE ${LIVE} GROUP BY digest)`,
        )
        .get({ now }) as { bytes: number | null };
      const blobs = db
        .prepare<[], { count: number; bytes: number | null }>("SELECT COUNT(*) AS count, SUM(size) AS bytes FROM blobs")
        .get() as { count: number; bytes: number | null };
      const leases = db
        .prepare<[number], { count: number }>("SELECT COUNT(*) AS count FROM leases WHERE expires_at > ?")
        .get(now) as { count: number };
      const n = (key: string): number => totals[key] ?? 0;
      return {
        attachments: n("persistentCount") + n("expirableCount"),
        scopes: distinct.scopes,
        logicalBytes: n("persistentBytes") + n("expirableBytes"),
        distinctLiveBytes: distinctBytes.bytes ?? 0,
        blobs: blobs.count,
        storedBytes: blobs.bytes ?? 0,
        persistent: { count: n("persistentCount"), bytes: n("persistentBytes") },
        expirable: { count: n("expirableCount"), bytes: n("expirableBytes") },
        expired: { count: n("expiredCount"), bytes: n("expiredBytes") },
        leases: leases.count,
        nextExpiryAt: totals.nextExpiryAt ?? null,
      };
    });
  }

  reset(): Promise<void> {
    return this.write("reset the manifest", () => {
      this.db.exec("DELETE FROM attachments; DELETE FROM blobs; DELETE FROM intents; DELETE FROM leases;");
    });
  }

  close(): Promise<void> {
    const connection = this.connection;
    if (connection === undefined) return Promise.resolve();
    this.connection = undefined;
    return connection.writes.run(() => {
      if (--connection.users > 0) return;
      connections.delete(path.resolve(this.options.file));
      if (connection.db.open) connection.db.close();
    });
  }
}
