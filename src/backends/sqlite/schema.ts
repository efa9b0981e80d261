/**
 * The SQLite manifest's schema, its migrations, and the metrics read from it.
 *
 * Besides the five tables the manifest works with, triggers keep running
 * totals (`totals`, `scope_totals`, `digest_totals`) so that `metrics()`
 * costs a few indexed lookups plus work proportional to the expired
 * attachments awaiting the sweep, never a scan of the store.
 */
import type { SharedConnection } from "./connection.js";
import type { ManifestMetrics, ManifestScopeMetrics } from "../manifest.js";
import { scopeMetricsOf, type ScopeTotals } from "../scope-totals.js";

/** Bumped for every change below; each step migrates from the previous version. */
export const SCHEMA_VERSION = 9;

const TABLES = `
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

/**
 * Version 2: running totals. `totals` rows: "persistent" and "expiring"
 * (attachments by whether they have an expiry), "blobs" (managed blobs),
 * "digests" (distinct digests any attachment uses, with their sizes) and
 * "scopes" (scopes with any attachment).
 */
const TOTALS = `
CREATE TABLE IF NOT EXISTS totals (
  name TEXT PRIMARY KEY,
  count INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS scope_totals (scope TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS digest_totals (digest TEXT PRIMARY KEY, count INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS attachments_counted_in AFTER INSERT ON attachments BEGIN
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size
    WHERE name = CASE WHEN NEW.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE totals SET count = count + 1 WHERE name = 'scopes'
    AND NOT EXISTS (SELECT 1 FROM scope_totals WHERE scope = NEW.scope);
  INSERT INTO scope_totals (scope, count) VALUES (NEW.scope, 1)
    ON CONFLICT (scope) DO UPDATE SET count = count + 1;
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size WHERE name = 'digests'
    AND NOT EXISTS (SELECT 1 FROM digest_totals WHERE digest = NEW.digest);
  INSERT INTO digest_totals (digest, count, size) VALUES (NEW.digest, 1, NEW.size)
    ON CONFLICT (digest) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER IF NOT EXISTS attachments_counted_out AFTER DELETE ON attachments BEGIN
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size
    WHERE name = CASE WHEN OLD.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE scope_totals SET count = count - 1 WHERE scope = OLD.scope;
  UPDATE totals SET count = count - 1 WHERE name = 'scopes'
    AND EXISTS (SELECT 1 FROM scope_totals WHERE scope = OLD.scope AND count <= 0);
  DELETE FROM scope_totals WHERE scope = OLD.scope AND count <= 0;
  UPDATE digest_totals SET count = count - 1 WHERE digest = OLD.digest;
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size WHERE name = 'digests'
    AND EXISTS (SELECT 1 FROM digest_totals WHERE digest = OLD.digest AND count <= 0);
  DELETE FROM digest_totals WHERE digest = OLD.digest AND count <= 0;
END;

CREATE TRIGGER IF NOT EXISTS attachments_recounted AFTER UPDATE OF expires_at ON attachments
  WHEN (OLD.expires_at IS NULL) <> (NEW.expires_at IS NULL) BEGIN
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size
    WHERE name = CASE WHEN OLD.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size
    WHERE name = CASE WHEN NEW.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
END;

CREATE TRIGGER IF NOT EXISTS blobs_counted_in AFTER INSERT ON blobs BEGIN
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size WHERE name = 'blobs';
END;
CREATE TRIGGER IF NOT EXISTS blobs_counted_out AFTER DELETE ON blobs BEGIN
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size WHERE name = 'blobs';
END;
`;

/** Version 3: blobs by size, so a stage can tell cheaply whether its bytes may be stored already. */
const BLOB_SIZES = `CREATE INDEX IF NOT EXISTS blobs_size ON blobs (size);`;

/** Fills the totals from the rows already there (a store created before version 2). */
const BACKFILL_TOTALS = `
DELETE FROM totals; DELETE FROM scope_totals; DELETE FROM digest_totals;
INSERT INTO totals (name, count, bytes)
  SELECT 'persistent', COUNT(*), COALESCE(SUM(size), 0) FROM attachments WHERE expires_at IS NULL;
INSERT INTO totals (name, count, bytes)
  SELECT 'expiring', COUNT(*), COALESCE(SUM(size), 0) FROM attachments WHERE expires_at IS NOT NULL;
INSERT INTO totals (name, count, bytes) SELECT 'blobs', COUNT(*), COALESCE(SUM(size), 0) FROM blobs;
INSERT INTO scope_totals (scope, count) SELECT scope, COUNT(*) FROM attachments GROUP BY scope;
INSERT INTO totals (name, count, bytes) SELECT 'scopes', COUNT(*), 0 FROM scope_totals;
INSERT INTO digest_totals (digest, count, size) SELECT digest, COUNT(*), MAX(size) FROM attachments GROUP BY digest;
INSERT INTO totals (name, count, bytes) SELECT 'digests', COUNT(*), COALESCE(SUM(size), 0) FROM digest_totals;
`;

/**
 * Version 4: a `move` marks the outside file its blob shares an inode with
 * until the stage has unlinked it, so that after a crash the sweep gives the
 * blob an inode of its own (see stage.ts).
 */
const INTENT_LINKED_FROM = "ALTER TABLE intents ADD COLUMN linked_from TEXT;";

/**
 * Version 5: bytes per scope, split like `totals` into all and persistent
 * (no expiry), so that `metrics({ scope })` and `attache du` read them from
 * `scope_totals` instead of summing a scope's rows. The attachment triggers
 * are replaced by ones that also keep these columns (an attachment's scope
 * and size never change, so only inserts, deletes and a change of expiry
 * touch them); `scope_totals_bytes` orders scopes by size, and
 * `attachments_scope_expiry` finds one scope's expired rows and next expiry.
 */
const SCOPE_BYTES_COLUMNS = ["bytes", "persistent_count", "persistent_bytes"];
const SCOPE_BYTES = `
DROP TRIGGER IF EXISTS attachments_counted_in;
DROP TRIGGER IF EXISTS attachments_counted_out;
DROP TRIGGER IF EXISTS attachments_recounted;

CREATE TRIGGER attachments_counted_in AFTER INSERT ON attachments BEGIN
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size
    WHERE name = CASE WHEN NEW.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE totals SET count = count + 1 WHERE name = 'scopes'
    AND NOT EXISTS (SELECT 1 FROM scope_totals WHERE scope = NEW.scope);
  INSERT INTO scope_totals (scope, count, bytes, persistent_count, persistent_bytes)
    VALUES (NEW.scope, 1, NEW.size, NEW.expires_at IS NULL, CASE WHEN NEW.expires_at IS NULL THEN NEW.size ELSE 0 END)
    ON CONFLICT (scope) DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes,
      persistent_count = persistent_count + excluded.persistent_count,
      persistent_bytes = persistent_bytes + excluded.persistent_bytes;
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size WHERE name = 'digests'
    AND NOT EXISTS (SELECT 1 FROM digest_totals WHERE digest = NEW.digest);
  INSERT INTO digest_totals (digest, count, size) VALUES (NEW.digest, 1, NEW.size)
    ON CONFLICT (digest) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER attachments_counted_out AFTER DELETE ON attachments BEGIN
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size
    WHERE name = CASE WHEN OLD.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE scope_totals SET count = count - 1, bytes = bytes - OLD.size,
      persistent_count = persistent_count - (OLD.expires_at IS NULL),
      persistent_bytes = persistent_bytes - CASE WHEN OLD.expires_at IS NULL THEN OLD.size ELSE 0 END
    WHERE scope = OLD.scope;
  UPDATE totals SET count = count - 1 WHERE name = 'scopes'
    AND EXISTS (SELECT 1 FROM scope_totals WHERE scope = OLD.scope AND count <= 0);
  DELETE FROM scope_totals WHERE scope = OLD.scope AND count <= 0;
  UPDATE digest_totals SET count = count - 1 WHERE digest = OLD.digest;
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size WHERE name = 'digests'
    AND EXISTS (SELECT 1 FROM digest_totals WHERE digest = OLD.digest AND count <= 0);
  DELETE FROM digest_totals WHERE digest = OLD.digest AND count <= 0;
END;

CREATE TRIGGER attachments_recounted AFTER UPDATE OF expires_at ON attachments
  WHEN (OLD.expires_at IS NULL) <> (NEW.expires_at IS NULL) BEGIN
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size
    WHERE name = CASE WHEN OLD.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size
    WHERE name = CASE WHEN NEW.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE scope_totals SET
      persistent_count = persistent_count + CASE WHEN NEW.expires_at IS NULL THEN 1 ELSE -1 END,
      persistent_bytes = persistent_bytes + CASE WHEN NEW.expires_at IS NULL THEN NEW.size ELSE -NEW.size END
    WHERE scope = NEW.scope;
END;

CREATE INDEX IF NOT EXISTS scope_totals_bytes ON scope_totals (bytes DESC, scope);
CREATE INDEX IF NOT EXISTS attachments_scope_expiry ON attachments (scope, expires_at) WHERE expires_at IS NOT NULL;
`;

/** Fills `scope_totals` (and the scope count) from the rows already there; safe to run again. */
const BACKFILL_SCOPE_TOTALS = `
DELETE FROM scope_totals;
INSERT INTO scope_totals (scope, count, bytes, persistent_count, persistent_bytes)
  SELECT scope, COUNT(*), SUM(size), SUM(expires_at IS NULL), SUM(CASE WHEN expires_at IS NULL THEN size ELSE 0 END)
    FROM attachments GROUP BY scope;
UPDATE totals SET count = (SELECT COUNT(*) FROM scope_totals) WHERE name = 'scopes';
`;

/**
 * Version 6: the fence and the orphan rules no longer assume one machine.
 * A blob being deleted is condemned by a writer (`blobs.condemned_by`)
 * instead of being deleted inside a transaction; every open store handle is
 * a writer with a heartbeat (`writers`), and an intent names its writer, so
 * the sweep reclaims intents and temp objects only of writers that are gone.
 */
const WRITERS_COLUMNS: [table: string, column: string][] = [
  ["blobs", "condemned_by"],
  ["intents", "writer_id"],
];
const WRITERS = `
CREATE TABLE IF NOT EXISTS writers (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blobs_condemned ON blobs (condemned_by) WHERE condemned_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS intents_writer ON intents (writer_id);
`;

/**
 * Version 7: the upload ledger. One row per (destination, digest): a
 * finished upload (`remote_id`) or one in progress (`holder`, kept fresh by
 * `heartbeat_at`, with the destination's `resume` state as JSON).
 */
const UPLOADS = `
CREATE TABLE IF NOT EXISTS uploads (
  destination TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  remote_id TEXT,
  uri TEXT,
  uploaded_at INTEGER,
  expires_at INTEGER,
  holder TEXT,
  heartbeat_at INTEGER,
  resume TEXT,
  PRIMARY KEY (destination, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_digest ON uploads (digest);
`;

/**
 * Version 8: small blobs kept inside the manifest (`inlineMaxSize`). A blob
 * row says whether its bytes are inline; the bytes live in their own table
 * (a rowid table: rows of kilobytes do not belong in the WITHOUT ROWID
 * blobs table, whose pages every fence and sweep query walks), and go with
 * their row.
 */
const INLINE_BLOBS = `
CREATE TABLE IF NOT EXISTS blob_bytes (
  digest TEXT PRIMARY KEY,
  bytes BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS blob_bytes_dropped AFTER DELETE ON blobs WHEN OLD.inline = 1 BEGIN
  DELETE FROM blob_bytes WHERE digest = OLD.digest;
END;
CREATE TRIGGER IF NOT EXISTS blobs_resized AFTER UPDATE OF size ON blobs BEGIN
  UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE name = 'blobs';
END;
CREATE TRIGGER IF NOT EXISTS blob_bytes_uninlined AFTER UPDATE OF inline ON blobs WHEN OLD.inline = 1 AND NEW.inline = 0 BEGIN
  DELETE FROM blob_bytes WHERE digest = OLD.digest;
END;
`;

/**
 * Version 9: an index for the sweep's "ledger entries whose remote file
 * expired" (without it each sweep read the whole uploads table).
 */
const UPLOAD_EXPIRY = `CREATE INDEX IF NOT EXISTS uploads_expiry ON uploads (expires_at) WHERE remote_id IS NOT NULL AND expires_at IS NOT NULL;`;

function hasColumn(connection: SharedConnection, table: string, column: string): boolean {
  const columns = connection.prepare<[], { name: string }>(`PRAGMA table_info(${table})`).all();
  return columns.some((c) => c.name === column);
}

/** Brings the database to {@link SCHEMA_VERSION}, in one write transaction. */
export function migrate(connection: SharedConnection): void {
  const { db } = connection;
  const userVersion = connection.prepare<[], { user_version: number }>("PRAGMA user_version");
  const version = () => (userVersion.get() as { user_version: number }).user_version;
  if (version() >= SCHEMA_VERSION) return;
  db.transaction(() => {
    // Another process may have migrated while this one waited for the lock.
    const current = version();
    if (current < 1) db.exec(TABLES);
    if (current < 2) {
      db.exec(TOTALS);
      db.exec(BACKFILL_TOTALS);
    }
    if (current < 3) db.exec(BLOB_SIZES);
    if (current < 4 && !hasColumn(connection, "intents", "linked_from")) db.exec(INTENT_LINKED_FROM);
    if (current < 5) {
      for (const column of SCOPE_BYTES_COLUMNS) {
        if (!hasColumn(connection, "scope_totals", column)) {
          db.exec(`ALTER TABLE scope_totals ADD COLUMN ${column} INTEGER NOT NULL DEFAULT 0`);
        }
      }
      db.exec(SCOPE_BYTES);
      db.exec(BACKFILL_SCOPE_TOTALS);
    }
    if (current < 6) {
      for (const [table, column] of WRITERS_COLUMNS) {
        if (!hasColumn(connection, table, column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} TEXT`);
      }
      db.exec(WRITERS);
    }
    if (current < 7) db.exec(UPLOADS);
    if (current < 8) {
      if (!hasColumn(connection, "blobs", "inline")) db.exec("ALTER TABLE blobs ADD COLUMN inline INTEGER NOT NULL DEFAULT 0");
      db.exec(INLINE_BLOBS);
    }
    if (current < 9) db.exec(UPLOAD_EXPIRY);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

const EXPIRED = "expires_at IS NOT NULL AND expires_at <= @now";

/**
 * Metrics from the running totals, corrected by the expired attachments
 * still awaiting the sweep (the only part that depends on `now`).
 */
export function readMetrics(db: Pick<SharedConnection, "prepare">, now: number): ManifestMetrics {
  const totals = new Map(
    db.prepare<[], { name: string; count: number; bytes: number }>("SELECT name, count, bytes FROM totals").all().map((row) => [row.name, row]),
  );
  const total = (name: string) => totals.get(name) ?? { count: 0, bytes: 0 };
  const expired = db
    .prepare<{ now: number }, { count: number; bytes: number | null }>(`SELECT COUNT(*) AS count, SUM(size) AS bytes FROM attachments WHERE ${EXPIRED}`)
    .get({ now }) as { count: number; bytes: number | null };
  // Scopes and digests whose every attachment has expired are no longer live.
  const deadScopes = db
    .prepare<{ now: number }, { count: number }>(
      `SELECT COUNT(*) AS count FROM (SELECT scope, COUNT(*) AS n FROM attachments WHERE ${EXPIRED} GROUP BY scope) e
         JOIN scope_totals s ON s.scope = e.scope WHERE s.count = e.n`,
    )
    .get({ now }) as { count: number };
  const deadDigestBytes = db
    .prepare<{ now: number }, { bytes: number | null }>(
      `SELECT SUM(d.size) AS bytes FROM (SELECT digest, COUNT(*) AS n FROM attachments WHERE ${EXPIRED} GROUP BY digest) e
         JOIN digest_totals d ON d.digest = e.digest WHERE d.count = e.n`,
    )
    .get({ now }) as { bytes: number | null };
  const leases = db.prepare<[number], { count: number }>("SELECT COUNT(*) AS count FROM leases WHERE expires_at > ?").get(now) as {
    count: number;
  };
  const next = db
    .prepare<[number], { at: number | null }>("SELECT MIN(expires_at) AS at FROM attachments WHERE expires_at > ?")
    .get(now) as { at: number | null };

  const persistent = total("persistent");
  const expiring = total("expiring");
  const expiredCount = expired.count;
  const expiredBytes = expired.bytes ?? 0;
  const expirable = { count: expiring.count - expiredCount, bytes: expiring.bytes - expiredBytes };
  return {
    attachments: persistent.count + expirable.count,
    scopes: total("scopes").count - deadScopes.count,
    logicalBytes: persistent.bytes + expirable.bytes,
    distinctLiveBytes: total("digests").bytes - (deadDigestBytes.bytes ?? 0),
    blobs: total("blobs").count,
    storedBytes: total("blobs").bytes,
    persistent: { count: persistent.count, bytes: persistent.bytes },
    expirable,
    expired: { count: expiredCount, bytes: expiredBytes },
    leases: leases.count,
    nextExpiryAt: next.at,
  };
}

type Reader = Pick<SharedConnection, "prepare">;

type ScopeTotalsRow = ScopeTotals;

/** A row of `scope_totals`; with the expired part, from {@link EXPIRED_OF_SCOPE} or its grouped form, it is a {@link ScopeTotalsRow}. */
const SCOPE_TOTALS_COLUMNS =
  "scope, count, bytes, persistent_count AS persistentCount, persistent_bytes AS persistentBytes";
const EXPIRED_OF_SCOPE = `SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM attachments
  WHERE scope = @scope AND expires_at IS NOT NULL AND expires_at <= @now`;

/**
 * The rest of one scope's metrics: its next expiry (from
 * `attachments_scope_expiry`) and its leases. Leases are counted through the
 * leases unexpired at `now` (`leases_expiry`), joined to their attachments:
 * work proportional to the open leases, which are short-lived, not to the store.
 */
function completeScope(db: Reader, row: ScopeTotalsRow, now: number): ManifestScopeMetrics {
  const next = db
    .prepare<{ scope: string; now: number }, { at: number | null }>(
      "SELECT MIN(expires_at) AS at FROM attachments WHERE scope = @scope AND expires_at IS NOT NULL AND expires_at > @now",
    )
    .get({ scope: row.scope, now }) as { at: number | null };
  const leases = db
    .prepare<{ scope: string; now: number }, { count: number }>(
      `SELECT COUNT(*) AS count FROM leases l JOIN attachments a ON a.id = l.attachment_id
         WHERE l.expires_at > @now AND a.scope = @scope`,
    )
    .get({ scope: row.scope, now }) as { count: number };
  return scopeMetricsOf(row, leases.count, next.at);
}

/**
 * One scope's metrics: its row of `scope_totals`, corrected by its expired
 * attachments awaiting the sweep (found through `attachments_scope_expiry`).
 */
export function readScopeMetrics(db: Reader, scope: string, now: number): ManifestScopeMetrics {
  const totals = db
    .prepare<[string], Omit<ScopeTotalsRow, "expiredCount" | "expiredBytes">>(`SELECT ${SCOPE_TOTALS_COLUMNS} FROM scope_totals WHERE scope = ?`)
    .get(scope) ?? { scope, count: 0, bytes: 0, persistentCount: 0, persistentBytes: 0 };
  const expired = db
    .prepare<{ scope: string; now: number }, { n: number; b: number }>(EXPIRED_OF_SCOPE)
    .get({ scope, now }) as { n: number; b: number };
  return completeScope(db, { ...totals, expiredCount: expired.n, expiredBytes: expired.b }, now);
}

/**
 * The `limit` largest scopes by live bytes. `scope_totals_bytes` orders the
 * scopes by all their bytes, expired ones included; only the E scopes with
 * expired attachments can rank lower once those are taken off, so the first
 * `limit + E` rows of that index hold at least `limit` scopes whose bytes are
 * all live, and no scope further down can outrank them. Work: the expired
 * attachments (as for `metrics()`) plus `limit + E` scopes, never the store.
 */
export function readLargestScopes(db: Reader, limit: number, now: number): ManifestScopeMetrics[] {
  const rows = db
    .prepare<{ now: number; limit: number }, ScopeTotalsRow>(
      `WITH expired AS (
         SELECT scope, COUNT(*) AS n, SUM(size) AS b FROM attachments WHERE ${EXPIRED} GROUP BY scope
       ), candidates AS (
         SELECT ${SCOPE_TOTALS_COLUMNS} FROM scope_totals ORDER BY bytes DESC, scope
           LIMIT @limit + (SELECT COUNT(*) FROM expired)
       )
       SELECT c.*, COALESCE(e.n, 0) AS expiredCount, COALESCE(e.b, 0) AS expiredBytes
         FROM candidates c LEFT JOIN expired e ON e.scope = c.scope
         WHERE c.count > COALESCE(e.n, 0)
         ORDER BY c.bytes - COALESCE(e.b, 0) DESC, c.scope LIMIT @limit`,
    )
    .all({ now, limit });
  return rows.map((row) => completeScope(db, row, now));
}
