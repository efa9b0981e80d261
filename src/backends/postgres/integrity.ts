/**
 * The PostgreSQL manifest's consistency check, for `verify`. PostgreSQL
 * guards its own pages (and amcheck is an extension an operator may not
 * have), so what is checked here is what the manifest itself derives: that
 * the schema is at this library's version, that every blob's reference count
 * is the number of managed attachments using it, that no managed attachment
 * lacks its blob row, that inline blobs and their bytes go together, and
 * that the running totals (per scope, per digest and global) agree with the
 * rows they total. These are full scans, as a verify reads everything
 * anyway, all in one snapshot.
 */
import type { Session } from "./database.js";
import { SCHEMA_VERSION } from "./schema.js";

/** At most this many lines per kind of problem: enough to tell an operator what is wrong, without flooding a report. */
const PER_CHECK = 20;

/** The checks, for schema `s` (quoted): each row is one problem, as a line. */
function checks(s: string): string[] {
  return [
    `SELECT 'blob ' || b.digest || ': refs is ' || b.refs || ' but ' || COALESCE(a.n, 0) || ' managed attachment(s) use it' AS line
      FROM ${s}.blobs b LEFT JOIN (SELECT digest, count(*) AS n FROM ${s}.attachments WHERE reference_path IS NULL GROUP BY digest) a
        ON a.digest = b.digest
      WHERE b.refs <> COALESCE(a.n, 0) ORDER BY b.digest LIMIT ${PER_CHECK}`,
    `SELECT 'attachment ' || a.id || ': its blob ' || a.digest || ' has no row' AS line
      FROM ${s}.attachments a WHERE a.reference_path IS NULL AND NOT EXISTS (SELECT 1 FROM ${s}.blobs b WHERE b.digest = a.digest)
      ORDER BY a.id LIMIT ${PER_CHECK}`,
    `SELECT 'blob ' || COALESCE(b.digest, x.digest) || CASE WHEN x.digest IS NULL THEN ': inline, but its bytes are missing'
        ELSE ': bytes kept inline, but its row is not an inline blob' END AS line
      FROM (SELECT digest FROM ${s}.blobs WHERE inline) b FULL JOIN ${s}.blob_bytes x ON x.digest = b.digest
      WHERE b.digest IS NULL OR x.digest IS NULL ORDER BY 1 LIMIT ${PER_CHECK}`,
    `SELECT 'scope ' || COALESCE(t.scope, r.scope) || ': running totals ' || COALESCE(t.count, 0) || ' attachment(s), ' ||
        COALESCE(t.bytes, 0) || ' bytes (' || COALESCE(t.persistent_count, 0) || ' persistent, ' || COALESCE(t.persistent_bytes, 0) ||
        ' bytes) but the rows hold ' || COALESCE(r.count, 0) || ', ' || COALESCE(r.bytes, 0) || ' (' || COALESCE(r.persistent_count, 0) ||
        ', ' || COALESCE(r.persistent_bytes, 0) || ')' AS line
      FROM ${s}.scope_totals t FULL JOIN (
        SELECT scope, count(*) AS count, sum(size) AS bytes, count(*) FILTER (WHERE expires_at IS NULL) AS persistent_count,
          COALESCE(sum(size) FILTER (WHERE expires_at IS NULL), 0) AS persistent_bytes
        FROM ${s}.attachments GROUP BY scope
      ) r ON r.scope = t.scope
      WHERE (t.count, t.bytes, t.persistent_count, t.persistent_bytes) IS DISTINCT FROM (r.count, r.bytes, r.persistent_count, r.persistent_bytes)
      ORDER BY 1 LIMIT ${PER_CHECK}`,
    `SELECT 'digest ' || COALESCE(t.digest, r.digest) || ': running totals count ' || COALESCE(t.count, 0) ||
        ' attachment(s) but ' || COALESCE(r.count, 0) || ' use it' AS line
      FROM ${s}.digest_totals t FULL JOIN (SELECT digest, count(*) AS count FROM ${s}.attachments GROUP BY digest) r ON r.digest = t.digest
      WHERE t.count IS DISTINCT FROM r.count ORDER BY 1 LIMIT ${PER_CHECK}`,
    `SELECT 'total ' || e.name || ': running totals ' || COALESCE(t.count, 0) || ' (' || COALESCE(t.bytes, 0) || ' bytes) but the rows hold ' ||
        e.count || ' (' || e.bytes || ' bytes)' AS line
      FROM (
        SELECT 'persistent' AS name, count(*) AS count, COALESCE(sum(size), 0) AS bytes FROM ${s}.attachments WHERE expires_at IS NULL
        UNION ALL SELECT 'expiring', count(*), COALESCE(sum(size), 0) FROM ${s}.attachments WHERE expires_at IS NOT NULL
        UNION ALL SELECT 'blobs', count(*), COALESCE(sum(size), 0) FROM ${s}.blobs
        UNION ALL SELECT 'scopes', count(DISTINCT scope), 0 FROM ${s}.attachments
        UNION ALL SELECT 'digests', count(*), COALESCE(sum(size), 0) FROM (SELECT digest, max(size) AS size FROM ${s}.attachments GROUP BY digest) d
      ) e LEFT JOIN (SELECT name, sum(count) AS count, sum(bytes) AS bytes FROM ${s}.totals GROUP BY name) t ON t.name = e.name
      WHERE (COALESCE(t.count, 0), COALESCE(t.bytes, 0)) <> (e.count, e.bytes) ORDER BY e.name`,
  ];
}

/** Every problem found, one line each; `[]` for a sound manifest. */
export async function findProblems(session: Session, s: string): Promise<string[]> {
  const version = await session.row<{ version: number }>(`SELECT version FROM ${s}.attache_schema`);
  if (version?.version !== SCHEMA_VERSION) {
    return [`the manifest's schema is at version ${version?.version ?? "none"}, not ${SCHEMA_VERSION}: reopen the store to migrate it`];
  }
  const lines: string[] = [];
  for (const check of checks(s)) lines.push(...(await session.rows<{ line: string }>(check)).map((row) => row.line));
  return lines;
}
