// Scenario 3: small ingest: N distinct 4 KiB buffers staged from one process,
// one at a time and with 16 stages in flight (and durable, and as file blobs),
// against cacache.put doing the same (same buffers, same concurrency). Fresh store / cache per run.
import { randomFillSync } from "node:crypto";
import path from "node:path";
import {
  bytesWrittenSoFar,
  emit,
  loadAttache,
  loadCacache,
  log,
  pool,
  rmrf,
  rotate,
  scenarioConfig,
  summary,
  syncDisks,
} from "../lib/common.js";
import { inlineStageFloor } from "../lib/sqlite-floor.js";

const config = scenarioConfig();
const { tmp, count, reps, bufferSize = 4096 } = config;
const { openStore } = await loadAttache();
const cacache = await loadCacache();

const buffers = [];
{
  const all = Buffer.allocUnsafe(count * bufferSize);
  randomFillSync(all);
  for (let i = 0; i < count; i++) buffers.push(all.subarray(i * bufferSize, (i + 1) * bufferSize));
}

const samples = {};
/** How many buffers each contender stages (the file-blob reference, slow, stages fewer). */
const counts = {};
const written = {};
const cpu = {};

async function measure(name, fn, n = count) {
  syncDisks();
  const w0 = bytesWrittenSoFar();
  const c0 = process.cpuUsage();
  const start = performance.now();
  await fn();
  const ms = performance.now() - start;
  const c = process.cpuUsage(c0);
  const w1 = bytesWrittenSoFar();
  (samples[name] ??= []).push(ms);
  (written[name] ??= []).push(w0 === null ? null : (w1 - w0) / n);
  (cpu[name] ??= []).push((c.user + c.system) / 1000 / n);
  counts[name] = n;
}

/**
 * attache with its defaults (small blobs inline in the manifest, group commit)
 * one at a time and with 16 in flight, with `durability: "full"`, and — the
 * "before" reference — with every blob a file (`inlineMaxSize: 0`).
 */
const attacheCases = [
  { label: "sequential", inFlight: 1, options: {} },
  { label: "16 in flight", inFlight: 16, options: {} },
  { label: "sequential, durability full", inFlight: 1, options: { durability: "full" } },
  { label: "sequential, file blobs", inFlight: 1, options: { inlineMaxSize: 0 }, count: Math.min(count, 5000) },
];
const contenders = [];
for (const { label, inFlight, options, count: n = count } of attacheCases) {
  contenders.push({
    name: `attache stage (${label})`,
    async run() {
      const dir = path.join(tmp, "small-store");
      await rmrf(dir);
      const store = await openStore({ dir, sweepInterval: false, ...options });
      await measure(this.name, () => pool(n, inFlight, (i) => store.stage(buffers[i])), n);
      const m = await store.metrics();
      if (m.attachments !== n) throw new Error(`attache holds ${m.attachments} attachments, expected ${n}`);
      await store.close();
      await rmrf(dir);
    },
  });
}
for (const inFlight of [1, 16]) {
  const label = inFlight === 1 ? "sequential" : `${inFlight} in flight`;
  contenders.push({
    name: `cacache.put (${label})`,
    async run() {
      const dir = path.join(tmp, "small-cacache");
      await rmrf(dir);
      await measure(this.name, () => pool(count, inFlight, (i) => cacache.put(dir, `small-${i}`, buffers[i], { algorithms: ["sha256"] })));
      await rmrf(dir);
    },
  });
}

// The floor under the inline figures: the rows an inline stage commits, straight through better-sqlite3.
contenders.push({
  name: "SQLite floor (an inline stage's rows, one transaction each, sequential)",
  async run() {
    const dir = path.join(tmp, "small-floor");
    await rmrf(dir);
    await (await openStore({ dir, sweepInterval: false })).close();
    const floor = inlineStageFloor(dir);
    await measure(this.name, async () => {
      for (let i = 0; i < count; i++) floor.stage(buffers[i], i);
    });
    floor.close();
    await rmrf(dir);
  },
});

for (let rep = 0; rep < reps; rep++) {
  const order = rotate(contenders, rep);
  log(`small ingest: repetition ${rep + 1}/${reps} (${count} × ${bufferSize} B)`);
  for (const c of order) await c.run();
}

const result = { count, counts, bufferSize, reps, timings: {}, opsPerSec: {}, bytesWrittenPerOp: {}, cpuMsPerOp: {} };
for (const name of Object.keys(samples)) {
  result.timings[name] = summary(samples[name]);
  result.opsPerSec[name] = summary(samples[name].map((ms) => (counts[name] * 1000) / ms));
  result.bytesWrittenPerOp[name] = summary(written[name].filter((x) => x !== null)).median;
  result.cpuMsPerOp[name] = summary(cpu[name]).median;
}
emit(result);
