#!/usr/bin/env node
// attache's benchmark suite.
//
//   npm run bench                 full run (about 15–25 minutes on a 2-core machine)
//   npm run bench -- --quick      smaller sizes, about a minute or two
//   npm run bench -- --only=sweep,memory   some scenarios; results go to bench/results/partial.tmp
//   npm run bench -- --only=deliver --merge   some scenarios, merged into latest.json and BENCHMARKS.md
//                                 (each merged section says when and on which commit it was measured)
//   ATTACHE_BENCH_DELIVER_SIZE=64MiB   a smaller file for the delivery scenario's large upload
//   npm run bench -- --only=fleet      S3 + PostgreSQL beside SQLite + filesystem alone (needs PostgreSQL installed;
//                                 without it the scenario reports "skipped: no PostgreSQL")
//
// Every scenario runs in its own child process and measures attache and its
// references (cacache, the machine's limits) in the same repetitions, on the
// same data, interleaved. Results go to bench/results/latest.json and are
// rendered into BENCHMARKS.md at the repository root.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { analyze } from "./lib/analyze.js";
import { BENCH_DIR, GiB, MiB, REPO_DIR, dropCaches, log, runNode } from "./lib/common.js";
import { render } from "./render.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const onlyArg = args.find((a) => a.startsWith("--only="));
const only = onlyArg ? new Set(onlyArg.slice("--only=".length).split(",")) : null;
const merge = args.includes("--merge");
if (merge && only === null) throw new Error("--merge needs --only=<scenarios>: it replaces those in bench/results/latest.json");

const SIZES = quick
  ? {
      fsLimits: { count: 200, reps: 3 },
      largeIngest: { size: 128 * MiB, reps: 3 },
      verifiedRead: { size: 128 * MiB, reps: 3 },
      smallIngest: { count: 1000, reps: 2 },
      metadata: { count: 10_000, lookups: 5000, reps: 3 },
      sweep: { totals: [10_000, 100_000], reps: 3, expiredFraction: 0.05 },
      memory: { streamSize: 512 * MiB, manifestTotal: 100_000, reps: 1, expiredFraction: 0.05 },
      deliver: { size: 128 * MiB, reps: 3, ledgerCalls: 2000, ledgerReps: 3, chunked: [{ size: 16 * MiB, partSize: 1 * MiB }, { size: 64 * MiB, partSize: 8 * MiB }], latencyMs: 50, chunkedReps: 3 },
      fleet: { reps: 1, seqCount: 50, sweepCount: 1000, timedInFlight: 100, bigCount: 4, bigSize: 4 * MiB, getCount: 300, leaseSmall: 10, workerCounts: [1, 2, 4], workerMs: 3000, workerReps: 1 },
      serve: { seconds: 2, connections: 10, bigMiB: 16, rounds: 1 },
    }
  : {
      fsLimits: { count: 1000, reps: 3 },
      largeIngest: { size: 1 * GiB, reps: 7 },
      verifiedRead: { size: 1 * GiB, reps: 7 },
      smallIngest: { count: 20_000, reps: 3 },
      metadata: { count: 100_000, lookups: 20_000, reps: 5 },
      sweep: { totals: [100_000, 1_000_000], reps: 3 },
      memory: { streamSize: 4 * GiB, manifestTotal: 1_000_000, reps: 1 },
      deliver: { size: 256 * MiB, reps: 7, ledgerCalls: 20_000, ledgerReps: 5, chunked: [{ size: 16 * MiB, partSize: 1 * MiB }, { size: 64 * MiB, partSize: 8 * MiB }], latencyMs: 50, chunkedReps: 5 },
      // S3 + PostgreSQL beside SQLite + filesystem (starts its own PostgreSQL cluster and s3rver): about 3 minutes.
      fleet: { reps: 2, seqCount: 60, sweepCount: 1000, timedInFlight: 120, bigCount: 5, bigSize: 4 * MiB, getCount: 400, leaseSmall: 15, workerCounts: [1, 2, 4], workerMs: 5000, workerReps: 2 },
      // attache serve beside a bare node:http server on the same store, loaded by autocannon on loopback.
      serve: { seconds: 5, connections: 10, bigMiB: 64, rounds: 3 },
    };

// Order: the sweep builds the large manifest fixture that the memory scenario reuses.
const SCENARIOS = [
  ["fsLimits", "fs-limits.js"],
  ["largeIngest", "large-ingest.js"],
  ["verifiedRead", "verified-read.js"],
  ["smallIngest", "small-ingest.js"],
  ["metadata", "metadata.js"],
  ["sweep", "sweep.js"],
  ["memory", "memory.js"],
  ["deliver", "deliver.js"],
  ["fleet", "fleet.js"],
  ["serve", "serve.js"],
];

const RESULTS_DIR = path.join(BENCH_DIR, "results");
const SNAPSHOT_DIR = path.join(RESULTS_DIR, "attache-dist.tmp");

function git(...gitArgs) {
  const r = spawnSync("git", gitArgs, { cwd: REPO_DIR, encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Builds dist/ if it is missing or older than src/, then snapshots it (others may rebuild dist/ during the run). */
function prepareBuild() {
  const dist = path.join(REPO_DIR, "dist", "index.js");
  const newestSrc = (dir) =>
    fs.readdirSync(dir, { withFileTypes: true }).reduce((newest, e) => {
      const p = path.join(dir, e.name);
      return Math.max(newest, e.isDirectory() ? newestSrc(p) : fs.statSync(p).mtimeMs);
    }, 0);
  let buildFailed = false;
  const stale = !fs.existsSync(dist) || fs.statSync(dist).mtimeMs < newestSrc(path.join(REPO_DIR, "src"));
  if (stale) {
    log("dist/ is missing or older than src/: running npm run build");
    const r = spawnSync("npm", ["run", "build"], { cwd: REPO_DIR, stdio: ["ignore", "ignore", "inherit"] });
    if (r.status !== 0) {
      if (!fs.existsSync(dist)) throw new Error("npm run build failed and there is no dist/index.js to measure");
      log("npm run build failed (see above); measuring the dist/index.js that is there");
      buildFailed = true;
    }
  }
  fs.rmSync(SNAPSHOT_DIR, { recursive: true, force: true });
  fs.mkdirSync(SNAPSHOT_DIR, { recursive: true });
  for (const name of fs.readdirSync(path.join(REPO_DIR, "dist"))) {
    if (name.endsWith(".js")) fs.copyFileSync(path.join(REPO_DIR, "dist", name), path.join(SNAPSHOT_DIR, name));
  }
  return { rebuilt: stale && !buildFailed, buildFailed, snapshot: path.join(SNAPSHOT_DIR, "index.js") };
}

function diskFree(dir) {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

function machine(tmpRoot) {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    diskFreeBytes: diskFree(tmpRoot),
    tempDir: tmpRoot,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg(),
  };
}

/**
 * `--merge`: the scenarios of this run replace theirs in latest.json; the rest, and the
 * header's run, stay. Each merged scenario keeps a note of its own run (`mergedRun`),
 * which BENCHMARKS.md prints in its section.
 */
function mergeIntoLatest(meta, scenarios, errors) {
  const latest = JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, "latest.json"), "utf8"));
  for (const [key, result] of Object.entries(scenarios)) {
    latest.scenarios[key] = {
      ...result,
      mergedRun: {
        date: meta.date,
        mode: meta.mode,
        commit: meta.attache.commit,
        srcModified: meta.attache.srcModified,
        loadAverage: { start: meta.machine.loadAverageAtStart, end: meta.machine.loadAverageAtEnd },
        node: meta.machine.node,
      },
    };
    latest.meta.sizes[key] = meta.sizes[key];
    if (latest.errors) delete latest.errors[key];
  }
  latest.errors = { ...latest.errors, ...errors };
  latest.figures = analyze(latest.scenarios);
  return latest;
}

async function main() {
  const started = new Date();
  const build = prepareBuild();
  const tmpBase = os.tmpdir();
  const need = quick ? 3 * GiB : 14 * GiB;
  const free = diskFree(tmpBase);
  if (free < need) throw new Error(`${tmpBase} has ${(free / GiB).toFixed(1)} GiB free; the ${quick ? "quick" : "full"} run needs about ${need / GiB} GiB`);
  const tmp = fs.mkdtempSync(path.join(tmpBase, "attache-bench-"));
  const cleanup = () => fs.rmSync(tmp, { recursive: true, force: true });
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      cleanup();
      fs.rmSync(SNAPSHOT_DIR, { recursive: true, force: true });
      process.exit(130);
    });
  }

  const meta = {
    mode: quick ? "quick" : "full",
    date: started.toISOString(),
    machine: machine(tmp),
    attache: {
      commit: git("rev-parse", "--short", "HEAD"),
      srcModified: (git("status", "--porcelain", "--", "src") ?? "") !== "",
      rebuiltDist: build.rebuilt,
      buildFailed: build.buildFailed,
    },
    cacacheVersion: JSON.parse(fs.readFileSync(path.join(REPO_DIR, "node_modules", "cacache", "package.json"), "utf8")).version,
    betterSqlite3Version: JSON.parse(fs.readFileSync(path.join(REPO_DIR, "node_modules", "better-sqlite3", "package.json"), "utf8")).version,
    pageCache: {
      policy: "warm",
      dropCachesPermitted: dropCaches(),
      note: "Every contender reads its input from the page cache (inputs are written or read once before the timed runs); `sync` runs before each timed operation, outside the timing, so one contender's writeback does not land in another's time",
    },
    sizes: SIZES,
  };
  log(`${meta.mode} run in ${tmp} (${meta.machine.cores} cores, ${meta.machine.cpuModel}, node ${process.version})`);

  const scenarios = {};
  const errors = {};
  try {
    for (const [key, script] of SCENARIOS) {
      if (only !== null && !only.has(key)) continue;
      const dir = path.join(tmp, key);
      fs.mkdirSync(dir, { recursive: true });
      const config = { ...SIZES[key], tmp: key === "sweep" || key === "memory" ? tmp : dir, quick };
      const t = performance.now();
      log(`scenario ${key}…`);
      try {
        scenarios[key] = await runNode(path.join(BENCH_DIR, "scenarios", script), ["--config", JSON.stringify(config)], {
          env: { ATTACHE_BENCH_DIST: build.snapshot },
        });
        scenarios[key].wallSeconds = (performance.now() - t) / 1000;
      } catch (err) {
        errors[key] = err.message;
        log(`scenario ${key} failed: ${err.message}`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    cleanup();
    fs.rmSync(SNAPSHOT_DIR, { recursive: true, force: true });
  }

  meta.durationSeconds = (Date.now() - started.getTime()) / 1000;
  meta.machine.loadAverageAtEnd = os.loadavg();
  let results = { meta, scenarios, errors, figures: analyze(scenarios) };
  if (merge) results = mergeIntoLatest(meta, scenarios, errors);

  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const target = only === null || merge ? path.join(RESULTS_DIR, "latest.json") : path.join(RESULTS_DIR, "partial.tmp");
  fs.writeFileSync(`${target}.${process.pid}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
  fs.renameSync(`${target}.${process.pid}.tmp`, target);
  const markdown = render(results);
  const mdTarget = only === null || merge ? path.join(REPO_DIR, "BENCHMARKS.md") : path.join(RESULTS_DIR, "partial-BENCHMARKS.md.tmp");
  fs.writeFileSync(mdTarget, markdown);
  log(`wrote ${path.relative(REPO_DIR, target)} and ${path.relative(REPO_DIR, mdTarget)} in ${meta.durationSeconds.toFixed(0)} s`);
  for (const f of results.figures) {
    const r = f.ratio == null ? "—" : f.ratio.toFixed(2);
    log(`${f.met === null ? "  " : f.met ? "ok" : "NO"} ${f.label}: ratio ${r} (target ${f.target?.text ?? "—"})`);
  }
  if (Object.keys(errors).length > 0) process.exitCode = 1;
}

await main();
