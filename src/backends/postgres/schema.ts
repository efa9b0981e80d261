/**
 * The PostgreSQL manifest's schema and its migrations.
 *
 * The version lives in `attache_schema` (one row). Opening checks it with one
 * query; only when it is behind does the opener migrate: in one transaction
 * (PostgreSQL's DDL is transactional, so a migration is all or nothing) that
 * first takes a transaction-scoped advisory lock named after the schema.
 * Concurrent openers queue on that lock, then read the version again and find
 * the work done: one migrator at a time, and every opener returns only once
 * the schema is current.
 *
 * Running totals (version 2) are kept by statement-level triggers from the
 * transition tables of each INSERT, UPDATE and DELETE, so a statement that
 * drops a thousand rows updates each total once. Global totals are sharded:
 * `totals(name, shard)` has up to SHARDS rows per name and a transaction adds
 * to the row of its connection's shard (`pg_backend_pid() % SHARDS`), so
 * concurrent writers do not all queue on one row; `metrics()` sums the few
 * rows. Per-scope and per-digest totals are one row each, touched only by
 * writes to that scope or those bytes. Rows are locked in a fixed order
 * (scopes, digests, then shards, each sorted) so two triggers never deadlock.
 *
 * Small blobs (version 3) keep their bytes in `blob_bytes`, beside the
 * narrow `blobs` rows that every fence and sweep query walks; triggers make
 * the bytes go with their row (deleted, or turned into a blob-store row).
 */
import type { Session } from "./database.js";

/** Bumped for every step below; each step migrates from the previous version. */
export const SCHEMA_VERSION = 3;
/** How many rows each global total is spread over. */
export const SHARDS = 16;

/** The two keys of the migration lock: this library, and the schema it migrates (`hashtext` of its name). */
const LOCK_NAMESPACE = "attache-store manifest";
/** The advisory lock statement, for a schema name given as `$1`. */
export const MIGRATION_LOCK = `SELECT pg_advisory_xact_lock(hashtext('${LOCK_NAMESPACE}'), hashtext($1))`;
/** How long an opener waits for another to finish migrating, in ms: a migration backfilling a large store may take a while. */
const MIGRATION_WAIT_MS = 300_000;

/** Version 1: the tables. Text keys compare as bytes (COLLATE "C"), as SQLite's do. */
function tables(s: string): string {
  const key = `text COLLATE "C"`;
  return `
CREATE TABLE ${s}.attachments (
  id ${key} PRIMARY KEY,
  scope ${key} NOT NULL,
  digest ${key} NOT NULL,
  size bigint NOT NULL,
  name text NOT NULL,
  content_type text NOT NULL,
  mode text NOT NULL,
  reference_path text,
  persist boolean NOT NULL,
  ttl_ms bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  expires_at bigint,
  source text,
  metadata text NOT NULL,
  UNIQUE (scope, digest)
);
CREATE INDEX attachments_expiry ON ${s}.attachments (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX attachments_scope ON ${s}.attachments (scope, id);
CREATE INDEX attachments_scope_expiry ON ${s}.attachments (scope, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX attachments_digest ON ${s}.attachments (digest);
CREATE INDEX attachments_reference ON ${s}.attachments (id) WHERE reference_path IS NOT NULL;

CREATE TABLE ${s}.blobs (
  digest ${key} PRIMARY KEY,
  size bigint NOT NULL,
  refs bigint NOT NULL DEFAULT 0,
  created_at bigint NOT NULL,
  condemned_by ${key}
);
CREATE INDEX blobs_unreferenced ON ${s}.blobs (digest) WHERE refs = 0 AND condemned_by IS NULL;
CREATE INDEX blobs_size ON ${s}.blobs (size);
CREATE INDEX blobs_condemned ON ${s}.blobs (condemned_by, digest) WHERE condemned_by IS NOT NULL;

CREATE TABLE ${s}.intents (
  id ${key} PRIMARY KEY,
  digest ${key} NOT NULL,
  temp_name text,
  linked_from text,
  writer_id ${key},
  created_at bigint NOT NULL
);
CREATE INDEX intents_digest ON ${s}.intents (digest);
CREATE INDEX intents_age ON ${s}.intents (created_at);
CREATE INDEX intents_writer ON ${s}.intents (writer_id);

CREATE TABLE ${s}.leases (
  id ${key} PRIMARY KEY,
  attachment_id ${key} NOT NULL,
  digest ${key} NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX leases_digest ON ${s}.leases (digest, expires_at);
CREATE INDEX leases_expiry ON ${s}.leases (expires_at);

CREATE TABLE ${s}.writers (
  id ${key} PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at bigint NOT NULL,
  heartbeat_at bigint NOT NULL
);

CREATE TABLE ${s}.uploads (
  destination ${key} NOT NULL,
  digest ${key} NOT NULL,
  size bigint NOT NULL,
  remote_id text,
  uri text,
  uploaded_at bigint,
  expires_at bigint,
  holder text,
  heartbeat_at bigint,
  resume text,
  PRIMARY KEY (destination, digest)
);
CREATE INDEX uploads_digest ON ${s}.uploads (digest);
CREATE INDEX uploads_expiry ON ${s}.uploads (expires_at) WHERE remote_id IS NOT NULL AND expires_at IS NOT NULL;
`;
}

/**
 * Version 2: running totals. `totals` rows, by name: "persistent" and
 * "expiring" (attachments by whether they have an expiry), "blobs" (blob
 * rows), "digests" (distinct digests any attachment uses, with their sizes)
 * and "scopes" (scopes with any attachment) — each spread over shards.
 */
function totals(s: string): string {
  const key = `text COLLATE "C"`;
  const fn = (name: string) => `${s}.${name}`;
  // Trigger functions run with the schema first on their search path; everything they name is qualified anyway.
  const body = `LANGUAGE plpgsql SET search_path = ${s}, pg_catalog`;
  return `
CREATE TABLE ${s}.totals (
  name ${key} NOT NULL,
  shard integer NOT NULL,
  count bigint NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (name, shard)
);
CREATE TABLE ${s}.scope_totals (
  scope ${key} PRIMARY KEY,
  count bigint NOT NULL,
  bytes bigint NOT NULL,
  persistent_count bigint NOT NULL,
  persistent_bytes bigint NOT NULL
);
CREATE INDEX scope_totals_bytes ON ${s}.scope_totals (bytes DESC, scope);
CREATE TABLE ${s}.digest_totals (
  digest ${key} PRIMARY KEY,
  count bigint NOT NULL,
  size bigint NOT NULL
);

-- Adds deltas to this connection's shard of the global totals, in name order.
CREATE FUNCTION ${fn("add_totals")}(p_name text[], p_count bigint[], p_bytes bigint[]) RETURNS void ${body} AS $$
BEGIN
  INSERT INTO ${s}.totals AS t (name, shard, count, bytes)
    SELECT d.name, pg_backend_pid() % ${SHARDS}, d.count, d.bytes FROM unnest(p_name, p_count, p_bytes) AS d(name, count, bytes)
    WHERE d.count <> 0 OR d.bytes <> 0 ORDER BY d.name
    ON CONFLICT (name, shard) DO UPDATE SET count = t.count + excluded.count, bytes = t.bytes + excluded.bytes;
END $$;

-- Counts attachment rows in (sign 1) or out (sign -1): per scope, per digest, and globally.
CREATE FUNCTION ${fn("count_attachments")}(p_scope text[], p_digest text[], p_size bigint[], p_persistent boolean[], p_sign integer[])
RETURNS void ${body} AS $$
DECLARE
  scopes_in bigint; scopes_out bigint; digests_in bigint; digest_bytes_in bigint; digests_out bigint; digest_bytes_out bigint;
  persistent_count bigint; persistent_bytes bigint; expiring_count bigint; expiring_bytes bigint;
BEGIN
  IF p_scope IS NULL THEN RETURN; END IF;
  -- Per scope: existing rows locked in scope order (the upsert below then follows the same order).
  PERFORM 1 FROM ${s}.scope_totals WHERE scope = ANY(p_scope) ORDER BY scope FOR UPDATE;
  WITH delta AS (
    SELECT u.scope, sum(u.sign) AS n, sum(u.sign * u.size) AS b,
      sum(CASE WHEN u.persistent THEN u.sign ELSE 0 END) AS pn, sum(CASE WHEN u.persistent THEN u.sign * u.size ELSE 0 END) AS pb
    FROM unnest(p_scope, p_size, p_persistent, p_sign) AS u(scope, size, persistent, sign) GROUP BY u.scope
  ), upserted AS (
    INSERT INTO ${s}.scope_totals AS t (scope, count, bytes, persistent_count, persistent_bytes)
      SELECT scope, n, b, pn, pb FROM delta WHERE n <> 0 OR b <> 0 OR pn <> 0 OR pb <> 0 ORDER BY scope
      ON CONFLICT (scope) DO UPDATE SET count = t.count + excluded.count, bytes = t.bytes + excluded.bytes,
        persistent_count = t.persistent_count + excluded.persistent_count,
        persistent_bytes = t.persistent_bytes + excluded.persistent_bytes
      RETURNING (xmax = 0) AS inserted
  ) SELECT count(*) FILTER (WHERE inserted) INTO scopes_in FROM upserted;
  DELETE FROM ${s}.scope_totals WHERE scope = ANY(p_scope) AND count <= 0;
  GET DIAGNOSTICS scopes_out = ROW_COUNT;

  PERFORM 1 FROM ${s}.digest_totals WHERE digest = ANY(p_digest) ORDER BY digest FOR UPDATE;
  WITH delta AS (
    SELECT u.digest, sum(u.sign) AS n, max(u.size) AS size
    FROM unnest(p_digest, p_size, p_sign) AS u(digest, size, sign) GROUP BY u.digest
  ), upserted AS (
    INSERT INTO ${s}.digest_totals AS t (digest, count, size)
      SELECT digest, n, size FROM delta WHERE n <> 0 ORDER BY digest
      ON CONFLICT (digest) DO UPDATE SET count = t.count + excluded.count
      RETURNING (xmax = 0) AS inserted, t.size
  ) SELECT count(*) FILTER (WHERE inserted), COALESCE(sum(size) FILTER (WHERE inserted), 0)
      INTO digests_in, digest_bytes_in FROM upserted;
  WITH gone AS (
    DELETE FROM ${s}.digest_totals WHERE digest = ANY(p_digest) AND count <= 0 RETURNING size
  ) SELECT count(*), COALESCE(sum(size), 0) INTO digests_out, digest_bytes_out FROM gone;

  SELECT COALESCE(sum(u.sign) FILTER (WHERE u.persistent), 0), COALESCE(sum(u.sign * u.size) FILTER (WHERE u.persistent), 0),
    COALESCE(sum(u.sign) FILTER (WHERE NOT u.persistent), 0), COALESCE(sum(u.sign * u.size) FILTER (WHERE NOT u.persistent), 0)
    INTO persistent_count, persistent_bytes, expiring_count, expiring_bytes
    FROM unnest(p_size, p_persistent, p_sign) AS u(size, persistent, sign);
  PERFORM ${fn("add_totals")}(
    ARRAY['digests', 'expiring', 'persistent', 'scopes'],
    ARRAY[digests_in - digests_out, expiring_count, persistent_count, scopes_in - scopes_out],
    ARRAY[digest_bytes_in - digest_bytes_out, expiring_bytes, persistent_bytes, 0]);
END $$;

CREATE FUNCTION ${fn("attachments_counted_in")}() RETURNS trigger ${body} AS $$
BEGIN
  PERFORM ${fn("count_attachments")}(array_agg(scope), array_agg(digest), array_agg(size), array_agg(expires_at IS NULL), array_agg(1))
    FROM added;
  RETURN NULL;
END $$;
CREATE FUNCTION ${fn("attachments_counted_out")}() RETURNS trigger ${body} AS $$
BEGIN
  PERFORM ${fn("count_attachments")}(array_agg(scope), array_agg(digest), array_agg(size), array_agg(expires_at IS NULL), array_agg(-1))
    FROM removed;
  RETURN NULL;
END $$;
-- An update changes the totals only when it gives an expiry or takes it away (scope, digest and size never change,
-- but if they did they would be counted right: the old row out, the new one in).
CREATE FUNCTION ${fn("attachments_recounted")}() RETURNS trigger ${body} AS $$
BEGIN
  PERFORM ${fn("count_attachments")}(array_agg(c.scope), array_agg(c.digest), array_agg(c.size), array_agg(c.persistent), array_agg(c.sign))
    FROM (
      SELECT o.scope, o.digest, o.size, o.expires_at IS NULL AS persistent, -1 AS sign, n.expires_at IS NULL AS now_persistent,
        n.scope AS now_scope, n.digest AS now_digest, n.size AS now_size
      FROM old_rows o JOIN new_rows n USING (id)
    ) changed
    CROSS JOIN LATERAL (VALUES (changed.scope, changed.digest, changed.size, changed.persistent, -1),
      (changed.now_scope, changed.now_digest, changed.now_size, changed.now_persistent, 1)) AS c(scope, digest, size, persistent, sign)
    WHERE changed.persistent <> changed.now_persistent OR changed.scope <> changed.now_scope
      OR changed.digest <> changed.now_digest OR changed.size <> changed.now_size;
  RETURN NULL;
END $$;
CREATE TRIGGER attachments_counted_in AFTER INSERT ON ${s}.attachments
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ${fn("attachments_counted_in")}();
CREATE TRIGGER attachments_counted_out AFTER DELETE ON ${s}.attachments
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION ${fn("attachments_counted_out")}();
CREATE TRIGGER attachments_recounted AFTER UPDATE ON ${s}.attachments
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${fn("attachments_recounted")}();

CREATE FUNCTION ${fn("blobs_counted_in")}() RETURNS trigger ${body} AS $$
BEGIN
  PERFORM ${fn("add_totals")}(ARRAY['blobs'], ARRAY[count(*)], ARRAY[COALESCE(sum(size), 0)::bigint]) FROM added;
  RETURN NULL;
END $$;
CREATE FUNCTION ${fn("blobs_counted_out")}() RETURNS trigger ${body} AS $$
BEGIN
  PERFORM ${fn("add_totals")}(ARRAY['blobs'], ARRAY[-count(*)], ARRAY[-COALESCE(sum(size), 0)::bigint]) FROM removed;
  RETURN NULL;
END $$;
CREATE TRIGGER blobs_counted_in AFTER INSERT ON ${s}.blobs
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ${fn("blobs_counted_in")}();
CREATE TRIGGER blobs_counted_out AFTER DELETE ON ${s}.blobs
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION ${fn("blobs_counted_out")}();

-- The totals of the rows already there (a store migrated from version 1), all in shard 0.
INSERT INTO ${s}.scope_totals (scope, count, bytes, persistent_count, persistent_bytes)
  SELECT scope, count(*), sum(size), count(*) FILTER (WHERE expires_at IS NULL), COALESCE(sum(size) FILTER (WHERE expires_at IS NULL), 0)
  FROM ${s}.attachments GROUP BY scope;
INSERT INTO ${s}.digest_totals (digest, count, size) SELECT digest, count(*), max(size) FROM ${s}.attachments GROUP BY digest;
INSERT INTO ${s}.totals (name, shard, count, bytes)
  SELECT 'persistent', 0, count(*), COALESCE(sum(size), 0) FROM ${s}.attachments WHERE expires_at IS NULL
  UNION ALL SELECT 'expiring', 0, count(*), COALESCE(sum(size), 0) FROM ${s}.attachments WHERE expires_at IS NOT NULL
  UNION ALL SELECT 'blobs', 0, count(*), COALESCE(sum(size), 0) FROM ${s}.blobs
  UNION ALL SELECT 'scopes', 0, count(*), 0 FROM ${s}.scope_totals
  UNION ALL SELECT 'digests', 0, count(*), COALESCE(sum(size), 0) FROM ${s}.digest_totals;
`;
}

/**
 * Version 3: small blobs kept inside the manifest (the store's
 * `inlineMaxSize`). `blobs.inline` says where a row's bytes are; the bytes
 * are in `blob_bytes`, a table of their own so that `blobs` stays a few
 * dozen bytes a row. Their column is stored EXTERNAL — out of line past
 * ~2 KB, never compressed: content-addressed bytes are mostly already
 * compressed (images, PDFs, archives), so pglz would spend CPU on every
 * write to give up, and every read of what it did compress would pay to
 * inflate it; the bytes on disk then also match `storedBytes`.
 *
 * Triggers (as SQLite's version 8): the bytes go when their row is deleted
 * (statement-level, from the deleted rows) or stops being inline (a
 * damaged inline row kept for a stage, which writes the bytes to the blob
 * store); and the running blob totals follow a row whose size changes (a
 * fence row — a digest condemned while it had no row, size 0 — takes the
 * size of the stage that meets it). The two row-level triggers fire only
 * when their WHEN holds, so the hot updates of `refs` never call them.
 */
function inlineBlobs(s: string): string {
  const key = `text COLLATE "C"`;
  const fn = (name: string) => `${s}.${name}`;
  const body = `LANGUAGE plpgsql SET search_path = ${s}, pg_catalog`;
  return `
ALTER TABLE ${s}.blobs ADD COLUMN inline boolean NOT NULL DEFAULT false;
CREATE TABLE ${s}.blob_bytes (
  digest ${key} PRIMARY KEY,
  bytes bytea NOT NULL
);
ALTER TABLE ${s}.blob_bytes ALTER COLUMN bytes SET STORAGE EXTERNAL;

CREATE FUNCTION ${fn("blob_bytes_dropped")}() RETURNS trigger ${body} AS $$
BEGIN
  DELETE FROM ${s}.blob_bytes b USING removed r WHERE r.inline AND b.digest = r.digest;
  RETURN NULL;
END $$;
CREATE TRIGGER blob_bytes_dropped AFTER DELETE ON ${s}.blobs
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION ${fn("blob_bytes_dropped")}();

CREATE FUNCTION ${fn("blob_bytes_uninlined")}() RETURNS trigger ${body} AS $$
BEGIN
  DELETE FROM ${s}.blob_bytes WHERE digest = OLD.digest;
  RETURN NULL;
END $$;
CREATE TRIGGER blob_bytes_uninlined AFTER UPDATE OF inline ON ${s}.blobs
  FOR EACH ROW WHEN (OLD.inline AND NOT NEW.inline) EXECUTE FUNCTION ${fn("blob_bytes_uninlined")}();

CREATE FUNCTION ${fn("blobs_resized")}() RETURNS trigger ${body} AS $$
BEGIN
  PERFORM ${fn("add_totals")}(ARRAY['blobs'], ARRAY[0::bigint], ARRAY[NEW.size - OLD.size]);
  RETURN NULL;
END $$;
CREATE TRIGGER blobs_resized AFTER UPDATE OF size ON ${s}.blobs
  FOR EACH ROW WHEN (OLD.size <> NEW.size) EXECUTE FUNCTION ${fn("blobs_resized")}();
`;
}

/** The steps, by the version each brings the schema to. */
const STEPS: readonly { version: number; sql: (s: string) => string }[] = [
  { version: 1, sql: tables },
  { version: 2, sql: totals },
  { version: 3, sql: inlineBlobs },
];

/**
 * The schema's version, or 0 when it has no manifest yet. The table is
 * looked up in pg_class itself (an MVCC read), not by name resolution
 * (`to_regclass`), which may answer from this connection's catalog cache as
 * it was before another migrator committed.
 */
async function versionOf(session: Session, name: string, s: string): Promise<number> {
  const present = await session.row(
    `SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = 'attache_schema'`,
    [name],
  );
  if (present === undefined) return 0;
  return (await session.row<{ version: number }>(`SELECT version FROM ${s}.attache_schema`))?.version ?? 0;
}

/**
 * Brings schema `name` (quoted: `s`) to `target` (the current version unless
 * a test asks for an older one). `session` must not be in a transaction: the
 * quick check runs on its own, the migration in a transaction of its own.
 * Returns the version found before (0: a new manifest).
 */
export async function migrate(session: Session, name: string, s: string, target = SCHEMA_VERSION): Promise<number> {
  const found = await versionOf(session, name, s);
  if (found >= target) return found;
  await session.run("BEGIN ISOLATION LEVEL READ COMMITTED");
  try {
    await session.run(`SET LOCAL lock_timeout = ${MIGRATION_WAIT_MS}`);
    await session.run(MIGRATION_LOCK, [name]);
    // Another opener may have migrated while this one waited for the lock.
    const current = await versionOf(session, name, s);
    if (current < target) {
      // CREATE SCHEMA needs the CREATE privilege on the database even with IF NOT EXISTS: only when it is missing.
      const exists = await session.row(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [name]);
      if (exists === undefined) await session.run(`CREATE SCHEMA ${s}`);
      await session.run(`CREATE TABLE IF NOT EXISTS ${s}.attache_schema (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        version integer NOT NULL,
        migrated_at timestamptz NOT NULL DEFAULT now())`);
      for (const step of STEPS) {
        if (step.version > current && step.version <= target) await session.run(step.sql(s));
      }
      await session.run(
        `INSERT INTO ${s}.attache_schema (version) VALUES ($1) ON CONFLICT (one) DO UPDATE SET version = $1, migrated_at = now()`,
        [target],
      );
    }
    await session.run("COMMIT");
    return current;
  } catch (err) {
    await session.run("ROLLBACK").catch(() => undefined);
    throw err;
  }
}
