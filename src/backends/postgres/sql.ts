/**
 * Every statement the PostgreSQL manifest's rooms run, in PostgreSQL's
 * dialect, by room (the schema, its migrations and triggers are in
 * schema.ts; the metrics queries in metrics.ts). Tables are qualified by the
 * manifest's schema, so the statements are built once per manifest. Columns
 * are selected under the names of the records they fill.
 */

/** A PostgreSQL identifier, quoted. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * An attachment row's columns, under the names of `AttachmentRecord`'s fields (metadata as JSON text), with
 * whether its blob's bytes are inline (a primary-key lookup in `blobs`; mapped by `toRecord`). Not `a.*`: the
 * locking reads take `FOR UPDATE` on the attachment only, never on the blob row the sub-select reads.
 */
function attachmentColumns(s: string): string {
  return `id, scope, digest, size, name, content_type AS "contentType", mode, reference_path AS "referencePath",
  persist, ttl_ms AS "ttlMs", created_at AS "createdAt", updated_at AS "updatedAt", expires_at AS "expiresAt", source, metadata,
  (SELECT b.inline FROM ${s}.blobs b WHERE b.digest = ${s}.attachments.digest) AS inline`;
}
/** A blob row's columns, under the names of `BlobRecord`'s fields (`inline` a boolean; mapped by `toBlob`). */
const BLOB_COLUMNS = `digest, size, refs, created_at AS "createdAt", condemned_by AS "condemnedBy", inline`;
const LEASE_COLUMNS = `id, attachment_id AS "attachmentId", digest, created_at AS "createdAt", expires_at AS "expiresAt"`;
const INTENT_COLUMNS = `id, digest, temp_name AS "tempName", linked_from AS "linkedFrom", writer_id AS writer, created_at AS "createdAt"`;
const UPLOAD_COLUMNS = `destination, digest, size, remote_id AS "remoteId", uri, uploaded_at AS "uploadedAt", expires_at AS "expiresAt",
  holder, heartbeat_at AS "heartbeatAt", resume`;
/** `expires_at` unset or in the future at `now`. */
const live = (now: string) => `(expires_at IS NULL OR expires_at > ${now})`;

/** The statements of one manifest, its tables in schema `s` (quoted). */
export function statements(s: string) {
  const ATTACHMENT_COLUMNS = attachmentColumns(s);
  const attachments = {
    byId: `SELECT ${ATTACHMENT_COLUMNS} FROM ${s}.attachments WHERE id = $1`,
    /** The row, locked against release, update and merge (FOR UPDATE) or only against them while it is read (FOR SHARE). */
    byIdLocked: (mode: "UPDATE" | "SHARE") => `SELECT ${ATTACHMENT_COLUMNS} FROM ${s}.attachments WHERE id = $1 FOR ${mode}`,
    byScopeDigestLocked: `SELECT ${ATTACHMENT_COLUMNS} FROM ${s}.attachments WHERE scope = $1 AND digest = $2 FOR UPDATE`,
    /** A new attachment, unless the scope holds these bytes already (committed, or in a transaction it waits for). */
    insert: `INSERT INTO ${s}.attachments (id, scope, digest, size, name, content_type, mode, reference_path, persist, ttl_ms,
        created_at, updated_at, expires_at, source, metadata)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (scope, digest) DO NOTHING`,
    /** A merge: what a second staging may change. */
    merge: `UPDATE ${s}.attachments SET mode = $2, reference_path = $3, persist = $4, ttl_ms = $5, updated_at = $6, expires_at = $7
      WHERE id = $1`,
    /** An explicit update: display fields and lifetime. */
    rewrite: `UPDATE ${s}.attachments SET name = $2, metadata = $3, persist = $4, ttl_ms = $5, updated_at = $6, expires_at = $7
      WHERE id = $1`,
    deleteMany: `DELETE FROM ${s}.attachments WHERE id = ANY($1::text[])`,
    liveOfScopeLocked: `SELECT ${ATTACHMENT_COLUMNS} FROM ${s}.attachments WHERE scope = $1 AND ${live("$2")} ORDER BY id FOR UPDATE`,
    /** Due attachments no other sweeper has in hand (SKIP LOCKED), earliest first. */
    dueLocked: `SELECT ${ATTACHMENT_COLUMNS} FROM ${s}.attachments WHERE expires_at IS NOT NULL AND expires_at <= $1
      ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
    referencesPage: `SELECT ${ATTACHMENT_COLUMNS} FROM ${s}.attachments WHERE reference_path IS NOT NULL AND id > $1 ORDER BY id LIMIT $2`,
    managedOfBlobLocked: `SELECT ${ATTACHMENT_COLUMNS} FROM ${s}.attachments WHERE digest = $1 AND reference_path IS NULL ORDER BY id FOR UPDATE`,
    /**
     * A page of `list()`: after the cursor `$1`, at most `$2` (null: no limit); live at `$3` unless it is null;
     * of scope `$4` unless it is null. Unnamed statements are planned with their parameters, so the null tests fold away.
     */
    page: `SELECT ${ATTACHMENT_COLUMNS} FROM ${s}.attachments
      WHERE id > $1 AND ($3::bigint IS NULL OR ${live("$3")}) AND ($4::text IS NULL OR scope = $4)
      ORDER BY id LIMIT $2`,
  };

  const blobs = {
    get: `SELECT ${BLOB_COLUMNS} FROM ${s}.blobs WHERE digest = $1`,
    /** FOR SHARE: the condemnation cannot change until this transaction ends (condemn, forget and spare wait). */
    getShared: `SELECT ${BLOB_COLUMNS} FROM ${s}.blobs WHERE digest = $1 FOR SHARE`,
    getLocked: `SELECT ${BLOB_COLUMNS} FROM ${s}.blobs WHERE digest = $1 FOR UPDATE`,
    /** A stage's blob row; an existing row (maybe condemned) stays as it is. */
    ensure: `INSERT INTO ${s}.blobs (digest, size, refs, created_at) VALUES ($1, $2, 0, $3) ON CONFLICT (digest) DO NOTHING`,
    /**
     * A fence row (a digest condemned while it had no row, size 0) that a
     * stage meets takes the stage's size: the stage writes the bytes again
     * (the running totals follow, by trigger).
     */
    sizeFence: `UPDATE ${s}.blobs SET size = $2 WHERE digest = $1 AND size = 0 AND refs = 0`,
    /**
     * A new inline blob: its row with `$4` references and its bytes `$5`, in
     * one statement — or nothing (no row changed) if the digest has a row,
     * committed or in a transaction this one then waits for.
     */
    insertInline: `WITH added AS (
        INSERT INTO ${s}.blobs (digest, size, refs, created_at, inline) VALUES ($1, $2, $4, $3, true)
        ON CONFLICT (digest) DO NOTHING RETURNING digest
      )
      INSERT INTO ${s}.blob_bytes (digest, bytes) SELECT digest, $5 FROM added`,
    bytes: `SELECT bytes FROM ${s}.blob_bytes WHERE digest = $1`,
    /** Where the row's bytes are. */
    placement: `SELECT inline, condemned_by AS "condemnedBy" FROM ${s}.blobs WHERE digest = $1`,
    /** Rows kept for a stage that writes their bytes again: those that were inline go to the blob store now (trigger: bytes dropped). */
    uninline: `UPDATE ${s}.blobs SET inline = false WHERE digest = ANY($1::text[]) AND inline`,
    insertCondemned: `INSERT INTO ${s}.blobs (digest, size, refs, created_at, condemned_by) VALUES ($1, $2, 0, $3, $4)
      ON CONFLICT (digest) DO NOTHING RETURNING ${BLOB_COLUMNS}`,
    /**
     * Rowless condemnations of `$1` (size 0), in one statement: its waits on
     * other transactions' inserts of the same digests all come before its
     * trigger takes a lock on the blob totals.
     */
    insertCondemnedMany: `INSERT INTO ${s}.blobs (digest, size, refs, created_at, condemned_by)
      SELECT d.digest, 0, 0, $2, $3 FROM unnest($1::text[]) AS d(digest) ORDER BY d.digest
      ON CONFLICT (digest) DO NOTHING RETURNING ${BLOB_COLUMNS}`,
    /** A new reference; returns where the bytes are and the condemnation, as committed when the row lock was taken. */
    addRef: `UPDATE ${s}.blobs SET refs = refs + 1 WHERE digest = $1 RETURNING inline, condemned_by AS "condemnedBy"`,
    /** Locks rows in digest order before an UPDATE touches several, so that two such transactions never deadlock. */
    lockForRefs: `SELECT digest FROM ${s}.blobs WHERE digest = ANY($1::text[]) ORDER BY digest FOR NO KEY UPDATE`,
    dropRefs: `UPDATE ${s}.blobs b SET refs = GREATEST(b.refs - d.n, 0)
      FROM unnest($1::text[], $2::bigint[]) AS d(digest, n) WHERE b.digest = d.digest`,
    ofSize: `SELECT EXISTS (SELECT 1 FROM ${s}.blobs WHERE size = $1) AS found`,
    page: `SELECT ${BLOB_COLUMNS} FROM ${s}.blobs WHERE digest > $1 ORDER BY digest LIMIT $2`,
    unreferenced: `SELECT ${BLOB_COLUMNS} FROM ${s}.blobs WHERE refs = 0 AND condemned_by IS NULL AND digest > $1
      ORDER BY digest LIMIT $2`,
    existing: `SELECT digest FROM ${s}.blobs WHERE digest = ANY($1::text[])`,
    /** Candidates for condemnation that no other transaction has in hand: a sweeper never waits for another. */
    lockCandidates: `SELECT ${BLOB_COLUMNS} FROM ${s}.blobs WHERE digest = ANY($1::text[]) ORDER BY digest FOR UPDATE SKIP LOCKED`,
    /** Which of `$1` an attachment, an intent or a lease unexpired at `$2` needs. */
    needed: `SELECT d.digest FROM unnest($1::text[]) AS d(digest)
      WHERE COALESCE((SELECT refs FROM ${s}.blobs b WHERE b.digest = d.digest), 0) > 0
        OR EXISTS (SELECT 1 FROM ${s}.intents i WHERE i.digest = d.digest)
        OR EXISTS (SELECT 1 FROM ${s}.leases l WHERE l.digest = d.digest AND l.expires_at > $2)`,
    intentOf: `SELECT EXISTS (SELECT 1 FROM ${s}.intents WHERE digest = $1) AS found`,
    condemnMany: `UPDATE ${s}.blobs SET condemned_by = $2 WHERE digest = ANY($1::text[])`,
    condemnedByLocked: `SELECT ${BLOB_COLUMNS} FROM ${s}.blobs WHERE digest = ANY($1::text[]) AND condemned_by = $2
      ORDER BY digest FOR UPDATE`,
    /** Ends condemnations, where `$2` holds them. */
    spare: `UPDATE ${s}.blobs SET condemned_by = NULL WHERE digest = ANY($1::text[]) AND condemned_by = $2`,
    lockCondemnedBy: `SELECT digest FROM ${s}.blobs WHERE digest = ANY($1::text[]) AND condemned_by = $2 ORDER BY digest FOR UPDATE`,
    deleteMany: `DELETE FROM ${s}.blobs WHERE digest = ANY($1::text[])`,
    /**
     * Takes over condemnations whose writer is gone (or is `$2` itself), in
     * digest order, skipping rows another sweeper has in hand: two sweepers
     * at once take disjoint sets.
     */
    claimAbandoned: `WITH taken AS (
        SELECT digest FROM ${s}.blobs b WHERE condemned_by IS NOT NULL
          AND (condemned_by = $2 OR NOT EXISTS (SELECT 1 FROM ${s}.writers w WHERE w.id = b.condemned_by AND w.heartbeat_at > $1))
        ORDER BY digest LIMIT $3 FOR UPDATE SKIP LOCKED
      )
      UPDATE ${s}.blobs b SET condemned_by = $2 FROM taken WHERE b.digest = taken.digest
      RETURNING b.digest, b.size, b.refs, b.created_at AS "createdAt", b.condemned_by AS "condemnedBy", b.inline`,
    writerIsLive: `SELECT EXISTS (SELECT 1 FROM ${s}.writers WHERE id = $1 AND heartbeat_at > $2) AS live`,
  };

  const pins = {
    insertIntent: `INSERT INTO ${s}.intents (id, digest, temp_name, linked_from, writer_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
    deleteIntent: `DELETE FROM ${s}.intents WHERE id = $1`,
    /** Intents old enough whose writer is gone, has none, or is `$2` itself. */
    staleIntents: `SELECT ${INTENT_COLUMNS} FROM ${s}.intents i WHERE created_at <= $1
        AND (writer_id IS NULL OR writer_id = $2
          OR NOT EXISTS (SELECT 1 FROM ${s}.writers w WHERE w.id = i.writer_id AND w.heartbeat_at > $1))
      ORDER BY created_at, id LIMIT $3`,
    intentTemps: `SELECT temp_name AS "tempName" FROM ${s}.intents WHERE temp_name IS NOT NULL`,
    insertLease: `INSERT INTO ${s}.leases (id, attachment_id, digest, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
    leaseById: `SELECT ${LEASE_COLUMNS} FROM ${s}.leases WHERE id = $1`,
    deleteLease: `DELETE FROM ${s}.leases WHERE id = $1 RETURNING ${LEASE_COLUMNS}`,
    /** Leases expired at `$1`, earliest first, that no other sweeper has in hand. */
    reclaimLeases: `WITH stale AS (
        SELECT id FROM ${s}.leases WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
      )
      DELETE FROM ${s}.leases l USING stale WHERE l.id = stale.id
      RETURNING l.id, l.attachment_id AS "attachmentId", l.digest, l.created_at AS "createdAt", l.expires_at AS "expiresAt"`,
    leased: `SELECT DISTINCT digest FROM ${s}.leases WHERE digest = ANY($1::text[]) AND expires_at > $2`,
    registerWriter: `INSERT INTO ${s}.writers (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
    heartbeat: `UPDATE ${s}.writers SET heartbeat_at = $2 WHERE id = $1`,
    deleteWriter: `DELETE FROM ${s}.writers WHERE id = $1`,
    liveWriters: `SELECT id FROM ${s}.writers WHERE heartbeat_at > $1`,
    forgetStaleWriters: `DELETE FROM ${s}.writers w WHERE heartbeat_at <= $1
      AND NOT EXISTS (SELECT 1 FROM ${s}.intents i WHERE i.writer_id = w.id)
      AND NOT EXISTS (SELECT 1 FROM ${s}.blobs b WHERE b.condemned_by = w.id)`,
  };

  const uploads = {
    get: `SELECT ${UPLOAD_COLUMNS} FROM ${s}.uploads WHERE destination = $1 AND digest = $2`,
    getLocked: `SELECT ${UPLOAD_COLUMNS} FROM ${s}.uploads WHERE destination = $1 AND digest = $2 FOR UPDATE`,
    insertClaim: `INSERT INTO ${s}.uploads (destination, digest, size, holder, heartbeat_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (destination, digest) DO NOTHING`,
    /** Takes a row over for `$3`: its resume state stays, a finished result being replaced goes. */
    takeOver: `UPDATE ${s}.uploads SET holder = $3, heartbeat_at = $5, size = $4, remote_id = NULL, uri = NULL,
      uploaded_at = NULL, expires_at = NULL WHERE destination = $1 AND digest = $2`,
    touch: `UPDATE ${s}.uploads SET heartbeat_at = $4 WHERE destination = $1 AND digest = $2 AND holder = $3`,
    checkpoint: `UPDATE ${s}.uploads SET resume = $4 WHERE destination = $1 AND digest = $2 AND holder = $3`,
    complete: `UPDATE ${s}.uploads SET remote_id = $4, uri = $5, uploaded_at = $6, expires_at = $7, holder = NULL,
      heartbeat_at = NULL, resume = NULL WHERE destination = $1 AND digest = $2 AND holder = $3 RETURNING ${UPLOAD_COLUMNS}`,
    release: `UPDATE ${s}.uploads SET holder = NULL, heartbeat_at = NULL WHERE destination = $1 AND digest = $2 AND holder = $3`,
    /** An unfinished row nobody holds and nothing can resume is just gone. */
    dropIdle: `DELETE FROM ${s}.uploads WHERE destination = $1 AND digest = $2 AND remote_id IS NULL AND holder IS NULL
      AND resume IS NULL`,
    drop: `DELETE FROM ${s}.uploads WHERE destination = $1 AND digest = $2`,
    dropNamed: `DELETE FROM ${s}.uploads WHERE destination = $1 AND digest = $2 AND remote_id = $3`,
    unused: `SELECT ${UPLOAD_COLUMNS} FROM ${s}.uploads u WHERE destination = $1 AND remote_id IS NOT NULL AND digest > $3
        AND NOT EXISTS (SELECT 1 FROM ${s}.attachments a WHERE a.digest = u.digest AND (a.expires_at IS NULL OR a.expires_at > $2))
      ORDER BY digest LIMIT $4`,
    list: `SELECT ${UPLOAD_COLUMNS} FROM ${s}.uploads WHERE remote_id IS NOT NULL AND (destination, digest) > ($1, $2)
      ORDER BY destination, digest LIMIT $3`,
    /** Finished entries whose remote file expired at `$1` (the provider deleted it). */
    dropExpired: `DELETE FROM ${s}.uploads WHERE remote_id IS NOT NULL AND expires_at IS NOT NULL AND expires_at <= $1`,
    totals: `SELECT destination, COUNT(*) AS files, SUM(size) AS bytes FROM ${s}.uploads WHERE remote_id IS NOT NULL
      GROUP BY destination ORDER BY destination`,
  };

  /**
   * Drops every attachment, intent and lease, in one transaction. TRUNCATE
   * skips the per-statement triggers, so the running totals of attachments
   * are cleared with them (those of blobs stay: the rows do).
   */
  const reset = [
    `TRUNCATE ${s}.attachments, ${s}.intents, ${s}.leases`,
    `DELETE FROM ${s}.scope_totals`,
    `DELETE FROM ${s}.digest_totals`,
    `DELETE FROM ${s}.totals WHERE name <> 'blobs'`,
    `UPDATE ${s}.blobs SET refs = 0 WHERE refs <> 0`,
  ];

  return { attachments, blobs, pins, uploads, reset };
}

/** One manifest's statements, by room. */
export type Statements = ReturnType<typeof statements>;
