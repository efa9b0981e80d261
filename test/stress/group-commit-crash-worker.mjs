// A group-commit crash worker: keeps many stages, releases and leases in
// flight on one store, so the SQLite manifest's group commit batches them,
// and SIGKILLs itself at one chosen point of one batch. No product hook: it
// wraps `Database.prototype.transaction` of the very better-sqlite3 module the
// built library imports (resolved from the same node_modules), so it sees each
// batch (the outer BEGIN IMMEDIATE transaction of group-commit.ts) and each
// write's savepoint inside it. Kill points (config.kind):
//
//   inside   in the k-th savepoint (k ≥ 2) of a batch, as the savepoint's write
//            begins (at: "enter") or once it ran, before its RELEASE ("leave")
//   commit   right after a batch of ≥ 2 writes returned from COMMIT, before any
//            of its promises resolved (the kill is synchronous)
//   between  after a batch committed and its promises resolved, before the next
//            batch's BEGIN
//
// Before dying it writes config.expectFile (fsynced): the manifest's committed
// state at that instant, read through a second connection (in WAL mode it sees
// only committed transactions), and, for inside/commit, what the batch wrote
// (its connection's view now against its view at the batch's BEGIN: so writes
// a broken batch committed early still count as the batch's). Every stage outcome is journalled, fsynced, the moment its promise
// resolves; so is every release, around its call.
//
// Config (ATTACHE_WORKER, JSON): { dir, journal, expectFile, seed, round,
//   durability, kind, k, at, warmBatches, lanes }
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import { dumpManifest, diffDumps } from "../helpers/manifest-dump.mjs";
import { describeError, openJournal, prng, sha256 } from "./workload.mjs";

const config = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
// The library's own better-sqlite3: resolved from the dist entry, as its `import Database from "better-sqlite3"` is.
const Database = createRequire(process.env.ATTACHE_DIST)("better-sqlite3");
const { openStore, isAttacheError } = await import(process.env.ATTACHE_DIST);
const rng = prng(config.seed);
const journal = openJournal(config.journal);

// ---- aiming the kill -------------------------------------------------------

/** Set once the store is open: the migration's transaction at open is not a batch. */
let armed = false;
/** Batches begun since arming; the current batch's savepoints (= its writes so far). */
let batches = 0;
let savepoints = 0;
let lastBatchSize = 0;
const batchSizes = [];
let k = config.k;
/** For kind "commit": set in the batch body when it qualifies; acted on once COMMIT returned. */
let commitKill = null;
let reader;

/** Writes what the parent must find, then dies at once. */
function die(info) {
  const committed = dumpManifest(reader);
  const fd = fs.openSync(config.expectFile, "w");
  fs.writeSync(fd, JSON.stringify({ ...info, batches, batchSizes, committed }));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  journal.log({ e: "kill", kind: info.kind, size: info.size, ms: Math.round(performance.now()) });
  process.kill(process.pid, "SIGKILL");
  // SIGKILL to oneself is delivered before kill(2) returns; never run on regardless.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}

/** The manifest as the batch found it at its BEGIN (read through its own connection), when it may be killed in. */
let batchStart = null;

/** What the batch wrote so far: its connection's view now against the view at its BEGIN. */
function batchWrites(db) {
  return diffDumps(batchStart, dumpManifest(db));
}

function onSavepoint(db, when) {
  if (config.kind !== "inside" || batches <= config.warmBatches) return;
  if (savepoints === k && config.at === when) die({ kind: "inside", at: when, k, size: savepoints, ...batchWrites(db) });
}

const originalTransaction = Database.prototype.transaction;
let depth = 0;
Database.prototype.transaction = function transaction(fn) {
  // The worker's own reader is no batch.
  return this === reader ? originalTransaction.call(this, fn) : watchedTransaction(this, fn);
};

/** better-sqlite3's transaction function for `fn` on `db`, with the kill points around its body, savepoints and COMMIT. */
function watchedTransaction(db, fn) {
  function body(...args) {
    const outer = depth === 0;
    depth++;
    try {
      if (armed && outer) {
        savepoints = 0;
        batchStart = config.kind !== "between" && batches > config.warmBatches ? dumpManifest(db) : null;
      }
      if (armed && !outer) {
        savepoints++;
        onSavepoint(db, "enter");
      }
      const result = fn.apply(this, args);
      if (armed && !outer) onSavepoint(db, "leave");
      if (armed && outer && config.kind === "commit" && batches > config.warmBatches && savepoints >= 2) {
        commitKill = { kind: "commit", size: savepoints, ...batchWrites(db) };
      }
      return result;
    } finally {
      depth--;
    }
  }
  const wrapped = originalTransaction.call(db, body);
  const variant = (name) =>
    function (...args) {
      const outer = armed && !db.inTransaction;
      if (outer && config.kind === "between" && batches >= config.warmBatches) die({ kind: "between", size: lastBatchSize });
      if (outer) batches++;
      let result;
      try {
        result = wrapped[name].apply(this, args);
      } catch (err) {
        commitKill = null;
        throw err;
      }
      if (outer) {
        // COMMIT has returned: this batch is durable, and none of its promises has resolved yet.
        // A lone write may run as the outer transaction itself, with no savepoint: a batch of one.
        lastBatchSize = Math.max(1, savepoints);
        batchSizes.push(lastBatchSize);
        if (commitKill !== null) die(commitKill);
        // A batch that never reaches k writes: aim lower after a while (never below 2).
        if (config.kind === "inside" && batches > config.warmBatches + 20 && k > 2) {
          k--;
          config.warmBatches = batches;
        }
      }
      return result;
    };
  const out = variant("default");
  for (const name of ["deferred", "immediate", "exclusive"]) out[name] = variant(name);
  return out;
}

// ---- the workload ----------------------------------------------------------

const store = await openStore({ dir: config.dir, sweepInterval: false, durability: config.durability });
reader = new Database(`${config.dir}/manifest.db`, { readonly: true, fileMustExist: true });
const scopes = [`r${config.round}:a`, `r${config.round}:b`, "pool"];
const INLINE_MAX = 60 * 1024;

/** Shared content j (of 48): the same bytes in every round, so later rounds stage bytes already stored. */
function pooled(j) {
  const size = j % 4 === 3 ? 70_000 + j * 1_000 : 200 + ((j * 7919) % (INLINE_MAX - 200));
  const fill = prng(0xc0ffee + j);
  const bytes = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) bytes.writeUInt32LE(Math.floor(fill.next() * 2 ** 32), i);
  return bytes;
}

function fresh() {
  const big = rng.chance(0.25);
  const size = big ? 65_537 + rng.int(250_000) : 200 + rng.int(INLINE_MAX - 200);
  const bytes = Buffer.alloc(size, rng.int(256));
  randomBytes(16).copy(bytes, 0);
  return bytes;
}

/** Live attachments staged here: { id, ref, digest, scope }. */
const mine = [];
/** scope|digest of stages in flight, and ids whose release is in flight: never both for one attachment. */
const staging = new Map();
const releasing = new Set();
const key = (scope, digest) => `${scope}|${digest}`;

function violation(message) {
  journal.log({ e: "violation", message });
}

async function stage(bytes, scope) {
  const digest = sha256(bytes);
  const k2 = key(scope, digest);
  if (mine.some((m) => releasing.has(m.id) && key(m.scope, m.digest) === k2)) return;
  staging.set(k2, (staging.get(k2) ?? 0) + 1);
  try {
    const a = await store.stage(bytes, { scope, ...(rng.chance(0.2) ? { persist: true } : { ttl: "7d" }) });
    journal.log({ e: "stage", id: a.id, ref: a.ref, digest: a.checksum, scope, size: bytes.length });
    if (a.checksum !== digest) violation(`stage of ${digest} returned digest ${a.checksum}`);
    if (!mine.some((m) => m.id === a.id)) mine.push({ id: a.id, ref: a.ref, digest, scope });
  } finally {
    const left = (staging.get(k2) ?? 1) - 1;
    if (left === 0) staging.delete(k2);
    else staging.set(k2, left);
  }
}

const operations = {
  stageFresh: () => stage(fresh(), rng.pick(scopes)),
  stagePooled: () => stage(pooled(rng.int(48)), rng.pick(scopes)),
  async restage() {
    // Bytes this process stored, in another (or the same) scope: a dedup hit.
    if (mine.length === 0) return;
    const m = rng.pick(mine);
    // Released meanwhile is fine; damaged bytes are not (the lane reports them).
    const bytes = await store.read(m.ref).catch((err) => {
      if (isAttacheError(err, "NOT_FOUND")) return null;
      throw err;
    });
    if (bytes !== null) await stage(bytes, rng.pick(scopes));
  },
  async release() {
    const candidates = mine.filter((m) => !releasing.has(m.id) && !staging.has(key(m.scope, m.digest)));
    if (candidates.length === 0) return;
    const victim = rng.pick(candidates);
    releasing.add(victim.id);
    journal.log({ e: "release?", id: victim.id });
    const released = await store.release(victim.ref);
    journal.log({ e: "release", id: victim.id, released });
    mine.splice(mine.indexOf(victim), 1);
    releasing.delete(victim.id);
    if (!released) violation(`release of live ${victim.id} returned false`);
  },
  async lease() {
    const candidates = mine.filter((m) => !releasing.has(m.id));
    if (candidates.length === 0) return;
    const target = rng.pick(candidates);
    const lease = await store.lease(target.ref, { ttl: rng.chance(0.5) ? "10m" : "2s" });
    if (sha256(fs.readFileSync(lease.path)) !== target.digest) violation(`lease path of ${target.id} does not hash to its digest`);
    if (rng.chance(0.8)) await lease.release();
  },
};
const weights = { stageFresh: 40, stagePooled: 20, restage: 10, release: 14, lease: 16 };

async function lane() {
  for (;;) {
    const name = rng.weighted(weights);
    try {
      await operations[name]();
    } catch (err) {
      // Typed failures other than damage are tolerated; anything else is a finding.
      if (!isAttacheError(err) || isAttacheError(err, "INTEGRITY_ERROR")) violation(`${name} failed: ${describeError(err)}`);
    }
  }
}

journal.log({ e: "ready", pid: process.pid, ms: Math.round(performance.now()) });
armed = true;
for (let i = 0; i < config.lanes; i++) void lane();
// The kill point must come; if it does not, say why (the parent counts this as a failure).
setTimeout(() => {
  console.log(JSON.stringify({ noKill: true, batches, k, batchSizes: batchSizes.slice(-50) }));
  process.exit(3);
}, config.runMs ?? 20_000);
