// A crash-harness worker: stages (paths and streams, copy, move and
// reference), releases, leases and sweeps in a loop on one store until the
// parent kills it with SIGKILL. It journals, fsynced, every stage that
// returned and every release around its call, so the parent knows what must
// still be live after the kill. It never exits on its own.
//
// It may also run verify({ repair: true }) (nothing is damaged here: the
// report must be clean) and, in the rounds that allow it (resetWeight > 0),
// reset(). Resets are logged to the round's shared reset log (workload.mjs,
// resetLogMark/resetSince) and journalled around the call; each stage records
// the log's size when it began (its mark), so this worker and the parent know
// which attachments a reset may have dropped. Nothing else may go missing, and
// a reset may make a stage fail only with an AttacheError, never make a read
// fail with INTEGRITY_ERROR.
//
// Config (ATTACHE_WORKER, JSON): { dir, journal, slot, seed, stress,
//   refPool: [path], workDir, moveDir, xdevDir | null, resetLog, resetWeight }
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  chunkedStream,
  describeError,
  openJournal,
  prng,
  resetLogMark,
  resetSince,
  sha256,
  sharedContent,
  sharedSizes,
  uniqueContent,
  writeSourceFile,
} from "./workload.mjs";

const config = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
const { openStore, isAttacheError } = await import(process.env.ATTACHE_DIST);
const rng = prng(config.seed);
const sizes = sharedSizes(config.stress);
const SHARED = sizes.length * 2;
const journal = openJournal(config.journal);
const ownScopes = [`w${config.slot}:a`, `w${config.slot}:b`, `w${config.slot}:c`];

const store = await openStore({ dir: config.dir, sweepInterval: false });
journal.log({ e: "ready", pid: process.pid });
console.log("ready");

/** Attachments this process staged and has not released: { id, ref, digest, scope, mark }. */
const mine = [];

const mark = () => resetLogMark(config.resetLog);
/** True when a reset may have dropped what was staged when the reset log was `since` bytes long. */
const resetAfter = (since) => resetSince(config.resetLog, since);
const isNotFound = (err) => isAttacheError(err, "NOT_FOUND");

/** Drops `m` from `mine` after a reset took it (journalled: the parent checks it is really gone or still reads). */
function goneAfterReset(m, what) {
  const i = mine.indexOf(m);
  if (i >= 0) mine.splice(i, 1);
  journal.log({ e: "goneAfterReset", id: m.id, what });
}

function violation(message) {
  journal.log({ e: "violation", message });
}

function pickBytes() {
  return rng.chance(0.7) ? sharedContent(rng.int(SHARED), sizes) : uniqueContent(rng, config.stress ? 4_000_000 : 300_000);
}

function lifetime() {
  return rng.chance(0.2) ? { persist: true } : { ttl: "7d" };
}

async function tracked(mode, source, bytesDigest, extra = {}) {
  const scope = rng.pick(ownScopes);
  const since = mark();
  journal.log({ e: "op", op: `stage-${mode}`, scope, mark: since, ...extra });
  const a = await store.stage(source, { scope, mode, ...lifetime() });
  journal.log({ e: "stage", ...extra, id: a.id, digest: a.checksum, mode, scope, mark: since });
  if (bytesDigest !== undefined && a.checksum !== bytesDigest) violation(`stage of ${bytesDigest} returned digest ${a.checksum}`);
  // Staging bytes the scope already holds returns the same attachment: track it once (with its latest mark).
  const known = mine.find((m) => m.id === a.id);
  if (known === undefined) mine.push({ id: a.id, ref: a.ref, digest: a.checksum, scope, mark: since });
  else known.mark = since;
  return a;
}

const operations = {
  async copyPath() {
    const bytes = pickBytes();
    const file = writeSourceFile(config.workDir, bytes, "copy");
    await tracked("copy", file, sha256(bytes));
    fs.rmSync(file, { force: true });
  },
  async copyStream() {
    const bytes = pickBytes();
    await tracked("copy", chunkedStream(bytes, rng, rng.chance(0.3)), sha256(bytes));
  },
  async copyBuffer() {
    const bytes = pickBytes();
    await tracked("copy", bytes, sha256(bytes));
  },
  async move() {
    const bytes = pickBytes();
    const dir = config.xdevDir !== null && rng.chance(0.3) ? config.xdevDir : config.moveDir;
    const file = writeSourceFile(dir, bytes, "move");
    const digest = sha256(bytes);
    try {
      await tracked("move", file, digest, { src: file, digest });
    } catch (err) {
      // A move that failed (a reset in another process, say) leaves the user's file where it was.
      if (!fs.existsSync(file)) violation(`move of ${file} failed (${describeError(err)}) and the source file is gone`);
      throw err;
    }
    if (fs.existsSync(file)) violation(`move of ${file} returned but the source is still there`);
  },
  async reference() {
    const file = rng.pick(config.refPool);
    await tracked("reference", file, undefined, { src: file });
  },
  async churn() {
    // Short-lived, untracked, shared scope: expiries and sweeps delete blobs others are staging.
    const bytes = sharedContent(rng.int(SHARED), sizes);
    journal.log({ e: "op", op: "churn" });
    const a = await store.stage(bytes, { scope: "churn", ttl: 1 + rng.int(200) });
    if (rng.chance(0.5)) await store.release(a.ref);
  },
  async release() {
    if (mine.length === 0) return;
    const [victim] = mine.splice(rng.int(mine.length), 1);
    journal.log({ e: "release?", id: victim.id });
    const released = await store.release(victim.ref);
    journal.log({ e: "release", id: victim.id, released });
    if (!released && !resetAfter(victim.mark)) violation(`release of live ${victim.id} returned false`);
  },
  async releaseScope() {
    const scope = rng.pick(ownScopes);
    journal.log({ e: "releaseScope?", scope });
    const n = await store.releaseScope(scope);
    journal.log({ e: "releaseScope", scope, n });
    for (let i = mine.length - 1; i >= 0; i--) if (mine[i].scope === scope) mine.splice(i, 1);
  },
  async lease() {
    if (mine.length === 0) return;
    const target = rng.pick(mine);
    journal.log({ e: "op", op: "lease", id: target.id });
    let lease;
    try {
      lease = await store.lease(target.ref, { ttl: rng.chance(0.5) ? "10m" : "300ms" });
    } catch (err) {
      if (isNotFound(err) && resetAfter(target.mark)) return goneAfterReset(target, "lease");
      throw err;
    }
    let file;
    try {
      file = fs.readFileSync(lease.path);
    } catch (err) {
      // A lease keeps its bytes from releases and sweeps, not from a reset (which drops leases too).
      if (err?.code === "ENOENT" && resetAfter(target.mark)) return;
      throw err;
    }
    const digest = sha256(file);
    if (digest !== target.digest) violation(`lease path of ${target.id} hashes to ${digest}, not ${target.digest}`);
    if (rng.chance(0.7)) await lease.release();
  },
  async sweep() {
    journal.log({ e: "op", op: "sweep" });
    await store.sweep();
  },
  async read() {
    if (mine.length === 0) return;
    const target = rng.pick(mine);
    journal.log({ e: "op", op: "read", id: target.id });
    let bytes;
    try {
      bytes = await store.read(target.ref);
    } catch (err) {
      if (isNotFound(err) && resetAfter(target.mark)) return goneAfterReset(target, "read");
      throw err;
    }
    if (sha256(bytes) !== target.digest) violation(`read of ${target.id} gave other bytes`);
  },
  async verifyRepair() {
    journal.log({ e: "op", op: "verifyRepair" });
    const report = await store.verify({ repair: true });
    // Nothing is damaged in these runs. What a killed worker leaves is stray files, and blobs a killed move left
    // sharing an inode with its source (verify gives them their own: counted in `repaired`, not reported as damage).
    // With nothing missing or corrupt, no attachment can have been dropped: only those two kinds of repair remain.
    journal.log({ e: "verified", repaired: report.repaired, orphanFiles: report.orphanFiles.length });
    if (report.missing.length > 0) violation(`verify({ repair: true }) reported missing ${report.missing.join(", ")}`);
    if (report.corrupt.length > 0) violation(`verify({ repair: true }) reported corrupt ${report.corrupt.join(", ")}`);
    if (report.manifestProblems.length > 0) violation(`verify({ repair: true }) reported manifest problems: ${report.manifestProblems.join("; ")}`);
  },
  async reset() {
    const id = `${process.pid}-${++resets}`;
    journal.log({ e: "reset?", id });
    fs.appendFileSync(config.resetLog, `b ${id}\n`);
    await store.reset();
    fs.appendFileSync(config.resetLog, `e ${id}\n`);
    journal.log({ e: "reset", id });
    // One operation at a time here: everything this process staged before is gone.
    mine.splice(0);
  },
};
let resets = 0;

const weights = {
  copyPath: 14,
  copyStream: 12,
  copyBuffer: 5,
  move: 10,
  reference: 8,
  churn: 14,
  release: 8,
  releaseScope: 2,
  lease: 10,
  sweep: 7,
  read: 10,
  verifyRepair: 3,
  reset: config.resetWeight ?? 0,
};

for (;;) {
  const name = rng.weighted(weights);
  const since = mark();
  try {
    await operations[name]();
  } catch (err) {
    // Only typed, expected failures are tolerated; anything else is a finding.
    if (!isAttacheError(err)) violation(`${name} threw a non-AttacheError: ${describeError(err)}`);
    // A reset in another process may make an operation fail cleanly, never report damage.
    else if (!isAttacheError(err, "INTEGRITY_ERROR") && resetAfter(since)) journal.log({ e: "interrupted", op: name, error: describeError(err) });
    else violation(`${name} failed: ${describeError(err)}`);
    await sleep(1);
  }
}
