// A concurrency worker: runs a mixed workload on a store shared with other
// processes for a bounded time, then prints one JSON line with its operation
// counts, the attachments it still holds in its own scopes, and every
// violation it saw. Other processes never touch its own scopes, so its own
// attachments must always read and verify; shared-scope attachments may be
// released or expire under it (NOT_FOUND), but never read wrong bytes.
//
// Config (ATTACHE_WORKER, JSON): { dir, slot, seed, durationMs, profile, clockFile? }
// profile "mixed" (default) | "sweep-vs-stage" | "scope-vs-scope" | "sweepers"
import fs from "node:fs";
import { chunkedStream, describeError, prng, sha256, sharedContent, sharedSizes, uniqueContent } from "./workload.mjs";

const config = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
const { openStore, isAttacheError } = await import(process.env.ATTACHE_DIST);
const rng = prng(config.seed);
const sizes = sharedSizes(false).slice(0, 6);
const SHARED = 6;
const clock = config.clockFile ? () => Number(fs.readFileSync(config.clockFile, "utf8")) : Date.now;
const store = await openStore({ dir: config.dir, sweepInterval: false, clock });

const own = [`p${config.slot}:own-a`, `p${config.slot}:own-b`];
const sharedScopes = ["shared:1", "shared:2"];
const mine = []; // { ref, id, digest, scope } in own scopes, not released by us
const counts = {};
const violations = [];
const count = (name) => (counts[name] = (counts[name] ?? 0) + 1);

async function expectVerified(ref, digest, what) {
  const bytes = await store.read(ref);
  if (sha256(bytes) !== digest) violations.push(`${what}: ${ref} read bytes that do not hash to its digest`);
}

const ops = {
  async stageOwn() {
    const bytes = rng.chance(0.8) ? sharedContent(rng.int(SHARED), sizes) : uniqueContent(rng, 200_000);
    const scope = rng.pick(own);
    const source = rng.chance(0.5) ? bytes : chunkedStream(bytes, rng);
    const a = await store.stage(source, { scope, ...(rng.chance(0.3) ? { persist: true } : { ttl: "7d" }) });
    if (a.checksum !== sha256(bytes)) violations.push(`stage returned digest ${a.checksum} for other bytes`);
    if (!mine.some((m) => m.id === a.id)) mine.push({ ref: a.ref, id: a.id, digest: a.checksum, scope });
    await expectVerified(a.ref, a.checksum, "read right after stage");
  },
  async stageShared() {
    const bytes = sharedContent(rng.int(SHARED), sizes);
    const a = await store.stage(bytes, { scope: rng.pick(sharedScopes), ttl: rng.chance(0.5) ? 1 + rng.int(300) : "7d" });
    // May expire or be released by another process at once; if it reads, it must verify.
    await store.read(a.ref).then(
      (b) => sha256(b) === a.checksum || violations.push(`shared ${a.ref} read wrong bytes`),
      (err) => isAttacheError(err, "NOT_FOUND") || violations.push(`shared read: ${describeError(err)}`),
    );
  },
  async releaseOwn() {
    if (mine.length === 0) return;
    const [m] = mine.splice(rng.int(mine.length), 1);
    if (!(await store.release(m.ref))) violations.push(`release of own live ${m.id} returned false`);
  },
  async releaseShared() {
    const list = await store.list({ scope: rng.pick(sharedScopes), limit: 20 });
    if (list.length > 0) await store.release(rng.pick(list).ref);
  },
  async releaseSharedScope() {
    await store.releaseScope(rng.pick(sharedScopes));
  },
  async releaseOwnScope() {
    const scope = rng.pick(own);
    await store.releaseScope(scope);
    for (let i = mine.length - 1; i >= 0; i--) if (mine[i].scope === scope) mine.splice(i, 1);
  },
  async lease() {
    const useOwn = mine.length > 0 && rng.chance(0.6);
    const target = useOwn ? rng.pick(mine) : rng.pick(await store.list({ scope: rng.pick(sharedScopes), limit: 20 }).then((l) => (l.length ? l : [null])));
    if (!target) return;
    let lease;
    try {
      lease = await store.lease(target.ref, { ttl: rng.chance(0.5) ? "10m" : 50 + rng.int(500) });
    } catch (err) {
      if (!useOwn && isAttacheError(err, "NOT_FOUND")) return;
      throw err;
    }
    const digest = sha256(fs.readFileSync(lease.path));
    const want = useOwn ? target.digest : target.checksum;
    if (digest !== want) violations.push(`leased file of ${target.ref} hashes to ${digest}, not ${want}`);
    if (rng.chance(0.8)) await lease.release();
  },
  async readOwn() {
    if (mine.length === 0) return;
    const m = rng.pick(mine);
    await expectVerified(m.ref, m.digest, "read of own attachment");
  },
  async sweep() {
    await store.sweep();
  },
  async list() {
    const listed = await store.list({ scope: rng.pick(own) });
    for (const a of listed) if (!own.includes(a.scope)) violations.push(`list of an own scope returned ${a.scope}`);
  },
  async metrics() {
    await store.metrics();
  },
};

const profiles = {
  mixed: { stageOwn: 16, stageShared: 14, releaseOwn: 6, releaseShared: 5, releaseSharedScope: 1, releaseOwnScope: 1, lease: 10, readOwn: 12, sweep: 6, list: 3, metrics: 2 },
  // A blob deleted by a sweep (after a short expiry) while another process stages the same bytes.
  "sweep-vs-stage": { stageOwn: 10, stageShared: 20, sweep: 15, readOwn: 10, releaseOwn: 5, lease: 3 },
  // Scopes released while others hold the same blob.
  "scope-vs-scope": { stageOwn: 15, releaseOwnScope: 6, releaseOwn: 4, readOwn: 15, lease: 5 },
  sweepers: { stageShared: 10, sweep: 20, stageOwn: 5, readOwn: 5 },
};
const weights = profiles[config.profile ?? "mixed"];

const deadline = Date.now() + config.durationMs;
while (Date.now() < deadline) {
  const name = rng.weighted(weights);
  try {
    await ops[name]();
    count(name);
  } catch (err) {
    count(`${name}:failed`);
    violations.push(`${name} failed: ${describeError(err)}`);
  }
}
await store.close();
console.log(JSON.stringify({ slot: config.slot, counts, mine, violations }));
