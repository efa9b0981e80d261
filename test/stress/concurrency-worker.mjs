// A concurrency worker: runs a mixed workload on a store shared with other
// processes for a bounded time, then prints one JSON line with its operation
// counts, the attachments it still holds in its own scopes, and every
// violation it saw. Other processes never touch its own scopes, so its own
// attachments must always read and verify; shared-scope attachments may be
// released or expire under it (NOT_FOUND), but never read wrong bytes.
//
// With resets in the mix (profile "reset-vs-stage"), any attachment may be
// gone (NOT_FOUND) once a reset ran after its stage began: each process logs
// the resets it runs to a shared file (resetLog), and every own attachment
// carries the size of that file when its stage began (its mark), so "a reset
// may have dropped it" is decided from the log, not assumed. What a reset may
// never cause: INTEGRITY_ERROR, wrong bytes, a stage failing with anything but
// an AttacheError, or a stage failing when no reset ran meanwhile.
//
// Config (ATTACHE_WORKER, JSON): { dir, slot, seed, durationMs, profile, clockFile?, resetLog? }
// profile "mixed" (default) | "sweep-vs-stage" | "scope-vs-scope" | "sweepers" | "verify-vs-stage" | "reset-vs-stage"
import fs from "node:fs";
import { chunkedStream, describeError, prng, resetLogMark, resetSince, sha256, sharedContent, sharedSizes, uniqueContent } from "./workload.mjs";

const config = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
const { openStore, isAttacheError } = await import(process.env.ATTACHE_DIST);
const rng = prng(config.seed);
const sizes = sharedSizes(false).slice(0, 6);
const SHARED = 6;
const clock = config.clockFile ? () => Number(fs.readFileSync(config.clockFile, "utf8")) : Date.now;
const store = await openStore({ dir: config.dir, sweepInterval: false, clock });

const own = [`p${config.slot}:own-a`, `p${config.slot}:own-b`];
const sharedScopes = ["shared:1", "shared:2"];
const mine = []; // { ref, id, digest, scope, mark } in own scopes, not released by us
const counts = {};
let resets = 0;
const violations = [];
const count = (name) => (counts[name] = (counts[name] ?? 0) + 1);

/** Size of the shared reset log now: an attachment staged from here on is dropped only by a reset logged after it. */
const mark = () => resetLogMark(config.resetLog);
/** True when a reset may have dropped what was staged at `since` (a reset that had not ended by then, or began later). */
const resetAfter = (since) => resetSince(config.resetLog, since);

function forget(m) {
  const i = mine.indexOf(m);
  if (i >= 0) mine.splice(i, 1);
}

/**
 * Reads an own attachment: it must verify. NOT_FOUND only if a reset ran
 * since `since` (the attachment is then dropped from `mine`); INTEGRITY_ERROR
 * or other bytes never.
 */
async function expectVerified(ref, digest, what, since, m) {
  let bytes;
  try {
    bytes = await store.read(ref);
  } catch (err) {
    if (isAttacheError(err, "NOT_FOUND") && resetAfter(since)) {
      count(`${what}:goneAfterReset`);
      if (m) forget(m);
      return false;
    }
    throw err;
  }
  if (sha256(bytes) !== digest) violations.push(`${what}: ${ref} read bytes that do not hash to its digest`);
  return true;
}

/** A stage may fail only while a reset runs, and then only with an AttacheError (never INTEGRITY_ERROR). */
async function stageTolerant(name, since, stage) {
  try {
    return await stage();
  } catch (err) {
    if (!resetAfter(since)) throw err;
    if (!isAttacheError(err)) violations.push(`${name} during a reset failed with a plain error: ${describeError(err)}`);
    else if (isAttacheError(err, "INTEGRITY_ERROR")) violations.push(`${name} during a reset: ${describeError(err)}`);
    else count(`${name}:interrupted`);
    return undefined;
  }
}

/** A verify({ repair: true }) report on a store where nothing is damaged: clean, and nothing but stray files repaired. */
function checkRepairReport(report, what) {
  if (report.missing.length > 0) violations.push(`${what}: reported missing ${report.missing.join(", ")}`);
  if (report.corrupt.length > 0) violations.push(`${what}: reported corrupt ${report.corrupt.join(", ")}`);
  if (report.manifestProblems.length > 0) violations.push(`${what}: reported manifest problems ${report.manifestProblems.join("; ")}`);
  if (report.repaired > report.orphanFiles.length) violations.push(`${what}: repaired ${report.repaired} with only ${report.orphanFiles.length} orphan files (${report.orphanFiles.join(", ")})`);
  if (report.orphanFiles.length > 0) count("verifyRepair:orphanFiles");
}

const ops = {
  async stageOwn() {
    const bytes = rng.chance(0.8) ? sharedContent(rng.int(SHARED), sizes) : uniqueContent(rng, 200_000);
    const scope = rng.pick(own);
    const source = rng.chance(0.5) ? bytes : chunkedStream(bytes, rng);
    const since = mark();
    const a = await stageTolerant("stageOwn", since, () => store.stage(source, { scope, ...(rng.chance(0.3) ? { persist: true } : { ttl: "7d" }) }));
    if (a === undefined) return;
    if (a.checksum !== sha256(bytes)) violations.push(`stage returned digest ${a.checksum} for other bytes`);
    let m = mine.find((x) => x.id === a.id);
    if (m === undefined) mine.push((m = { ref: a.ref, id: a.id, digest: a.checksum, scope, mark: since }));
    else m.mark = since; // staged again: a reset dropping it now would have had to run after this stage began
    await expectVerified(a.ref, a.checksum, "read right after stage", since, m);
  },
  async stageShared() {
    const bytes = sharedContent(rng.int(SHARED), sizes);
    const a = await stageTolerant("stageShared", mark(), () =>
      store.stage(bytes, { scope: rng.pick(sharedScopes), ttl: rng.chance(0.5) ? 1 + rng.int(300) : "7d" }),
    );
    if (a === undefined) return;
    // May expire or be released by another process at once; if it reads, it must verify.
    await store.read(a.ref).then(
      (b) => sha256(b) === a.checksum || violations.push(`shared ${a.ref} read wrong bytes`),
      (err) => isAttacheError(err, "NOT_FOUND") || violations.push(`shared read: ${describeError(err)}`),
    );
  },
  async releaseOwn() {
    if (mine.length === 0) return;
    const [m] = mine.splice(rng.int(mine.length), 1);
    if (await store.release(m.ref)) return;
    if (resetAfter(m.mark)) count("releaseOwn:goneAfterReset");
    else violations.push(`release of own live ${m.id} returned false`);
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
    const since = useOwn ? target.mark : mark();
    let lease;
    try {
      lease = await store.lease(target.ref, { ttl: rng.chance(0.5) ? "10m" : 50 + rng.int(500) });
    } catch (err) {
      if (!useOwn && isAttacheError(err, "NOT_FOUND")) return;
      if (useOwn && isAttacheError(err, "NOT_FOUND") && resetAfter(since)) {
        count("lease:goneAfterReset");
        forget(target);
        return;
      }
      throw err;
    }
    let file;
    try {
      file = fs.readFileSync(lease.path);
    } catch (err) {
      // A lease pins its bytes against releases and sweeps, not against a reset (which drops leases too).
      if (err?.code === "ENOENT" && resetAfter(since)) {
        count("lease:fileGoneAfterReset");
        return;
      }
      if (err?.code !== "ENOENT") throw err;
      // A short lease (50–550 ms) may end before the read under load; then nothing holds the copy of an inline blob.
      const left = lease.expiresAt.getTime() - Date.now();
      if (left <= 0) count("lease:expiredBeforeRead");
      else violations.push(`leased file of ${target.ref} gone ${left} ms before its lease ends: ${lease.path}`);
      return;
    }
    const digest = sha256(file);
    const want = useOwn ? target.digest : target.checksum;
    if (digest !== want) violations.push(`leased file of ${target.ref} hashes to ${digest}, not ${want}`);
    if (rng.chance(0.8)) await lease.release();
  },
  async readOwn() {
    if (mine.length === 0) return;
    const m = rng.pick(mine);
    await expectVerified(m.ref, m.digest, "read of own attachment", m.mark, m);
  },
  async getRead() {
    // get() then read(): once get() finds it, the read verifies, or (a reset since) is NOT_FOUND; never INTEGRITY_ERROR.
    if (mine.length === 0) return;
    const m = rng.pick(mine);
    try {
      await store.get(m.ref);
    } catch (err) {
      if (isAttacheError(err, "NOT_FOUND") && resetAfter(m.mark)) {
        count("getRead:goneAfterReset");
        forget(m);
        return;
      }
      throw err;
    }
    await expectVerified(m.ref, m.digest, "read after get", m.mark, m);
  },
  async verifyRepair() {
    checkRepairReport(await store.verify({ repair: true }), "verify({ repair: true })");
  },
  async reset() {
    const id = `${process.pid}-${++resets}`;
    fs.appendFileSync(config.resetLog, `b ${id}\n`);
    try {
      await store.reset();
    } finally {
      fs.appendFileSync(config.resetLog, `e ${id}\n`);
    }
    // This process runs one operation at a time: everything it staged before is gone.
    const gone = mine.splice(0);
    const stillThere = [];
    for (const m of gone) if (await store.get(m.ref).then(() => true, () => false)) stillThere.push(m.id);
    // Another process's reset may overlap; but an attachment staged before our reset began cannot survive it.
    if (stillThere.length > 0) violations.push(`after reset, attachments staged before it are still live: ${stillThere.join(", ")}`);
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
  mixed: { stageOwn: 16, stageShared: 14, releaseOwn: 6, releaseShared: 5, releaseSharedScope: 1, releaseOwnScope: 1, lease: 10, readOwn: 12, sweep: 6, list: 3, metrics: 2, verifyRepair: 1 },
  // A blob deleted by a sweep (after a short expiry) while another process stages the same bytes.
  "sweep-vs-stage": { stageOwn: 10, stageShared: 20, sweep: 15, readOwn: 10, releaseOwn: 5, lease: 3 },
  // Scopes released while others hold the same blob.
  "scope-vs-scope": { stageOwn: 15, releaseOwnScope: 6, releaseOwn: 4, readOwn: 15, lease: 5 },
  sweepers: { stageShared: 10, sweep: 20, stageOwn: 5, readOwn: 5 },
  // verify({ repair: true }) while scopes release shared bytes and others stage them again (issue 8, finding 4).
  "verify-vs-stage": { verifyRepair: 6, stageOwn: 14, releaseOwn: 10, releaseOwnScope: 2, readOwn: 8, getRead: 4, stageShared: 4, releaseShared: 4 },
  // reset() while other processes stage, read, lease and release (issue 8, finding 5). Only slots listed in resetters reset.
  "reset-vs-stage": { reset: 5, stageOwn: 16, stageShared: 6, readOwn: 8, getRead: 6, releaseOwn: 5, lease: 4, releaseShared: 2, sweep: 2 },
};
const weights = { ...profiles[config.profile ?? "mixed"] };
if (weights.reset !== undefined && !(config.resetters ?? []).includes(config.slot)) delete weights.reset;
if (weights.reset !== undefined && !config.resetLog) throw new Error("profile with resets needs a resetLog");

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
