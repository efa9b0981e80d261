// The SQLite floors under attache's small-file figures: the statements the
// manifest itself runs, issued straight through better-sqlite3 with no
// pipeline around them (no hashing stream, no sniffing, no option parsing,
// no promise per call). They show how much of a figure is the embedded
// database and how much is attache. The statements mirror the SQLite
// manifest's (src/backends/sqlite/sql.ts, schema version 8); the tables are
// the ones attache created for the store.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { REPO_DIR } from "./common.js";

const require = createRequire(path.join(REPO_DIR, "package.json"));
const Database = require("better-sqlite3");

/** The pragmas attache sets on its connection (src/backends/sqlite/connection.ts), for durability "normal". */
function connect(file, options = {}) {
  const db = new Database(file, options);
  db.exec("PRAGMA journal_size_limit = 4194304");
  if (!options.readonly) {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
  }
  return db;
}

/**
 * What an inline stage commits (`commitInline` for new bytes): the blob row,
 * its bytes, the attachment row (with its triggers) and the reference, in one
 * transaction per buffer, after hashing it. `dir` is a store attache created
 * and closed. Returns `stage(buffer, i)` and `close()`.
 */
export function inlineStageFloor(dir, scope = "default") {
  const db = connect(path.join(dir, "manifest.db"));
  const insertBlob = db.prepare("INSERT INTO blobs (digest, size, refs, created_at, inline) VALUES (?, ?, 0, ?, 1)");
  const insertBytes = db.prepare("INSERT INTO blob_bytes (digest, bytes) VALUES (?, ?)");
  const insertAttachment = db.prepare(
    `INSERT INTO attachments (id, scope, digest, size, name, content_type, mode, reference_path, persist, ttl_ms,
       created_at, updated_at, expires_at, source, metadata)
     VALUES (?, ?, ?, ?, ?, 'application/octet-stream', 'copy', NULL, 0, ?, ?, ?, ?, NULL, '{}')`,
  );
  const addRef = db.prepare("UPDATE blobs SET refs = refs + 1 WHERE digest = ?");
  const ttl = 86_400_000;
  const commit = db.transaction((digest, buffer, i, now) => {
    insertBlob.run(digest, buffer.length, now);
    insertBytes.run(digest, buffer);
    insertAttachment.run(`floor${String(i).padStart(21, "0")}`, scope, digest, buffer.length, `file-${i}.bin`, ttl, now, now, now + ttl);
    addRef.run(digest);
  });
  return {
    stage(buffer, i) {
      const digest = createHash("sha256").update(buffer).digest("hex");
      commit.immediate(digest, buffer, i, Date.now());
    },
    close: () => db.close(),
  };
}

/**
 * What `get()` asks the manifest on a lookup the record cache does not hold:
 * the database's change counter, then the row by primary key (with whether
 * its blob is inline). Read-only connection on the store's manifest.
 */
export function lookupFloor(dir) {
  const db = connect(path.join(dir, "manifest.db"), { readonly: true });
  const version = db.prepare("PRAGMA data_version");
  const byId = db.prepare(
    "SELECT attachments.*, (SELECT inline FROM blobs WHERE blobs.digest = attachments.digest) AS inline FROM attachments WHERE id = ?",
  );
  return {
    get(id) {
      version.get();
      return byId.get(id);
    },
    close: () => db.close(),
  };
}

/**
 * What a sweep of `expected` expired attachments must do at the least, with
 * no fence and no pipeline: drop the due attachment rows (their triggers
 * keep the running totals) and their blob references, 500 per transaction
 * as the sweep does, then drop the blob rows, then unlink the blob files.
 * `dir` is a fixture store (file blobs under blobs/sha256/). Returns ms.
 */
export function sweepFloor(dir, now, expected) {
  const db = connect(path.join(dir, "manifest.db"));
  const started = performance.now();
  const due = db.prepare("SELECT id, digest FROM attachments WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT 500");
  const dropAttachment = db.prepare("DELETE FROM attachments WHERE id = ?");
  const dropRef = db.prepare("UPDATE blobs SET refs = refs - 1 WHERE digest = ? AND refs > 0");
  const dropBlob = db.prepare("DELETE FROM blobs WHERE digest = ? AND refs = 0");
  const expire = db.transaction(() => {
    const rows = due.all(now);
    for (const row of rows) {
      dropAttachment.run(row.id);
      dropRef.run(row.digest);
    }
    return rows.map((row) => row.digest);
  });
  const forget = db.transaction((digests) => {
    for (const digest of digests) dropBlob.run(digest);
  });
  const digests = [];
  for (;;) {
    const batch = expire.immediate();
    digests.push(...batch);
    if (batch.length < 500) break;
  }
  for (let i = 0; i < digests.length; i += 500) forget.immediate(digests.slice(i, i + 500));
  for (const digest of digests) fs.unlinkSync(path.join(dir, "blobs", "sha256", digest.slice(0, 2), digest.slice(2, 4), digest));
  const ms = performance.now() - started;
  db.close();
  if (digests.length !== expected) throw new Error(`sweep floor dropped ${digests.length} attachments, expected ${expected}`);
  return ms;
}
