// Renders the fleet scenario's results (S3 + PostgreSQL beside SQLite +
// filesystem) as the "Fleet: S3 + PostgreSQL" section of BENCHMARKS.md.
//
//   node bench/lib/fleet-render.js [results.json]    prints the section (default bench/results/latest.json)
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BENCH_DIR, fmtBytes } from "./common.js";

const num = (x, digits = 0) =>
  x == null ? "—" : x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function fmtMs(ms) {
  if (ms == null) return "—";
  if (ms === 0) return "0";
  if (ms < 1) return `${num(ms * 1000, ms < 0.1 ? 1 : 0)} µs`;
  if (ms < 10) return `${num(ms, 2)} ms`;
  if (ms < 100) return `${num(ms, 1)} ms`;
  return `${num(ms)} ms`;
}

const fmtRatio = (r) => (r == null ? "—" : `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`);
const range = (s) => (s == null || s.n === 0 ? "—" : s.n === 1 ? "—" : `${fmtMs(s.min)} – ${fmtMs(s.max)}`);
const table = (head, rows) =>
  [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

/** The measures in the order of the table; `rate` shows a per-second figure beside the time. */
function measureRows(f) {
  const small = "4 KiB";
  const big = fmtBytes(f.bigSize);
  return [
    ["stageSmallSeq", `stage ${small}, one after another (${num(f.seqCount)})`, "ops"],
    ["stageSmallInFlight", `stage ${small}, ${f.inFlight} in flight (${num(f.timedInFlight)})`, "ops"],
    ["stageBig", `stage ${big}, one after another (${num(f.bigCount)})`, "bytes"],
    ["get", `get() of a random ${small} attachment (${num(f.getCount)})`, "ops"],
    ["leaseSmallCold", `lease ${small}, cold: another host, empty cache (${num(f.leaseSmall)})`, null],
    ["leaseSmallCached", `lease ${small}, cached: the same again`, null],
    ["leaseBigCold", `lease ${big}, cold (${num(f.bigCount)})`, null],
    ["leaseBigCached", `lease ${big}, cached`, null],
    ["sweep", `sweep of ${num(f.sweepCount)} expired (one 4 KiB blob each)`, null],
  ];
}

function perSecond(ms, kind, bigSize) {
  if (ms == null || kind == null) return "";
  if (kind === "ops") return ` (${num(1000 / ms)}/s)`;
  return ` (${num(bigSize / 1048576 / (ms / 1000))} MiB/s)`;
}

function requestText(r) {
  if (r == null) return "—";
  const names = Object.entries(r.s3).map(([command, n]) => `${num(n, Number.isInteger(n) ? 0 : 2)} ${command.replace(/Command$/, "")}`);
  return names.length === 0 ? "none" : names.join(", ");
}

const s3Requests = (r) => (r == null ? null : Object.values(r.s3).reduce((a, b) => a + b, 0));

/**
 * Markdown for the fleet section, from the scenario's result. Give `meta` (the
 * run's) when the section was measured apart from the run BENCHMARKS.md opens
 * with, so that it says when and on which commit; a merged result says so itself.
 */
export function renderFleet(f, meta) {
  const out = [];
  const p = (...blocks) => out.push(...blocks.flatMap((b) => [b, ""]));
  p("## Fleet: S3 + PostgreSQL");
  if (f.skipped) {
    p(`Skipped in this run: ${f.skipped}. Install PostgreSQL 15 (Debian: \`apt-get install postgresql-15\`) and run \`npm run bench -- --only=fleet\`.`);
    return out.join("\n");
  }
  const when = f.mergedRun
    ? `Measured on ${f.mergedRun.date.slice(0, 16).replace("T", " ")} UTC in a run of its own, commit ${f.mergedRun.commit}${f.mergedRun.srcModified ? " + uncommitted changes in src/" : ""}, load average ${f.mergedRun.loadAverage.start.map((x) => x.toFixed(2)).join(", ")} → ${f.mergedRun.loadAverage.end.map((x) => x.toFixed(2)).join(", ")}.`
    : meta
      ? `Measured on ${meta.date.slice(0, 16).replace("T", " ")} UTC by ${meta.command ?? "`npm run bench -- --only=fleet`"}, commit ${meta.attache.commit}${meta.attache.srcModified ? " + uncommitted changes in src/" : ""}, load average ${meta.machine.loadAverageAtStart.map((x) => x.toFixed(2)).join(", ")} → ${meta.machine.loadAverageAtEnd.map((x) => x.toFixed(2)).join(", ")}; the other sections come from the run named at the top.`
      : "";
  const s = f.setup;
  p(
    "The store on a PostgreSQL manifest and an S3 blob store (the pair) beside the embedded default (SQLite + filesystem, " +
      `\`durability: "${s.embeddedDurability}"\`), in the same run, on the same bytes, the two interleaved (their order rotating); ` +
      `each figure is the median of ${f.reps} repetition${f.reps === 1 ? "" : "s"}, each on a fresh store. ${when}` +
      (f.wallSeconds ? ` The scenario took ${num(f.wallSeconds / 60, 1)} min.` : ""),
    "**Setup.** The scenario starts its own servers, both on loopback, with the tests' start-up code (`test/support/postgres-cluster.mjs`, " +
      `\`test/support/s3-server.mjs\`): PostgreSQL ${s.postgresVersion.split(" ")[0]} in a private cluster with its default durability ` +
      `(${Object.entries(s.postgresSettings).map(([k, v]) => `\`${k}=${v}\``).join(", ")}: every commit waits for its WAL to reach the disk), ` +
      `and s3rver ${s.s3rverVersion}, a Node process that writes each object to a local file (no fsync) — the S3 protocol, not S3's latency. ` +
      "Each pair handle has its own S3 client (the SDK's defaults, `maxAttempts: 5`), a pool of up to 8 connections, and a directory and cacheDir of its own, " +
      "as another host would; a \"cold\" lease is taken through a second handle whose cache is empty (on the embedded store, a second handle on the same directory: there is no other host). " +
      "The 4 KiB stages in flight are given a 1 h ttl, with the rest of the attachments the sweep will find expired (staged untimed); " +
      "the sweep runs on a third handle whose clock is 2 h ahead, and must report every one of them expired and its blob deleted.",
  );

  const m = f.measures;
  p(
    table(
      ["Operation", "S3 + PostgreSQL", "SQLite + filesystem", "pair ÷ embedded", "range (pair)", "range (embedded)"],
      measureRows(f).map(([key, label, kind]) => {
        const pair = m[key]?.pair;
        const emb = m[key]?.embedded;
        const ratio = pair?.median != null && emb?.median ? pair.median / emb.median : null;
        return [label, `${fmtMs(pair?.median)}${perSecond(pair?.median, kind, f.bigSize)}`, `${fmtMs(emb?.median)}${perSecond(emb?.median, kind, f.bigSize)}`, fmtRatio(ratio), range(pair), range(emb)];
      }),
    ),
    "Times are per operation (wall time ÷ count; per sweep for the sweep); a lease's time includes its release. The ratio is the pair's time ÷ the embedded store's (higher: the pair is slower).",
  );

  if (f.requests && Object.keys(f.requests).length > 0) {
    const latency = 20;
    p(
      "What the pair sends per operation (counted on its S3 clients, before the SDK's retries, and on its PostgreSQL connections; first repetition). " +
        `On real S3 each request is a network round trip of tens of milliseconds (more for writes and copies), against the few milliseconds s3rver takes here; ` +
        `the last column is what the S3 requests alone would add at ${latency} ms each if sent one after another — a floor, not a measurement.`,
      table(
        ["Operation", "S3 requests", "PostgreSQL round trips (transactions)", `S3 at ${latency} ms a request`],
        measureRows(f).map(([key, label]) => {
          const r = f.requests[key];
          const per = key === "sweep" ? f.sweepCount : 1;
          const n = s3Requests(r);
          return [
            key === "sweep" ? `${label}, per sweep` : label,
            requestText(r),
            r == null ? "—" : `${num(r.pgRoundTrips, Number.isInteger(r.pgRoundTrips) ? 0 : 1)} (${num(r.pgTransactions, Number.isInteger(r.pgTransactions) ? 0 : 1)})`,
            n == null ? "—" : key === "sweep" ? `${fmtMs(n * latency)} (${fmtMs((n * latency) / per)} per expired)` : fmtMs(n * latency),
          ];
        }),
      ),
    );
  }

  const w = f.workers;
  if (w) {
    const one = w.results["1"]?.stagesPerSec.median ?? null;
    p(
      `### Worker processes on one store`,
      `${w.counts.join(", ")} worker processes at once on one pair store (a fresh schema and prefix per round), each with its own directory and cacheDir, ` +
        `each running ${w.inFlight} loops of a mixed small workload for ${num(w.durationMs / 1000, 1)} s (\`bench/lib/fleet-worker.js\`): ` +
        "stage 4 KiB of fresh bytes in its own scope and get() it; every 2nd time lease it (and release the lease), every 3rd release the attachment, " +
        "every 4th also stage one of 32 contents all workers share into one scope (a dedup on a blob the others stage too). " +
        `Rounds rotate their order; median of ${w.reps} round${w.reps === 1 ? "" : "s"} each. Stages per second are summed over the workers; operations count stages, gets, leases and releases.`,
      table(
        ["Workers", "stages/s (median)", "range", "operations/s", "vs 1 worker", "stages per worker (each round)", "errors"],
        w.counts.map((count) => {
          const r = w.results[String(count)];
          const rate = r?.stagesPerSec.median ?? null;
          return [
            String(count),
            num(rate, 1),
            r && r.stagesPerSec.n > 1 ? `${num(r.stagesPerSec.min, 1)} – ${num(r.stagesPerSec.max, 1)}` : "—",
            num(r?.opsPerSec.median, 1),
            one && rate != null ? fmtRatio(rate / one) : "—",
            r ? r.perWorkerStages.map((round) => round.join(" / ")).join("; ") : "—",
            r && Object.keys(r.errors).length > 0 ? Object.entries(r.errors).map(([k, n]) => `${k} ×${n}`).join(", ") : "none",
          ];
        }),
      ),
    );
  }
  if (f.failures?.length) p(`**Failed checks:** ${f.failures.join("; ")}`);
  // Observations written for the run the section shows (bench/notes/fleet.md): rewrite them with a new run.
  const notes = path.join(BENCH_DIR, "notes", "fleet.md");
  if (fs.existsSync(notes)) p(fs.readFileSync(notes, "utf8").trim());
  return out.join("\n").trimEnd();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? path.join(BENCH_DIR, "results", "latest.json");
  const results = JSON.parse(fs.readFileSync(file, "utf8"));
  const fleet = results.scenarios?.fleet;
  if (!fleet) throw new Error(`${file} has no fleet scenario`);
  process.stdout.write(`${renderFleet(fleet, results.meta)}\n`);
}
