// Scenario 4: metadata reads: `get` and `resolve` of random refs among N
// attachments, against cacache.get.info of random keys among N entries.
// Both stores are populated through their public APIs with the same N
// distinct small buffers; every contender looks up the same random sequence.
import { randomFillSync } from "node:crypto";
import path from "node:path";
import { emit, loadAttache, loadCacache, log, pool, prng, rmrf, rotate, scenarioConfig, summary } from "../lib/common.js";
import { lookupFloor } from "../lib/sqlite-floor.js";

const config = scenarioConfig();
const { tmp, count, lookups, reps, inFlight = 16, bufferSize = 1024 } = config;
const { openStore } = await loadAttache();
const cacache = await loadCacache();

const storeDir = path.join(tmp, "meta-store");
const cacheDir = path.join(tmp, "meta-cacache");
await rmrf(storeDir);
await rmrf(cacheDir);

const all = Buffer.allocUnsafe(count * bufferSize);
randomFillSync(all);
const buffer = (i) => all.subarray(i * bufferSize, (i + 1) * bufferSize);

// The two populations run at the same time (they are not timed: small ingest measures staging).
log(`metadata: populating attache and cacache with ${count} items each (${inFlight} in flight each)`);
const store = await openStore({ dir: storeDir, sweepInterval: false });
const refs = new Array(count);
const populateStart = performance.now();
await Promise.all([
  pool(count, inFlight, async (i) => {
    refs[i] = (await store.stage(buffer(i), { name: `file-${i}.bin`, scope: `chat:${i % 100}` })).ref;
  }),
  pool(count, inFlight, (i) => cacache.put(cacheDir, `file-${i}`, buffer(i), { algorithms: ["sha256"] })),
]);
const populateMs = performance.now() - populateStart;

const random = prng(42);
const picks = Array.from({ length: lookups }, () => Math.floor(random() * count));

// The floor under get(): its two statements on the same manifest, straight through better-sqlite3.
const floor = lookupFloor(storeDir);
const ids = refs.map((ref) => ref.slice("attache://".length));

const contenders = {
  "attache get": async (i) => {
    const a = await store.get(refs[i]);
    if (a.size !== bufferSize) throw new Error("wrong attachment");
  },
  "attache resolve": async (i) => {
    const { path: p } = await store.resolve(refs[i]);
    if (typeof p !== "string") throw new Error("no path");
  },
  "SQLite floor (get's statements)": async (i) => {
    if (floor.get(ids[i])?.size !== bufferSize) throw new Error("wrong row");
  },
  "cacache.get.info": async (i) => {
    const info = await cacache.get.info(cacheDir, `file-${i}`);
    if (info.size !== bufferSize) throw new Error("wrong entry");
  },
};

// Warm-up: a pass over a slice of the picks for each contender, untimed.
for (const fn of Object.values(contenders)) {
  for (const i of picks.slice(0, Math.min(1000, lookups))) await fn(i);
}

/** Lookups with many in flight (an agent server answering many requests): `pool` keeps this many going. */
const MANY = 1000;
const concurrent = { "attache get": `attache get (${MANY} in flight)`, "cacache.get.info": `cacache.get.info (${MANY} in flight)` };
const samples = Object.fromEntries([...Object.keys(contenders), ...Object.values(concurrent)].map((k) => [k, []]));
for (let rep = 0; rep < reps; rep++) {
  const order = rotate(Object.keys(contenders), rep);
  log(`metadata: repetition ${rep + 1}/${reps} (${lookups} lookups each)`);
  for (const name of order) {
    const fn = contenders[name];
    const start = performance.now();
    for (const i of picks) await fn(i);
    const ms = performance.now() - start;
    samples[name].push((lookups * 1000) / ms);
  }
  for (const name of rotate(Object.keys(concurrent), rep)) {
    const fn = contenders[name];
    const start = performance.now();
    await pool(lookups, MANY, (k) => fn(picks[k]));
    samples[concurrent[name]].push((lookups * 1000) / (performance.now() - start));
  }
}
floor.close();
await store.close();
await rmrf(storeDir);
await rmrf(cacheDir);

emit({
  count,
  lookups,
  reps,
  bufferSize,
  population: { inFlight, concurrent: true, ms: populateMs },
  opsPerSec: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)])),
});
