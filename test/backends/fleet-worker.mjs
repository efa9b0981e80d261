// A fleet worker: one process of a store shared through a PostgreSQL manifest
// and an S3 blob store (s3rver), with a directory and a cacheDir of its own,
// as a process on another host. It imports the built package: dist/index.js
// (ATTACHE_DIST, a private copy taken by test/helpers/processes.ts) and the
// dist/s3.js and dist/postgres.js entries next to it.
//
// profile "mixed": for durationMs, a mixed workload on shared and own bytes
// across scopes (stage, read back verified, lease + read the lease's path,
// release, releaseScope, sweep). Other processes never touch its own scopes,
// so every attachment it staged there and did not release must read back
// with its digest, and every lease on one must hold the right bytes; shared
// attachments may be released or expire under it (NOT_FOUND), never read
// wrong bytes. Then it prints one JSON line: { slot, counts, mine, violations }.
//
// profile "stage": stages in its own scopes until killed (or durationMs),
// big streams (multipart uploads) among small ones, printing
// {"begin":…} before each stage and {"staged":{ref,digest}} after it returns,
// so the test can kill it mid-stage and check that nothing it was told of is lost.
//
// Config (ATTACHE_WORKER, JSON): { dir, cacheDir, url, schema, endpoint, bucket, prefix, slot, seed, durationMs, profile, gracePeriod }
import fs from "node:fs";
import path from "node:path";
import { chunkedStream, describeError, prng, sha256, sharedContent, uniqueContent } from "../stress/workload.mjs";
import { s3ClientFor } from "../support/s3-server.mjs";

const config = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
const distDir = path.dirname(process.env.ATTACHE_DIST);
const { openStore, isAttacheError } = await import(process.env.ATTACHE_DIST);
const { s3BlobStore } = await import(path.join(distDir, "s3.js"));
const { postgresManifest } = await import(path.join(distDir, "postgres.js"));

const MiB = 1024 * 1024;
/** Shared contents: empty, tiny, a chunk, several chunks; and (k = 5) one above the part size, a multipart upload when streamed. */
const SIZES = [0, 1, 100, 4096, 300_000, 5 * MiB + 12_345];
const rng = prng(config.seed);
const client = s3ClientFor(config.endpoint, { maxAttempts: 5 });
const store = await openStore({
  dir: config.dir,
  cacheDir: config.cacheDir,
  sweepInterval: false,
  gracePeriod: config.gracePeriod,
  manifest: postgresManifest({ connectionString: config.url, schema: config.schema, max: 4 }),
  blobStore: s3BlobStore({ client, bucket: config.bucket, prefix: config.prefix, partSize: 5 * MiB }),
});

const own = [`p${config.slot}:own-a`, `p${config.slot}:own-b`];
const sharedScopes = ["shared:1", "shared:2"];
const mine = []; // { ref, id, digest, scope }: in own scopes, staged and not released by us
const counts = {};
const violations = [];
const count = (name) => (counts[name] = (counts[name] ?? 0) + 1);
const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** Bytes to stage: mostly shared contents (other processes stage the same), sometimes bytes no one else has. */
function someBytes(bigChance = 0.04) {
  if (rng.chance(0.25)) return uniqueContent(rng, 200_000);
  const k = rng.chance(bigChance) ? 5 : rng.int(5);
  return sharedContent(k, SIZES);
}

async function expectVerified(ref, digest, what) {
  const bytes = await store.read(ref);
  if (sha256(bytes) !== digest) violations.push(`${what}: ${ref} read bytes hashing to ${sha256(bytes)}, not ${digest}`);
}

const ops = {
  async stageOwn() {
    const bytes = someBytes();
    const scope = rng.pick(own);
    const source = rng.chance(0.5) ? bytes : chunkedStream(bytes, rng);
    const a = await store.stage(source, { scope, ...(rng.chance(0.3) ? { persist: true } : { ttl: "7d" }) });
    if (a.checksum !== sha256(bytes)) violations.push(`stage returned digest ${a.checksum} for bytes hashing to ${sha256(bytes)}`);
    if (!mine.some((m) => m.id === a.id)) mine.push({ ref: a.ref, id: a.id, digest: a.checksum, scope });
    await expectVerified(a.ref, a.checksum, "read right after stage");
  },
  async stageShared() {
    const bytes = someBytes();
    const a = await store.stage(rng.chance(0.5) ? bytes : chunkedStream(bytes, rng), {
      scope: rng.pick(sharedScopes),
      ttl: rng.chance(0.5) ? 1 + rng.int(300) : "7d",
    });
    if (a.checksum !== sha256(bytes)) violations.push(`shared stage returned digest ${a.checksum} for other bytes`);
    // May expire or be released by another process at once; if it reads, it must verify.
    await store.read(a.ref).then(
      (b) => sha256(b) === a.checksum || violations.push(`shared ${a.ref} read wrong bytes`),
      (err) => isAttacheError(err, "NOT_FOUND") || violations.push(`shared read: ${describeError(err)}`),
    );
  },
  async readOwn() {
    if (mine.length === 0) return;
    const m = rng.pick(mine);
    await expectVerified(m.ref, m.digest, "read of own attachment");
  },
  async lease() {
    const useOwn = mine.length > 0 && rng.chance(0.6);
    let target;
    if (useOwn) target = rng.pick(mine);
    else {
      const listed = await store.list({ scope: rng.pick(sharedScopes), limit: 20 });
      if (listed.length === 0) return;
      const a = rng.pick(listed);
      target = { ref: a.ref, digest: a.checksum };
    }
    let lease;
    try {
      lease = await store.lease(target.ref, { ttl: rng.chance(0.5) ? "10m" : 200 + rng.int(2000) });
    } catch (err) {
      if (!useOwn && isAttacheError(err, "NOT_FOUND")) return count("lease:sharedGone");
      throw err;
    }
    try {
      if (lease.path === null) violations.push(`lease of ${target.ref} has no path`);
      else {
        const digest = sha256(fs.readFileSync(lease.path));
        if (digest !== target.digest) violations.push(`leased file of ${target.ref} hashes to ${digest}, not ${target.digest}`);
      }
    } finally {
      if (rng.chance(0.8)) await lease.release();
    }
  },
  async releaseOwn() {
    if (mine.length === 0) return;
    const [m] = mine.splice(rng.int(mine.length), 1);
    if (!(await store.release(m.ref))) violations.push(`release of own live ${m.id} returned false`);
  },
  async releaseShared() {
    const listed = await store.list({ scope: rng.pick(sharedScopes), limit: 20 });
    if (listed.length > 0) await store.release(rng.pick(listed).ref);
  },
  async releaseSharedScope() {
    await store.releaseScope(rng.pick(sharedScopes));
  },
  async releaseOwnScope() {
    const scope = rng.pick(own);
    await store.releaseScope(scope);
    for (let i = mine.length - 1; i >= 0; i--) if (mine[i].scope === scope) mine.splice(i, 1);
  },
  async sweep() {
    await store.sweep();
  },
};

const WEIGHTS = { stageOwn: 16, stageShared: 12, readOwn: 12, lease: 10, releaseOwn: 6, releaseShared: 5, releaseSharedScope: 1, releaseOwnScope: 1, sweep: 5 };
const deadline = Date.now() + config.durationMs;

if ((config.profile ?? "mixed") === "mixed") {
  while (Date.now() < deadline) {
    const name = rng.weighted(WEIGHTS);
    try {
      await ops[name]();
      count(name);
    } catch (err) {
      count(`${name}:failed`);
      violations.push(`${name} failed: ${describeError(err)}`);
    }
  }
  // Every own attachment still held reads back verified before the process leaves.
  for (const m of mine) await expectVerified(m.ref, m.digest, "final read of own attachment").catch((err) => violations.push(`final read of ${m.ref}: ${describeError(err)}`));
  await store.close();
  say({ slot: config.slot, counts, mine, violations });
} else if (config.profile === "stage") {
  let n = 0;
  while (Date.now() < deadline) {
    // Every third stage is a stream of more than two parts: a multipart upload that a kill may cut.
    const big = n++ % 3 === 0;
    const bytes = big ? Buffer.concat([Buffer.from(`${process.pid}:${n}:`), sharedContent(5, SIZES), sharedContent(5, SIZES)]) : someBytes(0);
    const scope = rng.pick(own);
    say({ begin: n, size: bytes.length });
    try {
      const a = await store.stage(chunkedStream(bytes, rng), { scope, ...(rng.chance(0.5) ? { persist: true } : { ttl: "7d" }) });
      if (a.checksum !== sha256(bytes)) violations.push(`stage returned digest ${a.checksum} for other bytes`);
      say({ staged: { ref: a.ref, digest: sha256(bytes) } });
      count(big ? "stageBig" : "stage");
    } catch (err) {
      count("stage:failed");
      violations.push(`stage failed: ${describeError(err)}`);
    }
  }
  await store.close();
  say({ slot: config.slot, counts, mine, violations });
} else {
  throw new Error(`unknown profile ${config.profile}`);
}
