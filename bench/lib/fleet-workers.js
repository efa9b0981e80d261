// Runs N fleet workers (fleet-worker.js) on one S3 + PostgreSQL store at once:
// starts them, waits until every one has opened the store, tells them all to
// go, and collects their counts.
import { spawn } from "node:child_process";
import path from "node:path";
import { BENCH_DIR, REPO_DIR } from "./common.js";

const WORKER = path.join(BENCH_DIR, "lib", "fleet-worker.js");

function startWorker(config) {
  const child = spawn(process.execPath, [WORKER, "--config", JSON.stringify(config)], {
    cwd: REPO_DIR,
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  let onLine = () => undefined;
  child.stdout.on("data", (d) => {
    out += d;
    if (out.includes("\n")) onLine();
  });
  const lines = () => out.trim().split("\n").filter((l) => l !== "");
  const ready = new Promise((resolve, reject) => {
    onLine = () => resolve();
    child.once("exit", (code) => reject(new Error(`fleet worker ${config.slot} exited with ${code} before it was ready`)));
  });
  const done = new Promise((resolve, reject) => {
    child.once("exit", (code, signal) => {
      if (code !== 0) return reject(new Error(`fleet worker ${config.slot} exited with ${code ?? signal}`));
      try {
        resolve(JSON.parse(lines().pop() ?? ""));
      } catch {
        reject(new Error(`fleet worker ${config.slot} printed no result: ${out.slice(-300)}`));
      }
    });
  });
  done.catch(() => undefined);
  return { child, ready, done };
}

/**
 * `count` workers on `location`, each with `<tmp>/worker-<slot>` as its dir
 * (and cacheDir under it), running for `durationMs` with `inFlight` loops each.
 * Resolves to their results and the total stages per second.
 */
export async function runFleetWorkers({ count, location, tmp, durationMs, inFlight }) {
  const workers = Array.from({ length: count }, (_, slot) =>
    startWorker({ location, dir: path.join(tmp, `worker-${slot}`), slot, durationMs, inFlight }),
  );
  try {
    await Promise.all(workers.map((w) => w.ready));
  } catch (err) {
    for (const w of workers) w.child.kill("SIGKILL");
    throw err;
  }
  for (const w of workers) w.child.stdin.write("go\n");
  const results = await Promise.all(workers.map((w) => w.done));
  const rate = (key) => results.reduce((sum, r) => sum + (r.counts[key] * 1000) / r.elapsedMs, 0);
  const ops = results.reduce((sum, r) => sum + (Object.values(r.counts).reduce((a, b) => a + b, 0) - r.counts.sharedStages) / (r.elapsedMs / 1000), 0);
  const errors = {};
  for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  return { stagesPerSec: rate("stages"), opsPerSec: ops, results, errors };
}
