/**
 * Looks at an embedded store from the outside: the files under `blobs/` and
 * `tmp/`, and the manifest's four tables read directly with better-sqlite3
 * (read-only), then reports every way they break the invariants. Used after
 * crashes, concurrent runs and injected faults.
 */
import type Database from "better-sqlite3";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { openSqlite } from "../support/sqlite.js";

export interface AttachmentRow {
  id: string;
  scope: string;
  digest: string;
  size: number;
  mode: string;
  reference_path: string | null;
  persist: number;
  expires_at: number | null;
  created_at: number;
}
export interface BlobRow {
  digest: string;
  size: number;
  refs: number;
  created_at: number;
  /** 1 when the bytes are kept in the manifest (`inline_bytes`). */
  inline: number;
  inline_bytes: Buffer | null;
}
export interface IntentRow {
  id: string;
  digest: string;
  temp_name: string | null;
  created_at: number;
}
export interface LeaseRow {
  id: string;
  attachment_id: string;
  digest: string;
  created_at: number;
  expires_at: number;
}
export interface ManifestRows {
  attachments: AttachmentRow[];
  blobs: BlobRow[];
  intents: IntentRow[];
  leases: LeaseRow[];
  /**
   * Where the manifest keeps running totals (schema v2: `totals`), each kept
   * total next to the value recounted from the rows, in the same read transaction.
   */
  totals: { name: string; kept: [number, number]; recounted: [number, number] }[];
}

/** The recount of each running total the manifest may keep, by `totals.name`. */
const RECOUNTS: Record<string, string> = {
  persistent: "SELECT COUNT(*) AS c, COALESCE(SUM(size), 0) AS b FROM attachments WHERE expires_at IS NULL",
  expiring: "SELECT COUNT(*) AS c, COALESCE(SUM(size), 0) AS b FROM attachments WHERE expires_at IS NOT NULL",
  blobs: "SELECT COUNT(*) AS c, COALESCE(SUM(size), 0) AS b FROM blobs",
  scopes: "SELECT COUNT(DISTINCT scope) AS c, 0 AS b FROM attachments",
  digests: "SELECT COUNT(*) AS c, COALESCE(SUM(size), 0) AS b FROM (SELECT digest, MAX(size) AS size FROM attachments GROUP BY digest)",
};

function readTotals(db: Database.Database): ManifestRows["totals"] {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'totals'").get();
  if (exists === undefined) return [];
  const kept = db.prepare("SELECT name, count, bytes FROM totals").all() as { name: string; count: number; bytes: number }[];
  return kept
    .filter((t) => RECOUNTS[t.name] !== undefined)
    .map((t) => {
      const r = db.prepare(RECOUNTS[t.name] as string).get() as { c: number; b: number };
      return { name: t.name, kept: [t.count, t.name === "scopes" ? 0 : t.bytes], recounted: [r.c, r.b] };
    });
}

interface ScopeTotals {
  scope: string;
  count: number;
  bytes: number;
  pc: number;
  pb: number;
}

/** Schema v5 keeps bytes per scope in `scope_totals`: each row next to its recount (a scope missing on one side counts 0). */
function readScopeTotals(db: Database.Database): ManifestRows["totals"] {
  const columns = db.prepare("PRAGMA table_info(scope_totals)").all() as { name: string }[];
  if (!columns.some((c) => c.name === "persistent_bytes")) return [];
  const byScope = (sql: string) => new Map((db.prepare(sql).all() as ScopeTotals[]).map((row) => [row.scope, row]));
  const kept = byScope("SELECT scope, count, bytes, persistent_count AS pc, persistent_bytes AS pb FROM scope_totals");
  const recounted = byScope(
    `SELECT scope, COUNT(*) AS count, SUM(size) AS bytes, SUM(expires_at IS NULL) AS pc,
       SUM(CASE WHEN expires_at IS NULL THEN size ELSE 0 END) AS pb FROM attachments GROUP BY scope`,
  );
  const zero = { count: 0, bytes: 0, pc: 0, pb: 0 };
  return [...new Set([...kept.keys(), ...recounted.keys()])].flatMap((scope) => {
    const k = kept.get(scope) ?? zero;
    const r = recounted.get(scope) ?? zero;
    return [
      { name: `scope ${JSON.stringify(scope)}`, kept: [k.count, k.bytes] as [number, number], recounted: [r.count, r.bytes] as [number, number] },
      { name: `persistent of scope ${JSON.stringify(scope)}`, kept: [k.pc, k.pb] as [number, number], recounted: [r.pc, r.pb] as [number, number] },
    ];
  });
}

/** The manifest's rows, read with a read-only connection. */
export function readManifest(dir: string): ManifestRows {
  const file = path.join(dir, "manifest.db");
  const db = openSqlite(file, { readonly: true, fileMustExist: true });
  try {
    return db.transaction(() => ({
      attachments: db
        .prepare("SELECT id, scope, digest, size, mode, reference_path, persist, expires_at, created_at FROM attachments ORDER BY id")
        .all() as AttachmentRow[],
      blobs: db
        .prepare(
          `SELECT b.digest, b.size, b.refs, b.created_at, b.inline, i.bytes AS inline_bytes FROM blobs b LEFT JOIN blob_bytes i ON i.digest = b.digest ORDER BY b.digest`,
        )
        .all() as BlobRow[],
      intents: db.prepare("SELECT id, digest, temp_name, created_at FROM intents").all() as IntentRow[],
      leases: db.prepare("SELECT id, attachment_id, digest, created_at, expires_at FROM leases").all() as LeaseRow[],
      totals: [...readTotals(db), ...readScopeTotals(db)],
    }))();
  } finally {
    db.close();
  }
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function hashFile(file: string): string {
  return sha256Hex(fs.readFileSync(file));
}

export interface BlobFile {
  path: string;
  /** Path below `blobs/sha256/`, e.g. `ab/cd/abcd…`. */
  relative: string;
  name: string;
  size: number;
  /** Hard links to the file (1 unless something outside the store shares its inode). */
  links: number;
  /** A symlink rather than a file. */
  symlink: boolean;
}

/** Every file under `<dir>/blobs/`, at any depth. */
export function blobFiles(dir: string): BlobFile[] {
  const root = path.join(dir, "blobs", "sha256");
  const out: BlobFile[] = [];
  const walk = (at: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(at, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        let stats: fs.Stats;
        try {
          stats = fs.lstatSync(full);
        } catch {
          continue; // deleted while we looked
        }
        out.push({ path: full, relative: path.relative(root, full), name: entry.name, size: stats.size, links: stats.nlink, symlink: stats.isSymbolicLink() });
      }
    }
  };
  walk(path.join(dir, "blobs"));
  return out;
}

/** Names of the files in `<dir>/tmp/`. */
export function tempFiles(dir: string): string[] {
  try {
    return fs.readdirSync(path.join(dir, "tmp"));
  } catch {
    return [];
  }
}

export interface AuditOptions {
  /** Re-hash every blob file (slower). @default true */
  hash?: boolean;
  /**
   * Expect a swept, quiet store: the sweep ran at `now` with `gracePeriodMs`
   * and nothing was running. Then no temp file, no intent, no stale lease and
   * no unreferenced blob may remain.
   */
  clean?: { now: number; gracePeriodMs: number };
}

export interface Audit {
  violations: string[];
  rows: ManifestRows;
  files: BlobFile[];
  temps: string[];
}

/**
 * Checks what must hold at any instant (every blob file is complete and has
 * a row, reference counts match the attachments, every managed attachment
 * has its bytes) and, with `clean`, that nothing is left over.
 */
export function auditStore(dir: string, options: AuditOptions = {}): Audit {
  const violations: string[] = [];
  const rows = readManifest(dir);
  const files = blobFiles(dir);
  const temps = tempFiles(dir);
  const blobRows = new Map(rows.blobs.map((b) => [b.digest, b]));
  const fileByDigest = new Map<string, BlobFile>();

  for (const file of files) {
    const hex = /^[0-9a-f]{64}$/.test(file.name) ? file.name : null;
    const expected = hex === null ? null : `${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`;
    if (hex === null || file.relative !== expected) {
      violations.push(`stray file under blobs/: ${file.relative}`);
      continue;
    }
    fileByDigest.set(hex, file);
    if (file.symlink) violations.push(`blob ${hex} is a symlink: its bytes live outside the store`);
    if (options.hash !== false) {
      let actual: string | null;
      try {
        actual = hashFile(file.path);
      } catch {
        actual = null; // deleted while we looked
      }
      if (actual !== null && actual !== hex) violations.push(`half-written or corrupt blob ${hex}: hashes to ${actual} (${file.size} bytes)`);
    }
    if (!blobRows.has(hex)) violations.push(`blob file ${hex} has no blob row (leaked for ever: the sweep never walks blobs/)`);
  }

  const managedCount = new Map<string, number>();
  for (const a of rows.attachments) {
    if (a.reference_path !== null) continue;
    managedCount.set(a.digest, (managedCount.get(a.digest) ?? 0) + 1);
    if (!blobRows.has(a.digest)) violations.push(`attachment ${a.id} uses blob ${a.digest}, which has no row`);
  }
  for (const blob of rows.blobs) {
    const users = managedCount.get(blob.digest) ?? 0;
    if (blob.refs !== users) violations.push(`blob ${blob.digest}: refs = ${blob.refs} but ${users} managed attachments use it`);
    const file = fileByDigest.get(blob.digest);
    if (blob.inline === 1) {
      // Small bytes kept in the manifest: no file, and the bytes are whole.
      if (file !== undefined) violations.push(`blob ${blob.digest} is inline and has a file under blobs/ too`);
      const bytes = blob.inline_bytes;
      if (bytes === null || bytes === undefined) violations.push(`inline blob ${blob.digest} has no bytes`);
      else if (bytes.length !== blob.size || (options.hash !== false && sha256Hex(bytes) !== blob.digest)) {
        violations.push(`inline blob ${blob.digest}: its ${bytes.length} bytes do not hash to its digest`);
      }
      continue;
    }
    if (users > 0 && file === undefined) violations.push(`blob ${blob.digest} is used by ${users} attachments but its file is missing`);
    if (file !== undefined && file.size !== blob.size) violations.push(`blob ${blob.digest}: file has ${file.size} bytes, row says ${blob.size}`);
  }

  for (const t of rows.totals) {
    if (t.kept[0] !== t.recounted[0] || t.kept[1] !== t.recounted[1]) {
      violations.push(`running total "${t.name}" says ${t.kept.join("/")} but the rows count ${t.recounted.join("/")}`);
    }
  }

  if (options.clean) {
    const { now, gracePeriodMs } = options.clean;
    for (const temp of temps) violations.push(`temp file left after the sweep: tmp/${temp}`);
    for (const intent of rows.intents) violations.push(`intent left after the sweep: ${intent.id} (${intent.digest}, temp ${intent.temp_name})`);
    for (const lease of rows.leases) {
      if (lease.expires_at <= now - gracePeriodMs) violations.push(`stale lease left after the sweep: ${lease.id}`);
    }
    for (const blob of rows.blobs) {
      if (blob.refs > 0) continue;
      const pinned = rows.leases.some((l) => l.digest === blob.digest && l.expires_at > now);
      if (!pinned) violations.push(`unreferenced blob left after the sweep: ${blob.digest}`);
    }
    for (const blob of rows.blobs) {
      if (blob.inline !== 1 && !fileByDigest.has(blob.digest)) violations.push(`blob row ${blob.digest} without a file after the sweep`);
    }
    for (const file of files) {
      if (file.links > 1) violations.push(`blob ${file.name} shares its inode with ${file.links - 1} other link(s) after the sweep: a write there changes the blob`);
    }
  }
  return { violations, rows, files, temps };
}
