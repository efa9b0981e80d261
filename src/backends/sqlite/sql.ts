/**
 * Every SQL statement the SQLite manifest runs, in SQLite's dialect, by the
 * room that runs it (the schema and its migrations are in schema.ts). A
 * PostgreSQL manifest keeps its own dialect in its own file.
 */

/** `expires_at` unset or in the future at `@now`. */
const LIVE = "(expires_at IS NULL OR expires_at > @now)";
/** Writers whose heartbeat is later than `@staleBefore`: they are still at work. */
const LIVE_WRITERS = "SELECT id FROM writers WHERE heartbeat_at > @staleBefore";

export const BLOB_COLUMNS = "digest, size, refs, created_at AS createdAt, condemned_by AS condemnedBy, inline";
/** An attachment row, with whether its blob's bytes are inline (mapped by `toRecord`). */
const ATTACHMENT_COLUMNS = "attachments.*, (SELECT inline FROM blobs WHERE blobs.digest = attachments.digest) AS inline";
const LEASE_COLUMNS = "id, attachment_id AS attachmentId, digest, created_at AS createdAt, expires_at AS expiresAt";
const INTENT_COLUMNS = "id, digest, temp_name AS tempName, linked_from AS linkedFrom, writer_id AS writer, created_at AS createdAt";

export const ATTACHMENT_SQL = {
  byId: `SELECT ${ATTACHMENT_COLUMNS} FROM attachments WHERE id = ?`,
  byScopeDigest: `SELECT ${ATTACHMENT_COLUMNS} FROM attachments WHERE scope = ? AND digest = ?`,
  insert: `INSERT INTO attachments (id, scope, digest, size, name, content_type, mode, reference_path, persist, ttl_ms,
      created_at, updated_at, expires_at, source, metadata)
    VALUES (@id, @scope, @digest, @size, @name, @content_type, @mode, @reference_path, @persist, @ttl_ms,
      @created_at, @updated_at, @expires_at, @source, @metadata)`,
  /** A merge: what a second staging may change. */
  merge: `UPDATE attachments SET mode = @mode, reference_path = @reference_path, persist = @persist, ttl_ms = @ttl_ms,
      updated_at = @updated_at, expires_at = @expires_at WHERE id = @id`,
  /** An explicit update: display fields and lifetime. */
  rewrite: `UPDATE attachments SET name = @name, metadata = @metadata, persist = @persist, ttl_ms = @ttl_ms,
      updated_at = @updated_at, expires_at = @expires_at WHERE id = @id`,
  delete: "DELETE FROM attachments WHERE id = ?",
  liveOfScope: `SELECT ${ATTACHMENT_COLUMNS} FROM attachments WHERE scope = @scope AND ${LIVE}`,
  due: `SELECT ${ATTACHMENT_COLUMNS} FROM attachments WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?`,
  referencesPage: `SELECT ${ATTACHMENT_COLUMNS} FROM attachments WHERE reference_path IS NOT NULL AND id > ? ORDER BY id LIMIT ?`,
  managedOfBlob: `SELECT ${ATTACHMENT_COLUMNS} FROM attachments WHERE digest = ? AND reference_path IS NULL`,
  /** A page of `list()`; the filters are fixed by the query, so at most four texts are ever prepared. */
  page(scoped: boolean, includeExpired: boolean): string {
    const where = ["id > @after"];
    if (scoped) where.push("scope = @scope");
    if (!includeExpired) where.push(LIVE);
    return `SELECT ${ATTACHMENT_COLUMNS} FROM attachments WHERE ${where.join(" AND ")} ORDER BY id LIMIT @limit`;
  },
} as const;

export const BLOB_SQL = {
  get: `SELECT ${BLOB_COLUMNS} FROM blobs WHERE digest = ?`,
  /** A stage's blob row; an existing row (maybe condemned) stays as it is. */
  insert: "INSERT INTO blobs (digest, size, refs, created_at) VALUES (?, ?, 0, ?) ON CONFLICT (digest) DO NOTHING",
  /** A new inline blob: its row and its bytes. */
  insertInline: "INSERT INTO blobs (digest, size, refs, created_at, inline) VALUES (?, ?, 0, ?, 1)",
  insertBytes: "INSERT INTO blob_bytes (digest, bytes) VALUES (?, ?)",
  bytes: "SELECT bytes FROM blob_bytes WHERE digest = ?",
  /** An inline row kept for a stage that writes its bytes again: they go to the blob store now. */
  uninline: "UPDATE blobs SET inline = 0 WHERE digest = ? AND inline = 1",
  /**
   * A fence row (a digest condemned while it had no row, size 0) that a
   * stage meets takes the stage's size: the stage writes the bytes again.
   */
  sizeFence: "UPDATE blobs SET size = ? WHERE digest = ? AND size = 0 AND refs = 0",
  insertCondemned: "INSERT INTO blobs (digest, size, refs, created_at, condemned_by) VALUES (?, ?, 0, ?, ?)",
  addRef: "UPDATE blobs SET refs = refs + 1 WHERE digest = ?",
  dropRef: "UPDATE blobs SET refs = refs - 1 WHERE digest = ? AND refs > 0",
  ofSize: "SELECT 1 AS found FROM blobs WHERE size = ? LIMIT 1",
  page: `SELECT ${BLOB_COLUMNS} FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?`,
  unreferenced: `SELECT ${BLOB_COLUMNS} FROM blobs WHERE refs = 0 AND condemned_by IS NULL AND digest > ? ORDER BY digest LIMIT ?`,
  /** Whether an attachment, an intent or a lease unexpired at `@now` needs the blob. */
  needed: `SELECT COALESCE((SELECT refs FROM blobs WHERE digest = @digest), 0) > 0
      OR EXISTS (SELECT 1 FROM intents WHERE digest = @digest)
      OR EXISTS (SELECT 1 FROM leases WHERE digest = @digest AND expires_at > @now) AS needed`,
  intentOf: "SELECT 1 AS found FROM intents WHERE digest = ? LIMIT 1",
  condemn: "UPDATE blobs SET condemned_by = ? WHERE digest = ? AND condemned_by IS NULL",
  /** Ends a condemnation, if `writer` holds it. */
  spare: "UPDATE blobs SET condemned_by = NULL WHERE digest = ? AND condemned_by = ?",
  delete: "DELETE FROM blobs WHERE digest = ?",
  /**
   * Condemnations whose writer is gone, or is `@writer` itself. By the index of condemned rows (few): left to
   * itself the planner walks every blob in digest order to skip the sort.
   */
  abandoned: `SELECT ${BLOB_COLUMNS} FROM blobs INDEXED BY blobs_condemned WHERE condemned_by IS NOT NULL
      AND (condemned_by = @writer OR condemned_by NOT IN (${LIVE_WRITERS})) ORDER BY digest LIMIT @limit`,
  reassign: "UPDATE blobs SET condemned_by = ? WHERE digest = ?",
  writerIsLive: `SELECT 1 AS found FROM writers WHERE id = ? AND heartbeat_at > ?`,
} as const;

export const PIN_SQL = {
  insertIntent: `INSERT INTO intents (id, digest, temp_name, linked_from, writer_id, created_at)
    VALUES (@id, @digest, @tempName, @linkedFrom, @writer, @createdAt)`,
  deleteIntent: "DELETE FROM intents WHERE id = ?",
  /** Intents old enough whose writer is gone, has none, or is `@writer` itself. */
  staleIntents: `SELECT ${INTENT_COLUMNS} FROM intents WHERE created_at <= @staleBefore
      AND (writer_id IS NULL OR writer_id = @writer OR writer_id NOT IN (${LIVE_WRITERS}))
    ORDER BY created_at LIMIT @limit`,
  intentTemps: "SELECT temp_name AS tempName FROM intents WHERE temp_name IS NOT NULL",
  insertLease:
    "INSERT INTO leases (id, attachment_id, digest, created_at, expires_at) VALUES (@id, @attachmentId, @digest, @createdAt, @expiresAt)",
  leaseById: `SELECT ${LEASE_COLUMNS} FROM leases WHERE id = ?`,
  deleteLease: "DELETE FROM leases WHERE id = ?",
  staleLeases: `SELECT ${LEASE_COLUMNS} FROM leases WHERE expires_at <= ? ORDER BY expires_at LIMIT ?`,
  leased: "SELECT 1 AS found FROM leases WHERE digest = ? AND expires_at > ? LIMIT 1",
  registerWriter: `INSERT INTO writers (id, host, pid, started_at, heartbeat_at) VALUES (@id, @host, @pid, @startedAt, @heartbeatAt)
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
  heartbeat: "UPDATE writers SET heartbeat_at = ? WHERE id = ?",
  deleteWriter: "DELETE FROM writers WHERE id = ?",
  liveWriters: LIVE_WRITERS,
  forgetStaleWriters: `DELETE FROM writers WHERE heartbeat_at <= ?
      AND NOT EXISTS (SELECT 1 FROM intents WHERE writer_id = writers.id)
      AND NOT EXISTS (SELECT 1 FROM blobs WHERE condemned_by = writers.id)`,
} as const;

const UPLOAD_COLUMNS = `destination, digest, size, remote_id AS remoteId, uri, uploaded_at AS uploadedAt, expires_at AS expiresAt,
  holder, heartbeat_at AS heartbeatAt, resume`;

export const UPLOAD_SQL = {
  get: `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE destination = ? AND digest = ?`,
  insertClaim: `INSERT INTO uploads (destination, digest, size, holder, heartbeat_at) VALUES (@destination, @digest, @size, @holder, @now)`,
  /** Takes a row over for `@holder`: its resume state stays, a finished result being replaced goes. */
  takeOver: `UPDATE uploads SET holder = @holder, heartbeat_at = @now, size = @size, remote_id = NULL, uri = NULL,
      uploaded_at = NULL, expires_at = NULL WHERE destination = @destination AND digest = @digest`,
  touch: "UPDATE uploads SET heartbeat_at = @now WHERE destination = @destination AND digest = @digest AND holder = @holder",
  checkpoint: "UPDATE uploads SET resume = @resume WHERE destination = @destination AND digest = @digest AND holder = @holder",
  complete: `UPDATE uploads SET remote_id = @remoteId, uri = @uri, uploaded_at = @now, expires_at = @expiresAt, holder = NULL,
      heartbeat_at = NULL, resume = NULL WHERE destination = @destination AND digest = @digest AND holder = @holder`,
  release: "UPDATE uploads SET holder = NULL, heartbeat_at = NULL WHERE destination = @destination AND digest = @digest AND holder = @holder",
  /** An unfinished row nobody holds and nothing can resume is just gone. */
  dropIdle: "DELETE FROM uploads WHERE destination = ? AND digest = ? AND remote_id IS NULL AND holder IS NULL AND resume IS NULL",
  drop: "DELETE FROM uploads WHERE destination = ? AND digest = ?",
  dropNamed: "DELETE FROM uploads WHERE destination = ? AND digest = ? AND remote_id = ?",
  unused: `SELECT ${UPLOAD_COLUMNS} FROM uploads u WHERE destination = @destination AND remote_id IS NOT NULL AND digest > @after
      AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.digest = u.digest AND (a.expires_at IS NULL OR a.expires_at > @now))
    ORDER BY digest LIMIT @limit`,
  list: `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE remote_id IS NOT NULL AND (destination, digest) > (@destination, @digest)
    ORDER BY destination, digest LIMIT @limit`,
  dropExpired: "DELETE FROM uploads WHERE remote_id IS NOT NULL AND expires_at IS NOT NULL AND expires_at <= ?",
  totals: "SELECT destination, COUNT(*) AS files, SUM(size) AS bytes FROM uploads WHERE remote_id IS NOT NULL GROUP BY destination ORDER BY destination",
} as const;

export const RESET_SQL = "DELETE FROM attachments; DELETE FROM intents; DELETE FROM leases; UPDATE blobs SET refs = 0;";
