/**
 * The embedded manifest: SQLite (better-sqlite3) in WAL mode at
 * `<dir>/manifest.db`, shared safely by every process that opens the store.
 *
 *   attachments(id PK, scope, digest, …, expires_at)   UNIQUE(scope, digest); index on expires_at
 *   blobs(digest PK, size, refs, created_at, condemned_by)   partial index on refs = 0
 *   intents(id PK, digest, temp_name, writer_id, created_at) stages between "bytes written" and "committed"
 *   leases(id PK, attachment_id, digest, expires_at)   pins on bytes
 *   writers(id PK, host, pid, heartbeat_at)             open store handles
 *
 * `blobs.refs` counts the attachment rows (live or expired) that use the
 * managed blob, so the sweep finds deletable blobs from an index instead of a
 * scan. Writes run in `BEGIN IMMEDIATE` transactions, each one synchronous
 * (none spans an await); within a process they are queued on a mutex. The
 * rooms are in attachments.ts, blobs.ts and pins.ts, their SQL in sql.ts.
 */
import path from "node:path";
import { ioError } from "../../errors.js";
import type { Manifest, ManifestMetrics, ManifestScopeMetrics } from "../manifest.js";
import { SqliteAttachments } from "./attachments.js";
import { SqliteBlobs } from "./blobs.js";
import { openConnection, releaseConnection, truncateWal, type SharedConnection } from "./connection.js";
import { SqliteDatabase } from "./database.js";
import { settleWrites } from "./group-commit.js";
import { SqlitePins } from "./pins.js";
import { readLargestScopes, readMetrics, readScopeMetrics } from "./schema.js";
import { RESET_SQL } from "./sql.js";
import { SqliteUploads } from "./uploads.js";

/** Free pages handed back to the filesystem per transaction of `reclaimSpace()` (4 MiB at the default page size), and transactions per call. */
const VACUUM_PAGES = 1024;
const VACUUM_ROUNDS = 64;

/** The file's free pages, or 0 when it cannot give them back (made before `auto_vacuum = INCREMENTAL`). */
function freePages(connection: SharedConnection): number {
  if (connection.prepare<[], { auto_vacuum: number }>("PRAGMA auto_vacuum").get()?.auto_vacuum !== 2) return 0;
  return connection.prepare<[], { freelist_count: number }>("PRAGMA freelist_count").get()?.freelist_count ?? 0;
}

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

export function sqliteManifest(options: SqliteManifestOptions): Manifest {
  return new SqliteManifest(options);
}

class SqliteManifest implements Manifest {
  readonly kind = "sqlite";
  private readonly db: SqliteDatabase;
  readonly attachments: SqliteAttachments;
  readonly blobs: SqliteBlobs;
  readonly pins: SqlitePins;
  readonly uploads: SqliteUploads;

  constructor(private readonly options: SqliteManifestOptions) {
    this.db = new SqliteDatabase(options.busyTimeoutMs ?? 10_000);
    this.attachments = new SqliteAttachments(this.db);
    this.blobs = new SqliteBlobs(this.db);
    this.pins = new SqlitePins(this.db);
    this.uploads = new SqliteUploads(this.db);
  }

  async open(): Promise<void> {
    const file = path.resolve(this.options.file);
    try {
      this.db.connection = await openConnection(file, this.db.busyTimeoutMs, this.options.synchronous ?? "NORMAL");
    } catch (err) {
      throw ioError(`open the manifest ${file}`, err, file);
    }
  }

  metrics(now: number): Promise<ManifestMetrics> {
    return this.db.read("compute metrics", () => readMetrics(this.db.open, now));
  }

  scopeMetrics(scope: string, now: number): Promise<ManifestScopeMetrics> {
    return this.db.read("compute the scope's metrics", () => readScopeMetrics(this.db.open, scope, now));
  }

  largestScopes(limit: number, now: number): Promise<ManifestScopeMetrics[]> {
    return this.db.read("find the largest scopes", () => readLargestScopes(this.db.open, limit, now));
  }

  checkIntegrity(): Promise<string[]> {
    try {
      // At most 100 lines: enough to tell an operator the file is damaged and where, without flooding a report.
      const rows = this.db.open.db.pragma("integrity_check(100)") as { integrity_check: string }[];
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
    return this.db.write(
      "reset the manifest",
      () => {
        this.db.open.db.exec(RESET_SQL);
      },
      (_done, records) => records.clear(),
    );
  }

  /**
   * Gives the free pages (those of deleted inline bytes) back to the
   * filesystem, {@link VACUUM_PAGES} per write transaction so that no other
   * writer waits long, up to {@link VACUUM_ROUNDS} rounds per call. A no-op on
   * a database created before version 8 (auto_vacuum off; see connection.ts).
   */
  async reclaimSpace(): Promise<void> {
    // Most sweeps free no page: a read finds that out without taking the write lock.
    if ((await this.db.read("read the manifest", () => freePages(this.db.open))) === 0) return;
    for (let round = 0; round < VACUUM_ROUNDS; round++) {
      const left = await this.db.write("give free pages back to the filesystem", () => {
        if (freePages(this.db.open) === 0) return 0;
        this.db.open.db.exec(`PRAGMA incremental_vacuum(${VACUUM_PAGES})`);
        return freePages(this.db.open);
      });
      if (left === 0) return;
    }
  }

  checkpoint(): Promise<void> {
    return this.db.connection === undefined ? Promise.resolve() : truncateWal(this.db.connection);
  }

  async close(): Promise<void> {
    const connection = this.db.connection;
    if (connection === undefined) return;
    this.db.connection = undefined;
    // Writes queued for the next batch go first.
    await settleWrites(connection);
    return connection.writes.run(() => releaseConnection(path.resolve(this.options.file), connection));
  }
}
