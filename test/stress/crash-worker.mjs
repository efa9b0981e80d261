// A crash-harness worker: stages (paths and streams, copy, move and
// reference), releases, leases and sweeps in a loop on one store until the
// parent kills it with SIGKILL. It journals, fsynced, every stage that
// returned and every release around its call, so the parent knows what must
// still be live after the kill. It never exits on its own.
//
// Config (ATTACHE_WORKER, JSON): { dir, journal, slot, seed, stress,
//   refPool: [path], workDir, moveDir, xdevDir | null }
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  chunkedStream,
  describeError,
  openJournal,
  prng,
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

/** Attachments this process staged and has not released: { id, ref, digest, scope }. */
const mine = [];

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
  journal.log({ e: "op", op: `stage-${mode}`, scope, ...extra });
  const a = await store.stage(source, { scope, mode, ...lifetime() });
  journal.log({ e: "stage", ...extra, id: a.id, digest: a.checksum, mode, scope });
  if (bytesDigest !== undefined && a.checksum !== bytesDigest) violation(`stage of ${bytesDigest} returned digest ${a.checksum}`);
  // Staging bytes the scope already holds returns the same attachment: track it once.
  if (!mine.some((m) => m.id === a.id)) mine.push({ id: a.id, ref: a.ref, digest: a.checksum, scope });
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
    await tracked("move", file, digest, { src: file, digest });
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
    if (!released) violation(`release of live ${victim.id} returned false`);
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
    const lease = await store.lease(target.ref, { ttl: rng.chance(0.5) ? "10m" : "300ms" });
    const digest = sha256(fs.readFileSync(lease.path));
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
    const bytes = await store.read(target.ref);
    if (sha256(bytes) !== target.digest) violation(`read of ${target.id} gave other bytes`);
  },
};

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
};

for (;;) {
  const name = rng.weighted(weights);
  try {
    await operations[name]();
  } catch (err) {
    // Only typed, expected failures are tolerated; anything else is a finding.
    if (!isAttacheError(err)) violation(`${name} threw a non-AttacheError: ${describeError(err)}`);
    else violation(`${name} failed: ${describeError(err)}`);
    await sleep(1);
  }
}
