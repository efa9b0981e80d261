/**
 * The fleet manifest: PostgreSQL, shared by every worker on every host that
 * opens the store. All tables live in one schema (created if missing):
 *
 *   attachments(id PK, scope, digest, …, expires_at)   UNIQUE(scope, digest); indexes on expiry, (scope, id), digest
 *   blobs(digest PK, size, refs, created_at, condemned_by, inline)   partial index on refs = 0
 *   blob_bytes(digest PK, bytes)                       the bytes of inline blobs, beside their rows
 *   intents(id PK, digest, temp_name, writer_id, …)    stages between "bytes written" and "committed"
 *   leases(id PK, attachment_id, digest, expires_at)   pins on bytes
 *   writers(id PK, host, pid, heartbeat_at)             open store handles
 *   uploads(destination, digest PK, remote_id, holder, …) the upload ledger
 *   totals(name, shard) · scope_totals(scope) · digest_totals(digest)   running totals, kept by triggers
 *   attache_schema(version)                             the schema's version (see schema.ts)
 *
 * Each manifest call is one transaction, or one statement, on a pooled
 * connection, and nothing else runs while it is open (see database.ts); the
 * rooms say per method how concurrent calls from other hosts are ordered.
 * The pool lets the process exit while it is idle.
 *
 * Small blobs are kept inline (`blobs.inline`, bytes in `blob_bytes`) as in
 * SQLite. There is no `reclaimSpace`: autovacuum gives the space of deleted
 * bytes (and their TOAST chunks) back for reuse on its own, and returning it
 * to the filesystem would take a VACUUM FULL, which locks the table — not
 * something a sweep should do behind the operator's back.
 */
import pg from "pg";
import type { Pool } from "pg";
import { invalidArgument } from "../../errors.js";
import type { Manifest, ManifestMetrics, ManifestScopeMetrics } from "../manifest.js";
import { PostgresAttachments } from "./attachments.js";
import { PostgresBlobs } from "./blobs.js";
import { PostgresDatabase } from "./database.js";
import { postgresFailure } from "./failures.js";
import { findProblems } from "./integrity.js";
import { metricsStatements, readLargestScopes, readMetrics, readScopeMetrics, type MetricsStatements } from "./metrics.js";
import { PostgresPins } from "./pins.js";
import { migrate } from "./schema.js";
import { quoteIdentifier, statements } from "./sql.js";
import { PostgresUploads } from "./uploads.js";

export interface PostgresManifestOptions {
  /**
   * Where the database is: `postgres://user:password@host:5432/database`
   * (libpq's forms and `PG*` environment variables are honoured by pg).
   * Give this or `pool`.
   */
  connectionString?: string;
  /**
   * A pool the application already has, used instead of one of the
   * manifest's own: the manifest never ends it. Give it `allowExitOnIdle:
   * true` if an idle store must not keep the process alive.
   */
  pool?: Pool;
  /** The schema holding the manifest's tables, created if missing. @default "attache" */
  schema?: string;
  /** The most connections the manifest's own pool opens. @default 10 */
  max?: number;
  /** How long an unused connection of the manifest's own pool stays open, in ms. @default 10000 */
  idleTimeoutMs?: number;
  /** How long to wait for a connection before failing (retryably), in ms. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * How long a statement waits for a row lock another worker's transaction
   * holds before failing (retryably), in ms. Transactions are a few round
   * trips long, so a long wait means a stuck worker. @default 10000
   */
  lockTimeoutMs?: number;
  /** TLS settings for the manifest's own pool, as pg takes them. @default from the connection string */
  ssl?: pg.PoolConfig["ssl"];
  /** The `application_name` its connections report (in `pg_stat_activity`). @default "attache-store" */
  applicationName?: string;
}

interface ResolvedOptions {
  connectionString: string | undefined;
  pool: Pool | undefined;
  schema: string;
  max: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  lockTimeoutMs: number;
  ssl: pg.PoolConfig["ssl"];
  applicationName: string;
}

function resolveOptions(options: PostgresManifestOptions): ResolvedOptions {
  if ((options.connectionString === undefined) === (options.pool === undefined)) {
    throw invalidArgument("postgresManifest() takes either a connectionString or a pool (exactly one of them).");
  }
  const schema = options.schema ?? "attache";
  if (schema.length === 0 || schema.length > 63 || schema.includes("\0")) {
    throw invalidArgument(`schema must be a PostgreSQL identifier of 1 to 63 characters; got ${JSON.stringify(schema)}.`);
  }
  const positive = (name: string, value: number | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < 1) throw invalidArgument(`${name} must be a positive integer; got ${String(value)}.`);
    return value;
  };
  return {
    connectionString: options.connectionString,
    pool: options.pool,
    schema,
    max: positive("max", options.max, 10),
    idleTimeoutMs: positive("idleTimeoutMs", options.idleTimeoutMs, 10_000),
    connectTimeoutMs: positive("connectTimeoutMs", options.connectTimeoutMs, 10_000),
    lockTimeoutMs: positive("lockTimeoutMs", options.lockTimeoutMs, 10_000),
    ssl: options.ssl,
    applicationName: options.applicationName ?? "attache-store",
  };
}

/**
 * A manifest on PostgreSQL, for stores shared by workers on many hosts.
 * Nothing connects until `open()` (which `openStore` calls), which also
 * creates or migrates the schema.
 *
 * @example
 * ```ts
 * const store = await openStore({
 *   manifest: postgresManifest({ connectionString: process.env.DATABASE_URL, schema: "attache" }),
 *   blobStore: s3BlobStore({ … }),
 *   cacheDir: "/var/cache/attache",
 * });
 * ```
 */
export function postgresManifest(options: PostgresManifestOptions): Manifest {
  return new PostgresManifest(resolveOptions(options));
}

class PostgresManifest implements Manifest {
  readonly kind = "postgres";
  private readonly db: PostgresDatabase;
  private readonly schema: string;
  private readonly metricsSql: MetricsStatements;
  readonly attachments: PostgresAttachments;
  readonly blobs: PostgresBlobs;
  readonly pins: PostgresPins;
  readonly uploads: PostgresUploads;
  /** Store handles using this manifest: the pool closes with the last. */
  private users = 0;
  private opening: Promise<void> | undefined;
  private readonly absorbIdleError = () => {
    // An idle pooled connection the server ended (a restart, pg_terminate_backend): the pool drops it; the next
    // call connects afresh. Without a listener the pool's 'error' event would be an uncaught exception.
  };

  constructor(private readonly options: ResolvedOptions) {
    this.schema = quoteIdentifier(options.schema);
    this.db = new PostgresDatabase(statements(this.schema), options.lockTimeoutMs);
    this.metricsSql = metricsStatements(this.schema);
    this.attachments = new PostgresAttachments(this.db);
    this.blobs = new PostgresBlobs(this.db);
    this.pins = new PostgresPins(this.db);
    this.uploads = new PostgresUploads(this.db);
  }

  private createPool(): Pool {
    const o = this.options;
    if (o.pool !== undefined) return o.pool;
    return new pg.Pool({
      connectionString: o.connectionString,
      max: o.max,
      idleTimeoutMillis: o.idleTimeoutMs,
      connectionTimeoutMillis: o.connectTimeoutMs,
      // Idle connections and the pool's timers do not keep the process alive.
      allowExitOnIdle: true,
      application_name: o.applicationName,
      // Also bounds the lock waits of statements run outside a transaction.
      options: `-c lock_timeout=${o.lockTimeoutMs}`,
      ...(o.ssl === undefined ? {} : { ssl: o.ssl }),
    });
  }

  async open(): Promise<void> {
    this.users++;
    if (this.db.pool === undefined) {
      const pool = this.createPool();
      pool.on("error", this.absorbIdleError);
      this.db.pool = pool;
      this.opening = this.db
        .statement("open the manifest", (session) => migrate(session, this.options.schema, this.schema))
        .then(() => undefined);
    }
    try {
      await this.opening;
    } catch (err) {
      await this.close();
      throw postgresFailure(`open the PostgreSQL manifest (schema ${this.options.schema})`, err);
    }
  }

  metrics(now: number): Promise<ManifestMetrics> {
    return this.db.statement("compute metrics", (session) => readMetrics(session, this.metricsSql, now));
  }

  scopeMetrics(scope: string, now: number): Promise<ManifestScopeMetrics> {
    return this.db.statement("compute the scope's metrics", (session) => readScopeMetrics(session, this.metricsSql, scope, now));
  }

  largestScopes(limit: number, now: number): Promise<ManifestScopeMetrics[]> {
    return this.db.statement("find the largest scopes", (session) => readLargestScopes(session, this.metricsSql, limit, now));
  }

  async checkIntegrity(): Promise<string[]> {
    try {
      return await this.db.snapshot("check the manifest", (session) => findProblems(session, this.schema));
    } catch (err) {
      // An unreachable server is not a finding: the caller should retry.
      if ((err as { retryable?: boolean }).retryable === true) throw err;
      // The check itself cannot run (a table dropped or altered by hand): that is the finding.
      const cause = (err as { cause?: unknown }).cause ?? err;
      const code = (cause as { code?: string }).code;
      const detail = `${cause instanceof Error ? cause.message : String(cause)}${code === undefined ? "" : ` (SQLSTATE ${code})`}`;
      return [`PostgreSQL's integrity check could not run: ${detail}`];
    }
  }

  reset(): Promise<void> {
    return this.db.transaction("reset the manifest", async (session) => {
      for (const statement of this.db.sql.reset) await session.run(statement);
    });
  }

  async close(): Promise<void> {
    if (this.users === 0) return;
    if (--this.users > 0) return;
    const pool = this.db.pool;
    this.db.pool = undefined;
    this.opening = undefined;
    if (pool === undefined) return;
    // The application's own pool stays open, without our listener; ours is ended (its listener stays, for
    // connections that fail while they close).
    if (this.options.pool !== undefined) pool.off("error", this.absorbIdleError);
    else await pool.end();
  }
}
