// One worker process of the fleet scenario's throughput measurement: a handle
// on the shared S3 + PostgreSQL store with a directory and a cacheDir of its
// own (as a process on another host), running a mixed small workload.
//
//   node bench/lib/fleet-worker.js --config '{"location":…,"dir":…,"slot":0,"durationMs":6000,"inFlight":2}'
//
// It opens the store, prints {"ready":true}, waits for a line on stdin (the
// parent's "go", sent once every worker is ready), runs `inFlight` loops for
// durationMs, then prints its counts as the last line of stdout. One loop
// iteration: stage 4 KiB of fresh random bytes in its own scope, get() it;
// every 2nd iteration lease it (and release the lease), every 3rd release the
// attachment, every 4th also stage one of 32 contents every worker shares
// into the scope "shared" (a dedup on a blob the other workers stage too).
import { createHash, randomBytes } from "node:crypto";
import readline from "node:readline";
import { emit, scenarioConfig } from "./common.js";
import { loadFleetLibrary, openPairStore } from "./fleet-stores.js";

const { location, dir, slot, durationMs, inFlight } = scenarioConfig();
const lib = await loadFleetLibrary();
const handle = await openPairStore(lib, location, dir);
const { store } = handle;

/** The same 32 contents in every worker. */
const shared = Array.from({ length: 32 }, (_, k) => Buffer.from(createHash("sha256").update(`shared-${k}`).digest("hex").repeat(64)));
const counts = { stages: 0, sharedStages: 0, gets: 0, leases: 0, releases: 0 };
const errors = {};

async function iteration(i) {
  const a = await store.stage(randomBytes(4096), { scope: `worker-${slot}` });
  counts.stages++;
  if (i % 4 === 0) {
    await store.stage(shared[(i / 4 + slot) % shared.length], { scope: "shared" });
    counts.stages++;
    counts.sharedStages++;
  }
  await store.get(a.ref);
  counts.gets++;
  if (i % 2 === 0) {
    const lease = await store.lease(a.ref);
    await lease.release();
    counts.leases++;
  }
  if (i % 3 === 0) {
    await store.release(a.ref);
    counts.releases++;
  }
}

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
await new Promise((resolve) => readline.createInterface({ input: process.stdin }).once("line", resolve));

const start = performance.now();
const deadline = start + durationMs;
let next = 0;
await Promise.all(
  Array.from({ length: inFlight }, async () => {
    while (performance.now() < deadline) {
      const i = next++;
      try {
        await iteration(i);
      } catch (err) {
        const code = err?.code ?? err?.name ?? "Error";
        errors[code] = (errors[code] ?? 0) + 1;
        if (Object.values(errors).reduce((a, b) => a + b, 0) === 1) process.stderr.write(`[fleet-worker ${slot}] ${err?.stack ?? err}\n`);
      }
    }
  }),
);
const elapsedMs = performance.now() - start;
await handle.close();
emit({ slot, elapsedMs, counts, errors });
process.exit(0);
