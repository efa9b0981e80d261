// A store with a large manifest, built directly in SQLite.
//
// Staging a million attachments through stage() takes far longer than the
// benchmark may (every stage fsyncs a temp file and commits two
// transactions), so the sweep and memory scenarios build the manifest rows
// directly, in the schema attache itself creates (src/backends/sqlite/):
// the store is first opened through the public API (which creates the
// schema), then closed; the rows are inserted with better-sqlite3 exactly as
// `commitStage` would leave them (one attachment per distinct blob, the
// blob's `refs` = 1); then the store is reopened through the public API to
// check the counts. Blob files are written for the attachments that can
// expire (the sweep deletes those; a second hard link in keep/ lets the next
// run restore them); the other blob files are not created, since nothing in
// these scenarios reads them.
//
// Expiry: every row is created at T0 with a ttl. Rows [0, 1000) expire at
// T0 + 1 h, rows [1000, 10000) at T0 + 2 h, rows [10000, maxExpired) at
// T0 + 3 h, the rest at T0 + 30 d. A store opened with `clock: () => T0 +
// 30 min` sees none expired, with T0 + 90 min the first 1,000, with T0 +
// 150 min the first 10,000, with T0 + 210 min the first `maxExpired`.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { REPO_DIR, loadAttache, log } from "./common.js";

const require = createRequire(path.join(REPO_DIR, "package.json"));
const Database = require("better-sqlite3");

const HOUR = 3_600_000;
export const T0 = Date.UTC(2030, 0, 1);
export const BLOB_SIZE = 4096;
/** Bumped when the rows a fixture holds change: an older fixture found on disk is built again. */
const FORMAT = 2;
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/** Expiry tiers: rows below each bound expire an hour after those of the previous tier. */
const TIERS = [1000, 10_000];

/** The clock that makes exactly `expired` rows (0, 1,000, 10,000 or maxExpired) expired. */
export function clockFor(expired, maxExpired) {
  if (expired === 0) return T0 + HOUR / 2;
  const tier = TIERS.indexOf(expired);
  if (tier >= 0 && expired <= maxExpired) return T0 + (tier + 1.5) * HOUR;
  if (expired === maxExpired) return T0 + (TIERS.length + 1.5) * HOUR;
  throw new Error(`no clock for ${expired} expired`);
}

function encode(n, width) {
  let out = "";
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 32] + out;
    n = Math.floor(n / 32);
  }
  return out;
}

/** ULID-shaped ids, sorted by i (same shape as src/ids.ts). */
export function fixtureId(i) {
  return encode(T0, 10) + encode(i, 16);
}

function digestOf(i) {
  return createHash("sha256").update(content(i)).digest("hex");
}

function content(i) {
  const buf = Buffer.alloc(BLOB_SIZE);
  buf.write(`attache benchmark blob #${i}\n`);
  return buf;
}

function expiry(i, maxExpired) {
  if (i >= maxExpired) return T0 + 30 * 24 * HOUR;
  const tier = TIERS.findIndex((bound) => i < bound);
  return T0 + (tier === -1 ? TIERS.length + 1 : tier + 1) * HOUR;
}

/**
 * Builds (once) a store directory at `dir` with `total` attachments, of which
 * up to `maxExpired` can be expired by the clock. Returns a description.
 */
export async function ensureFixture(dir, total, maxExpired) {
  const metaFile = path.join(dir, "fixture.json");
  if (fs.existsSync(metaFile)) {
    const meta = JSON.parse(fs.readFileSync(metaFile, "utf8"));
    if (meta.format === FORMAT) return meta;
  }
  const { openStore } = await loadAttache();
  fs.rmSync(dir, { recursive: true, force: true });
  const started = performance.now();
  log(`fixture: building a manifest of ${total} attachments in SQLite (${maxExpired} expirable with blob files)`);

  const store = await openStore({ dir, sweepInterval: false, clock: () => T0 });
  await store.close();

  const db = new Database(path.join(dir, "manifest.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = OFF");
  const insertAttachment = db.prepare(
    `INSERT INTO attachments (id, scope, digest, size, name, content_type, mode, reference_path, persist, ttl_ms,
       created_at, updated_at, expires_at, source, metadata)
     VALUES (?, ?, ?, ?, ?, 'application/octet-stream', 'copy', NULL, 0, ?, ?, ?, ?, NULL, '{}')`,
  );
  const insertBlob = db.prepare("INSERT INTO blobs (digest, size, refs, created_at) VALUES (?, ?, 1, ?)");
  const blobRoot = path.join(dir, "blobs", "sha256");
  const keepDir = path.join(dir, "keep");
  fs.mkdirSync(keepDir, { mode: 0o700 });
  const batch = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      const bytes = content(i);
      const digest = createHash("sha256").update(bytes).digest("hex");
      const expiresAt = expiry(i, maxExpired);
      insertAttachment.run(fixtureId(i), `chat:${i % 1000}`, digest, BLOB_SIZE, `file-${i}.bin`, expiresAt - T0, T0, T0, expiresAt);
      insertBlob.run(digest, BLOB_SIZE, T0);
      if (i < maxExpired) {
        const fileDir = path.join(blobRoot, digest.slice(0, 2), digest.slice(2, 4));
        fs.mkdirSync(fileDir, { recursive: true, mode: 0o700 });
        fs.writeFileSync(path.join(fileDir, digest), bytes, { mode: 0o600 });
        fs.linkSync(path.join(fileDir, digest), path.join(keepDir, digest));
      }
    }
  });
  const STEP = 50_000;
  for (let from = 0; from < total; from += STEP) batch(from, Math.min(total, from + STEP));
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();

  // Check through the public API.
  const check = await openStore({ dir, sweepInterval: false, clock: () => clockFor(0, maxExpired) });
  const m = await check.metrics();
  if (m.attachments !== total || m.blobs !== total || m.expired.count !== 0) {
    throw new Error(`fixture check failed: ${JSON.stringify(m)}`);
  }
  const probe = await check.get(`attache://${fixtureId(total - 1)}`);
  if (probe.size !== BLOB_SIZE) throw new Error("fixture check failed: get");
  await check.close();

  const meta = { format: FORMAT, dir, total, maxExpired, t0: T0, blobSize: BLOB_SIZE, buildMs: performance.now() - started };
  fs.writeFileSync(metaFile, JSON.stringify(meta));
  log(`fixture: ${total} attachments built in ${(meta.buildMs / 1000).toFixed(1)} s`);
  return meta;
}

/**
 * Lends the fixture's store out as `runDir` (a fresh copy of the manifest; the
 * blob tree moved in by one rename), runs `fn(runDir)`, then moves the blob
 * tree back and re-links the blob files a sweep of `expired` attachments deleted (from `keep/`, a flat
 * directory holding a second hard link to every blob file). Creating inodes
 * is slow on some filesystems; this keeps each run to one file copy, two
 * renames and one link per deleted blob.
 */
export async function withFixtureStore(fixture, runDir, expired, fn) {
  const blobs = path.join(fixture.dir, "blobs");
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  fs.copyFileSync(path.join(fixture.dir, "manifest.db"), path.join(runDir, "manifest.db"));
  fs.mkdirSync(path.join(runDir, "tmp"), { mode: 0o700 });
  fs.renameSync(blobs, path.join(runDir, "blobs"));
  try {
    return await fn(runDir);
  } finally {
    fs.renameSync(path.join(runDir, "blobs"), blobs);
    fs.rmSync(runDir, { recursive: true, force: true });
    restoreBlobFiles(fixture, expired);
  }
}

function blobFile(dir, digest) {
  return path.join(dir, "blobs", "sha256", digest.slice(0, 2), digest.slice(2, 4), digest);
}

/** Re-links the blob files of rows [0, count), the ones a sweep of `count` expired attachments deletes. */
function restoreBlobFiles(fixture, count) {
  for (let i = 0; i < count; i++) {
    const digest = digestOf(i);
    const file = blobFile(fixture.dir, digest);
    try {
      fs.linkSync(path.join(fixture.dir, "keep", digest), file);
    } catch (err) {
      if (err.code === "EEXIST") continue;
      if (err.code !== "ENOENT") throw err;
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fs.linkSync(path.join(fixture.dir, "keep", digest), file);
    }
  }
}
