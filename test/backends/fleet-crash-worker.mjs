// A fleet crash-harness worker: one process of a store shared through a
// PostgreSQL manifest and an S3 blob store (s3rver), with a directory and a
// cacheDir of its own, as a process on another host (the same slot reuses its
// cacheDir round after round, as a host that restarts). It stages (buffers,
// streams, paths; sizes from empty to several parts of a multipart upload),
// releases, leases, reads and sweeps in a loop until the parent kills it with
// SIGKILL. It never exits on its own.
//
// It journals, fsynced, every stage that returned and every release around
// its call, so the parent knows what must still be live after the kill. On
// stdout: "opening" as it calls openStore (its modules loaded), "ready" once open,
// "op <n> <name>" as each operation begins, and "big <n>" as each stage of more
// than one part begins (the parent aims kills at these moments: a kill after so
// many operations rather than after so long does as much work on a busy machine).
//
// Config (ATTACHE_WORKER, JSON): { dir, cacheDir, url, schema, endpoint, bucket,
//   prefix, slot, seed, journal, workDir, gracePeriod, partSize, stress }
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { chunkedStream, describeError, openJournal, prng, sha256, sharedContent, uniqueContent, writeSourceFile } from "../stress/workload.mjs";
import { s3ClientFor } from "../support/s3-server.mjs";

const config = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
const distDir = path.dirname(process.env.ATTACHE_DIST);
const rng = prng(config.seed);
const journaled = openJournal(config.journal);
/** Every event carries its time, so the parent can tell how long the operations took. */
const journal = { log: (event) => journaled.log({ ...event, t: Date.now() }) };
const ownScopes = [`w${config.slot}:a`, `w${config.slot}:b`, `w${config.slot}:c`];
/** Shared contents (every process stages the same bytes): small ones, and two above the part size (2 and 3 parts). */
const SIZES = config.stress ? [0, 1, 100, 4096, 65_537, 300_000, 1_048_577, 3_000_000] : [0, 1, 100, 4096, 65_537, 300_000, 1_048_577];
const BIG = [config.partSize + 12_345, 2 * config.partSize + 777];
const SHARED = SIZES.length + BIG.length;
const ALL_SIZES = [...SIZES, ...BIG];

const { openStore, isAttacheError } = await import(process.env.ATTACHE_DIST);
const { s3BlobStore } = await import(path.join(distDir, "s3.js"));
const { postgresManifest } = await import(path.join(distDir, "postgres.js"));
const client = s3ClientFor(config.endpoint, { maxAttempts: 5 });
process.stdout.write("opening\n");
const store = await openStore({
  dir: config.dir,
  cacheDir: config.cacheDir,
  sweepInterval: false,
  gracePeriod: config.gracePeriod,
  manifest: postgresManifest({ connectionString: config.url, schema: config.schema, max: 4 }),
  blobStore: s3BlobStore({ client, bucket: config.bucket, prefix: config.prefix, partSize: config.partSize }),
});
journal.log({ e: "ready", pid: process.pid });
process.stdout.write("ready\n");

/** Attachments this process staged and has not released: { id, ref, digest, scope }. */
const mine = [];
let bigStages = 0;

function violation(message) {
  journal.log({ e: "violation", message });
}

/** Shared bytes mostly (processes race on the same blobs), sometimes bytes no one else has. */
function pickBytes() {
  if (rng.chance(0.3)) return uniqueContent(rng, config.stress ? 2_000_000 : 300_000);
  return sharedContent(rng.int(SIZES.length), ALL_SIZES);
}

/** Bytes of more than one part: shared ones, or this process's own (a multipart upload nobody else finishes for it). */
function bigBytes() {
  const k = SIZES.length + rng.int(BIG.length);
  if (rng.chance(0.7)) return sharedContent(k, ALL_SIZES);
  return Buffer.concat([Buffer.from(`${process.pid}:${bigStages}:`), sharedContent(k, ALL_SIZES)]);
}

async function tracked(source, digest, what) {
  const scope = rng.pick(ownScopes);
  journal.log({ e: "op", op: what, scope });
  const a = await store.stage(source, { scope, ...(rng.chance(0.2) ? { persist: true } : { ttl: "7d" }) });
  journal.log({ e: "stage", id: a.id, digest: a.checksum, scope, what });
  if (a.checksum !== digest) violation(`${what}: stage of ${digest} returned digest ${a.checksum}`);
  if (!mine.some((m) => m.id === a.id)) mine.push({ id: a.id, ref: a.ref, digest: a.checksum, scope });
  return a;
}

const operations = {
  async copyBuffer() {
    const bytes = pickBytes();
    await tracked(bytes, sha256(bytes), "buffer");
  },
  async copyStream() {
    const bytes = pickBytes();
    await tracked(chunkedStream(bytes, rng, rng.chance(0.3)), sha256(bytes), "stream");
  },
  async copyPath() {
    const bytes = pickBytes();
    const file = writeSourceFile(config.workDir, bytes, `w${config.slot}`);
    await tracked(file, sha256(bytes), "path");
    fs.rmSync(file, { force: true });
  },
  async bigStream() {
    const bytes = bigBytes();
    process.stdout.write(`big ${++bigStages}\n`);
    await tracked(chunkedStream(bytes, rng), sha256(bytes), "big stream");
  },
  async bigBuffer() {
    const bytes = bigBytes();
    process.stdout.write(`big ${++bigStages}\n`);
    await tracked(bytes, sha256(bytes), "big buffer");
  },
  async churn() {
    // Short-lived, untracked, in a scope all share: expiries and sweeps delete blobs others are staging.
    const bytes = sharedContent(rng.int(SHARED), ALL_SIZES);
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
    if (lease.path === null) violation(`lease of ${target.id} has no path`);
    else {
      const digest = sha256(fs.readFileSync(lease.path));
      if (digest !== target.digest) violation(`leased file of ${target.id} hashes to ${digest}, not ${target.digest}`);
    }
    if (rng.chance(0.7)) await lease.release();
  },
  async read() {
    if (mine.length === 0) return;
    const target = rng.pick(mine);
    journal.log({ e: "op", op: "read", id: target.id });
    const bytes = await store.read(target.ref);
    if (sha256(bytes) !== target.digest) violation(`read of ${target.id} gave other bytes`);
  },
  async sweep() {
    journal.log({ e: "op", op: "sweep" });
    await store.sweep();
  },
};

const weights = { copyBuffer: 10, copyStream: 12, copyPath: 6, churn: 12, release: 8, releaseScope: 2, lease: 10, read: 10, sweep: 6 };

// Every fourth operation (the second first) stages more than one part: a multipart upload that a kill may cut or that returns.
for (let n = 0; ; n++) {
  const name = n % 4 === 1 ? rng.weighted({ bigStream: 3, bigBuffer: 1 }) : rng.weighted(weights);
  process.stdout.write(`op ${n} ${name}\n`);
  try {
    await operations[name]();
  } catch (err) {
    // No fault is injected here and no one resets: every failure is a finding.
    violation(`${name} failed${isAttacheError(err) ? "" : " with a non-AttacheError"}: ${describeError(err)}`);
    await sleep(1);
  }
}
