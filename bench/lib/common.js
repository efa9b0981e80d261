// Shared helpers for the benchmark scenarios: timing, statistics, file
// generation, the machine-limit references (hash, copy), child processes.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = path.resolve(BENCH_DIR, "..");
/** The built library: a snapshot of dist/ taken by run.js (others may rebuild dist/ meanwhile), else dist/ itself. */
export const DIST = process.env.ATTACHE_BENCH_DIST ?? path.join(REPO_DIR, "dist", "index.js");

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Loads the built library (dist/index.js). */
export async function loadAttache() {
  return import(pathToFileURL(DIST).href);
}

/** Loads cacache (a devDependency). */
export async function loadCacache() {
  const mod = await import("cacache");
  return mod.default ?? mod;
}

export function log(...args) {
  process.stderr.write(`[bench] ${args.join(" ")}\n`);
}

export function median(values) {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** Summary of a list of samples: median, min, max, the samples themselves. */
export function summary(values) {
  const xs = values.filter((v) => Number.isFinite(v));
  return {
    median: median(xs),
    min: xs.length ? Math.min(...xs) : null,
    max: xs.length ? Math.max(...xs) : null,
    n: xs.length,
    samples: xs.map((v) => Math.round(v * 1000) / 1000),
  };
}

/** Milliseconds taken by `fn` (awaited). */
export async function time(fn) {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

/** Rotates `items` by `k`, so each repetition starts with a different contender. */
export function rotate(items, k) {
  const n = items.length;
  const s = ((k % n) + n) % n;
  return [...items.slice(s), ...items.slice(0, s)];
}

/** A small deterministic PRNG (mulberry32), so every contender gets the same "random" picks. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Flushes dirty pages (outside any timed region) so one contender's writeback does not land in the next one's time. */
export function syncDisks() {
  spawnSync("sync", { stdio: "ignore" });
}

/** Drops the page cache if this process may; returns whether it did. */
export function dropCaches() {
  try {
    syncDisks();
    fs.writeFileSync("/proc/sys/vm/drop_caches", "3");
    return true;
  } catch {
    return false;
  }
}

/** Writes `size` bytes of incompressible data to `file` (1 MiB random block, each MiB made distinct). */
export async function makeRandomFile(file, size, seed = 1) {
  const block = Buffer.allocUnsafe(MiB);
  randomFillSync(block);
  const fh = await fsp.open(file, "w");
  try {
    let written = 0;
    let i = 0;
    while (written < size) {
      const n = Math.min(MiB, size - written);
      block.writeUInt32LE(seed, 0);
      block.writeUInt32LE(i++, 4);
      await fh.write(block, 0, n, written);
      written += n;
    }
  } finally {
    await fh.close();
  }
}

/** Reads a whole file once (to put it in the page cache). */
export async function warm(file) {
  const fh = await fsp.open(file, "r");
  const buf = Buffer.allocUnsafe(MiB);
  try {
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, MiB, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/** Reference: SHA-256 of a file in one pass (read + hash, 1 MiB chunks), Node crypto. */
export async function hashFile(file) {
  const hash = createHash("sha256");
  const fh = await fsp.open(file, "r");
  const buf = Buffer.allocUnsafe(MiB);
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, MiB, null);
      if (bytesRead === 0) break;
      hash.update(bytesRead === MiB ? buf : buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest("hex");
}

/** Reference: fs.copyFile, optionally followed by an fsync of the copy (informational). */
export async function copyFile(from, to, { fsync = false } = {}) {
  await fsp.copyFile(from, to);
  if (fsync) {
    const fh = await fsp.open(to, "r+");
    await fh.sync();
    await fh.close();
  }
}

export async function rmrf(target) {
  await fsp.rm(target, { recursive: true, force: true, maxRetries: 3 });
}

/** Bytes this process passed to write(2) so far (/proc/self/io wchar), or null. */
export function bytesWrittenSoFar() {
  try {
    const text = fs.readFileSync("/proc/self/io", "utf8");
    const m = /wchar:\s+(\d+)/.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Peak and current RSS in bytes, from /proc/self/status (VmHWM, VmRSS), else resourceUsage. */
export function memoryStatus() {
  try {
    const text = fs.readFileSync("/proc/self/status", "utf8");
    const kb = (key) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
      return m ? Number(m[1]) * 1024 : null;
    };
    return { peakRss: kb("VmHWM"), rss: kb("VmRSS"), source: "/proc/self/status VmHWM" };
  } catch {
    return { peakRss: process.resourceUsage().maxRSS * 1024, rss: process.memoryUsage().rss, source: "process.resourceUsage().maxRSS" };
  }
}

/**
 * Runs `node <script> <args…>` and resolves with the JSON object it prints as
 * the last line of stdout. stderr is passed through.
 */
export function runNode(script, args = [], { nodeArgs = [], env = {}, timeoutMs = 30 * 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
      cwd: REPO_DIR,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0) {
        reject(new Error(`${path.basename(script)} ${args.join(" ")} exited with ${code ?? signal}: ${line}`));
        return;
      }
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`${path.basename(script)} printed no JSON result: ${out.slice(-500)}`));
      }
    });
  });
}

/** Parses the scenario's command line: `--config <json>`. */
export function scenarioConfig() {
  const i = process.argv.indexOf("--config");
  if (i < 0) throw new Error("missing --config <json>");
  return JSON.parse(process.argv[i + 1]);
}

/** Prints a scenario's result as the last line of stdout. */
export function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Runs `fn` with at most `concurrency` calls in flight over indexes 0..n-1. */
export async function pool(n, concurrency, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  });
  await Promise.all(workers);
}

/** Ratio helper that tolerates missing figures. */
export function ratio(a, b) {
  return a == null || b == null || b === 0 ? null : a / b;
}

export function fmtBytes(n) {
  if (n == null) return "—";
  if (n >= GiB) return `${(n / GiB).toFixed(n % GiB === 0 ? 0 : 2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(n % MiB === 0 ? 0 : 1)} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(n % KiB === 0 ? 0 : 1)} KiB`;
  return `${n} B`;
}
