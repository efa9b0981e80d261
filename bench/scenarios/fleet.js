// Scenario "fleet": the store on S3 + PostgreSQL (the pair) beside the
// embedded default (SQLite + filesystem), in the same run, on the same bytes,
// the two interleaved (their order rotates from one repetition to the next).
//
// Each repetition, for each kind, on a fresh store:
//   - stage 4 KiB: `seqCount` distinct buffers one after another, then
//     `timedInFlight` more with `inFlight` stages in flight (with ttl 1h, as
//     are the untimed rest of the `sweepCount` the sweep will find expired);
//   - stage 4 MiB: `bigCount` distinct buffers, one after another;
//   - get() of `getCount` random refs among the 4 KiB ones;
//   - lease cold and cached: a second handle (the pair: another directory and
//     an empty cacheDir, as another host; embedded: a second handle on the
//     same directory) leases `leaseSmall` 4 KiB and every 4 MiB attachment
//     (each lease released before the next), then leases them all again;
//   - sweep of the `sweepCount` expired: a third handle whose clock is 2 h
//     ahead sweeps; the report must say that many expired and blobs deleted.
// Then throughput: 1, 2 and 4 worker processes (bench/lib/fleet-worker.js)
// on one pair store, each with its own dir and cacheDir, for `workerMs`.
//
// It starts its own PostgreSQL cluster and s3rver (bench/lib/fleet-servers.js);
// without PostgreSQL installed it reports { skipped } instead of failing.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { MiB, REPO_DIR, emit, log, pool, prng, rmrf, rotate, scenarioConfig, summary } from "../lib/common.js";
import { POSTGRES_SETTINGS, startFleetServers } from "../lib/fleet-servers.js";
import { countsSince, freshLocation, loadFleetLibrary, openEmbeddedStore, openPairStore, requestCounter, snapshotCounts } from "../lib/fleet-stores.js";
import { runFleetWorkers } from "../lib/fleet-workers.js";

// The AWS SDK warns, in every process on Node < 22, that it will soon need Node 22; the workers inherit this.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const config = scenarioConfig();
const {
  tmp,
  reps = 2,
  seqCount = 60,
  sweepCount = 1000,
  timedInFlight = Math.min(120, sweepCount),
  inFlight = 4,
  bigCount = 5,
  bigSize = 4 * MiB,
  getCount = 400,
  leaseSmall = 15,
  workerCounts = [1, 2, 4],
  workerMs = 5000,
  workerReps = 2,
  workerInFlight = 2,
} = config;
const SMALL = 4096;
const HOUR = 3_600_000;

const servers = await startFleetServers();
if (servers.skipped !== null) {
  log(`fleet: skipped: ${servers.skipped}`);
  emit({ skipped: servers.skipped });
  process.exit(0);
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    servers.stop().finally(() => process.exit(130));
  });
}

const lib = await loadFleetLibrary();
const postgresVersion = await (async () => {
  const client = new pg.Client({ connectionString: servers.postgresUrl });
  await client.connect();
  const { rows } = await client.query("SHOW server_version");
  await client.end();
  return rows[0].server_version;
})();

/** Per kind and measure, one value per repetition. */
const samples = { pair: {}, embedded: {} };
const record = (kind, measure, value) => (samples[kind][measure] ??= []).push(value);
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};

/** Requests per operation on the pair (S3 by command, PostgreSQL round trips), from the first repetition. */
const requests = {};

const kinds = {
  pair: {
    fresh: (dir) => ({ location: freshLocation(servers), dir, counter: requestCounter() }),
    open: (at, dir, extra) => openPairStore(lib, at.location, dir, extra, at.counter),
    // Another host: a directory (and cacheDir) of its own.
    other: (at, dir) => dir,
  },
  embedded: {
    fresh: (dir) => ({ dir, counter: null }),
    open: (at, dir, extra) => openEmbeddedStore(lib, at.dir, extra),
    // The same directory: there is no other host.
    other: (at) => at.dir,
  },
};

/**
 * Runs `fn` as the measure `name` of `kind`: records its milliseconds per
 * operation (`per` operations), and on the pair's first repetition the
 * requests it sent per operation.
 */
async function measure(kind, at, rep, name, per, fn) {
  const before = at.counter === null ? null : snapshotCounts(at.counter);
  const start = performance.now();
  const value = await fn();
  const ms = performance.now() - start;
  record(kind, name, ms / per);
  log(`fleet: ${kind} ${name}: ${(ms / 1000).toFixed(1)} s for ${per}`);
  if (before !== null && rep === 0) requests[name] = countsSince(at.counter, before, per);
  return value;
}

/** Leases each ref in turn, releasing each lease before the next (the release is timed too). */
async function leaseEach(store, refs) {
  for (const ref of refs) {
    const lease = await store.lease(ref);
    await lease.release();
  }
}

async function runKind(kind, rep) {
  const k = kinds[kind];
  const root = path.join(tmp, `${kind}-${rep}`);
  const at = k.fresh(path.join(root, "main"));
  const small = Array.from({ length: seqCount + sweepCount }, () => randomBytes(SMALL));
  const big = Array.from({ length: bigCount }, () => randomBytes(bigSize));
  const m = (name, per, fn) => measure(kind, at, rep, name, per, fn);

  const main = await k.open(at, path.join(root, "main"));
  const { store } = main;
  const smallRefs = [];
  await m("stageSmallSeq", seqCount, async () => {
    for (let i = 0; i < seqCount; i++) smallRefs.push((await store.stage(small[i])).ref);
  });
  // The attachments the sweep will find expired: the first `timedInFlight` staged `inFlight` at a time and
  // timed, the rest (a fixture) with more in flight to save time.
  const expiring = (i) => store.stage(small[seqCount + i], { ttl: "1h" });
  await m("stageSmallInFlight", timedInFlight, () => pool(timedInFlight, inFlight, expiring));
  const fixtureStart = performance.now();
  await pool(sweepCount - timedInFlight, 4 * inFlight, (i) => expiring(timedInFlight + i));
  log(`fleet: ${kind} the other ${sweepCount - timedInFlight} to expire, ${4 * inFlight} in flight (untimed): ${((performance.now() - fixtureStart) / 1000).toFixed(1)} s`);
  const bigRefs = [];
  await m("stageBig", bigCount, async () => {
    for (const bytes of big) bigRefs.push((await store.stage(bytes)).ref);
  });
  const pick = prng(rep + 1);
  const getRefs = Array.from({ length: getCount }, () => smallRefs[Math.floor(pick() * smallRefs.length)]);
  await m("get", getCount, async () => {
    for (const ref of getRefs) await store.get(ref);
  });

  const reader = await k.open(at, k.other(at, path.join(root, "reader")));
  const leaseRefs = smallRefs.slice(0, leaseSmall);
  await m("leaseSmallCold", leaseRefs.length, () => leaseEach(reader.store, leaseRefs));
  await m("leaseBigCold", bigRefs.length, () => leaseEach(reader.store, bigRefs));
  await m("leaseSmallCached", leaseRefs.length, () => leaseEach(reader.store, leaseRefs));
  await m("leaseBigCached", bigRefs.length, () => leaseEach(reader.store, bigRefs));
  await reader.close();

  const later = Date.now() + 2 * HOUR;
  const sweeper = await k.open(at, k.other(at, path.join(root, "sweeper")), { clock: () => later });
  const report = await m("sweep", 1, () => sweeper.store.sweep());
  check(report.expired === sweepCount && report.blobsDeleted === sweepCount, `${kind}, repetition ${rep + 1}: the sweep reported ${JSON.stringify(report)}, expected ${sweepCount} expired and deleted`);
  const left = await sweeper.store.metrics();
  check(left.attachments === seqCount + bigCount, `${kind}, repetition ${rep + 1}: ${left.attachments} attachments left after the sweep, expected ${seqCount + bigCount}`);
  await sweeper.close();
  await main.close();
  await rmrf(root);
}

const started = performance.now();
for (let rep = 0; rep < reps; rep++) {
  for (const kind of rotate(["pair", "embedded"], rep)) {
    log(`fleet: repetition ${rep + 1}/${reps}, ${kind}`);
    await runKind(kind, rep);
  }
}
const comparisonSeconds = (performance.now() - started) / 1000;

const throughput = {};
for (let rep = 0; rep < workerReps; rep++) {
  for (const count of rotate(workerCounts, rep)) {
    log(`fleet: repetition ${rep + 1}/${workerReps}, ${count} worker process(es) on one store`);
    const dir = path.join(tmp, `workers-${count}-${rep}`);
    const run = await runFleetWorkers({ count, location: freshLocation(servers), tmp: dir, durationMs: workerMs, inFlight: workerInFlight });
    const t = (throughput[count] ??= { stagesPerSec: [], opsPerSec: [], errors: {}, perWorkerStages: [] });
    t.stagesPerSec.push(run.stagesPerSec);
    t.opsPerSec.push(run.opsPerSec);
    t.perWorkerStages.push(run.results.map((r) => r.counts.stages));
    for (const [code, n] of Object.entries(run.errors)) t.errors[code] = (t.errors[code] ?? 0) + n;
    check(Object.keys(run.errors).length === 0, `${count} workers, repetition ${rep + 1}: errors ${JSON.stringify(run.errors)}`);
    await rmrf(dir);
  }
}
await servers.stop();

const measures = {};
for (const measure of Object.keys(samples.pair)) {
  measures[measure] = { pair: summary(samples.pair[measure]), embedded: summary(samples.embedded[measure]) };
}
emit({
  skipped: null,
  setup: {
    postgresVersion,
    postgresSettings: POSTGRES_SETTINGS,
    s3rverVersion: JSON.parse(fs.readFileSync(path.join(REPO_DIR, "node_modules", "s3rver", "package.json"), "utf8")).version,
    embeddedDurability: "normal",
  },
  reps,
  seqCount,
  sweepCount,
  timedInFlight,
  inFlight,
  bigCount,
  bigSize,
  getCount,
  leaseSmall,
  /** ms per operation (per sweep for "sweep"), one value per repetition. */
  measures,
  /** The pair's requests per operation (per sweep for "sweep"), from the first repetition. */
  requests,
  comparisonSeconds,
  workers: {
    counts: workerCounts,
    durationMs: workerMs,
    reps: workerReps,
    inFlight: workerInFlight,
    results: Object.fromEntries(
      Object.entries(throughput).map(([count, t]) => [
        count,
        { stagesPerSec: summary(t.stagesPerSec), opsPerSec: summary(t.opsPerSec), errors: t.errors, perWorkerStages: t.perWorkerStages },
      ]),
    ),
  },
  failures,
});
