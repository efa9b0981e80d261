/**
 * The PostgreSQL manifest's metrics, each read in one statement (one
 * snapshot) from the running totals of schema.ts, corrected by the expired
 * attachments still awaiting the sweep (the only part that depends on
 * `now`, found through the expiry indexes). Work: the shards of the global
 * totals, the expired attachments and the open leases — never a scan of
 * the store.
 */
import type { ManifestMetrics, ManifestScopeMetrics } from "../manifest.js";
import type { Session } from "./database.js";
import { scopeMetricsOf, type ScopeTotals } from "../scope-totals.js";

interface MetricsRow {
  persistentCount: number;
  persistentBytes: number;
  expiringCount: number;
  expiringBytes: number;
  blobs: number;
  storedBytes: number;
  scopes: number;
  digestBytes: number;
  expiredCount: number;
  expiredBytes: number;
  deadScopes: number;
  deadDigestBytes: number;
  leases: number;
  nextExpiryAt: number | null;
}

interface ScopeRow extends ScopeTotals {
  leases: number;
  nextExpiryAt: number | null;
}

/** Per-scope columns of a `scope_totals` row `t` for scope `scope` at `$now`, with its expired part, next expiry and open leases. */
function scopeColumns(s: string, scope: string, now: string): string {
  return `t.count, t.bytes, t.persistent_count AS "persistentCount", t.persistent_bytes AS "persistentBytes",
    (SELECT min(expires_at) FROM ${s}.attachments WHERE scope = ${scope} AND expires_at IS NOT NULL AND expires_at > ${now}) AS "nextExpiryAt",
    (SELECT count(*) FROM ${s}.leases l JOIN ${s}.attachments a ON a.id = l.attachment_id
      WHERE l.expires_at > ${now} AND a.scope = ${scope}) AS leases`;
}

/** The statements, for schema `s` (quoted). */
export function metricsStatements(s: string) {
  const total = (name: string, column: "count" | "bytes") => `(SELECT COALESCE(sum(${column}), 0) FROM ${s}.totals WHERE name = '${name}')`;
  const expired = `SELECT scope, digest, size FROM ${s}.attachments WHERE expires_at IS NOT NULL AND expires_at <= $1`;
  return {
    metrics: `WITH expired AS MATERIALIZED (${expired})
      SELECT ${total("persistent", "count")} AS "persistentCount", ${total("persistent", "bytes")} AS "persistentBytes",
        ${total("expiring", "count")} AS "expiringCount", ${total("expiring", "bytes")} AS "expiringBytes",
        ${total("blobs", "count")} AS blobs, ${total("blobs", "bytes")} AS "storedBytes",
        ${total("scopes", "count")} AS scopes, ${total("digests", "bytes")} AS "digestBytes",
        (SELECT count(*) FROM expired) AS "expiredCount", (SELECT COALESCE(sum(size), 0) FROM expired) AS "expiredBytes",
        -- Scopes and digests whose every attachment has expired are no longer live.
        (SELECT count(*) FROM (SELECT scope, count(*) AS n FROM expired GROUP BY scope) e
          JOIN ${s}.scope_totals t ON t.scope = e.scope WHERE t.count = e.n) AS "deadScopes",
        (SELECT COALESCE(sum(d.size), 0) FROM (SELECT digest, count(*) AS n FROM expired GROUP BY digest) e
          JOIN ${s}.digest_totals d ON d.digest = e.digest WHERE d.count = e.n) AS "deadDigestBytes",
        (SELECT count(*) FROM ${s}.leases WHERE expires_at > $1) AS leases,
        (SELECT min(expires_at) FROM ${s}.attachments WHERE expires_at > $1) AS "nextExpiryAt"`,
    /** One scope: `$1` the scope, `$2` now. A scope without a totals row reads as zeros. */
    scope: `SELECT $1::text AS scope, ${scopeColumns(s, "$1", "$2")}, e.n AS "expiredCount", e.b AS "expiredBytes"
      FROM (SELECT COALESCE(max(count), 0) AS count, COALESCE(max(bytes), 0) AS bytes,
              COALESCE(max(persistent_count), 0) AS persistent_count, COALESCE(max(persistent_bytes), 0) AS persistent_bytes
            FROM ${s}.scope_totals WHERE scope = $1) t,
        LATERAL (SELECT count(*) AS n, COALESCE(sum(size), 0) AS b FROM ${s}.attachments
          WHERE scope = $1 AND expires_at IS NOT NULL AND expires_at <= $2) e`,
    /**
     * The `$2` largest scopes by live bytes at `$1`. `scope_totals_bytes`
     * orders scopes by all their bytes, expired ones included; only the E
     * scopes with expired attachments can rank lower once those are taken
     * off, so the first `$2 + E` rows of that index hold every scope that
     * can make the list.
     */
    largest: `WITH expired AS MATERIALIZED (
        SELECT scope, count(*) AS n, sum(size) AS b FROM ${s}.attachments WHERE expires_at IS NOT NULL AND expires_at <= $1 GROUP BY scope
      ), candidates AS (
        SELECT * FROM ${s}.scope_totals ORDER BY bytes DESC, scope LIMIT $2 + (SELECT count(*) FROM expired)
      ), ranked AS (
        SELECT c.*, COALESCE(e.n, 0) AS expired_count, COALESCE(e.b, 0) AS expired_bytes
        FROM candidates c LEFT JOIN expired e ON e.scope = c.scope
        WHERE c.count > COALESCE(e.n, 0)
        ORDER BY c.bytes - COALESCE(e.b, 0) DESC, c.scope LIMIT $2
      )
      SELECT t.scope, ${scopeColumns(s, "t.scope", "$1")}, t.expired_count AS "expiredCount", t.expired_bytes AS "expiredBytes"
      FROM ranked t ORDER BY t.bytes - t.expired_bytes DESC, t.scope`,
  };
}

/** One manifest's metrics statements. */
export type MetricsStatements = ReturnType<typeof metricsStatements>;

/** The store's metrics at `now` (`Manifest.metrics`). */
export async function readMetrics(session: Session, sql: MetricsStatements, now: number): Promise<ManifestMetrics> {
  const row = (await session.row<MetricsRow>(sql.metrics, [now])) as MetricsRow;
  const expirable = { count: row.expiringCount - row.expiredCount, bytes: row.expiringBytes - row.expiredBytes };
  return {
    attachments: row.persistentCount + expirable.count,
    scopes: row.scopes - row.deadScopes,
    logicalBytes: row.persistentBytes + expirable.bytes,
    distinctLiveBytes: row.digestBytes - row.deadDigestBytes,
    blobs: row.blobs,
    storedBytes: row.storedBytes,
    persistent: { count: row.persistentCount, bytes: row.persistentBytes },
    expirable,
    expired: { count: row.expiredCount, bytes: row.expiredBytes },
    leases: row.leases,
    nextExpiryAt: row.nextExpiryAt,
  };
}

function toScopeMetrics(row: ScopeRow): ManifestScopeMetrics {
  return scopeMetricsOf(row, row.leases, row.nextExpiryAt);
}

/** One scope's metrics at `now`: its totals row, corrected by its expired attachments. */
export async function readScopeMetrics(session: Session, sql: MetricsStatements, scope: string, now: number): Promise<ManifestScopeMetrics> {
  return toScopeMetrics((await session.row<ScopeRow>(sql.scope, [scope, now])) as ScopeRow);
}

/** The `limit` largest scopes by live bytes at `now` (see the `largest` statement). */
export async function readLargestScopes(session: Session, sql: MetricsStatements, limit: number, now: number): Promise<ManifestScopeMetrics[]> {
  return (await session.rows<ScopeRow>(sql.largest, [now, limit])).map(toScopeMetrics);
}
