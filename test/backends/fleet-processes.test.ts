/**
 * Many processes on one fleet store: a PostgreSQL manifest (a schema per
 * test) and an S3 bucket prefix on s3rver, four worker processes each with a
 * directory and a cacheDir of its own, as on four hosts. The workers
 * (fleet-worker.mjs) import the built package: run `npm run build` first.
 *
 *   - a mixed workload for a bounded time, each worker checking its own
 *     invariants live; then a sweep past the grace period and an audit;
 *   - a SIGKILL round: two workers killed mid-stage (a multipart upload in
 *     flight), then the same sweep and audit: nothing a worker was told was
 *     staged is lost or damaged, and nothing is left behind.
 *
 * The audit (fleet-audit.ts): held and live attachments read back verified,
 * exactly one object per live digest under blobs/, no temp object, no
 * multipart upload, no condemned blob row, no intent.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireDist, startWorker, type Worker } from "../helpers/processes.js";
import { tempDir } from "../support/fixtures.js";
import { postgresForTests, SKIP_POSTGRES } from "../support/postgres.js";
import { startS3Server, type S3TestServer } from "../support/s3.js";
import { auditFleet, bucketKeys, type FleetAudit, type FleetLocation, type Held } from "./fleet-audit.js";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "fleet-worker.mjs");
const MIXED_MS = Number(process.env.ATTACHE_FLEET_MS ?? 8_000);
const KILL_MS = 6_000;
const WORKERS = 4;
const GRACE = "1m";

const postgres = postgresForTests();
let server: S3TestServer | undefined;
beforeAll(async () => {
  if (!SKIP_POSTGRES) server = await startS3Server({ keepEmptyDirectories: true });
});
afterAll(() => server?.stop());

interface WorkerResult {
  slot: number;
  counts: Record<string, number>;
  mine: Held[];
  violations: string[];
}

async function freshFleet(): Promise<FleetLocation> {
  return {
    url: await postgres.url(),
    schema: await postgres.freshSchema(),
    server: server as S3TestServer,
    prefix: `fleet-${randomBytes(6).toString("hex")}/`,
    gracePeriod: GRACE,
  };
}

function startFleet(at: FleetLocation, profile: "mixed" | "stage", durationMs: number): Worker[] {
  requireDist();
  const s3 = at.server;
  return Array.from({ length: WORKERS }, (_, slot) => {
    const dir = tempDir(`attache-fleet-host${slot}-`);
    return startWorker(WORKER, {
      dir,
      cacheDir: path.join(dir, "cache"),
      url: at.url,
      schema: at.schema,
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      prefix: at.prefix,
      slot,
      seed: (Date.now() + slot * 7919) >>> 0,
      durationMs,
      profile,
      gracePeriod: GRACE,
    });
  });
}

function lines(worker: Worker): unknown[] {
  return worker
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as unknown);
}

/**
 * Waits until the worker is `delayMs` into a big (multipart) stage that has
 * not returned, and SIGKILLs it; returns how far into the stage it was.
 */
async function killMidStage(worker: Worker, delayMs: number): Promise<number> {
  await worker.waitForLine((line) => line.startsWith('{"staged"'), 30_000);
  for (let attempt = 0; attempt < 20; attempt++) {
    const done = Math.max(0, ...lines(worker).map((l) => (l as { begin?: number }).begin ?? 0));
    const begun = await worker.waitForLine((line) => {
      if (!line.startsWith('{"begin"')) return false;
      const { begin, size } = JSON.parse(line) as { begin: number; size: number };
      return begin > done && size > 5 * 1024 * 1024;
    }, 30_000);
    const at = Date.now();
    await sleep(delayMs);
    const seen = lines(worker);
    const since = seen.slice(seen.findIndex((l) => JSON.stringify(l) === begun) + 1);
    if (since.length === 0) {
      worker.child.kill("SIGKILL");
      return Date.now() - at;
    }
  }
  throw new Error(`no stage of the worker lasted ${delayMs} ms:\n${worker.output()}`);
}

function summary(audit: FleetAudit): string {
  const swept = audit.sweeps.map((s) => `expired ${s.expired}, blobs deleted ${s.blobsDeleted}, orphans ${s.orphansReclaimed}`).join(" | ");
  return `${audit.liveAttachments} live attachments, ${audit.liveDigests} live digests, ${audit.blobObjects} objects under blobs/; sweeps: ${swept}`;
}

describe.skipIf(SKIP_POSTGRES)("S3 + PostgreSQL fleet: four processes, four hosts", () => {
  it(`a mixed workload for ${MIXED_MS / 1000} s: no violation, then a sweep past grace leaves one object per live digest`, { timeout: MIXED_MS + 90_000 }, async () => {
    const at = await freshFleet();
    const started = Date.now();
    const workers = startFleet(at, "mixed", MIXED_MS);
    const violations: string[] = [];
    const results: WorkerResult[] = [];
    for (const [slot, worker] of workers.entries()) {
      const { code, signal } = await worker.exited;
      const result = lines(worker).at(-1) as WorkerResult | undefined;
      if (code !== 0 || result?.counts === undefined) {
        violations.push(`worker ${slot} failed (${code ?? signal}):\n${worker.output()}`);
        continue;
      }
      results.push(result);
      violations.push(...result.violations.map((v) => `worker ${slot}: ${v}`));
    }
    const ran = Date.now() - started;
    const audit = await auditFleet(at, results.flatMap((r) => r.mine), await postgres.admin());
    const totals: Record<string, number> = {};
    for (const r of results) for (const [kind, n] of Object.entries(r.counts)) totals[kind] = (totals[kind] ?? 0) + n;
    const ops = Object.values(totals).reduce((a, b) => a + b, 0);
    const byKind = Object.entries(totals).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(", ");
    console.log(
      `fleet mixed: ${WORKERS} processes, ${ops} operations (${byKind}) in ${ran} ms, ${violations.length} violations; ` +
        `held ${results.reduce((n, r) => n + r.mine.length, 0)}, lost ${audit.lost.length}, corrupt ${audit.corrupt.length}; ${summary(audit)}; audit ${Date.now() - started - ran} ms`,
    );
    expect(violations).toEqual([]);
    expect(audit.lost).toEqual([]);
    expect(audit.corrupt).toEqual([]);
    expect(audit.problems).toEqual([]);
    expect(results).toHaveLength(WORKERS);
    expect(ops).toBeGreaterThan(40);
  });

  it("two of four processes killed mid-stage: 0 lost, 0 corrupt, and a sweep past grace leaves no temp object or upload", { timeout: KILL_MS + 90_000 }, async () => {
    const at = await freshFleet();
    const started = Date.now();
    const workers = startFleet(at, "stage", KILL_MS);
    const midStage: number[] = [];
    await Promise.all(workers.slice(0, 2).map(async (worker, slot) => midStage.push(await killMidStage(worker, 60 + slot * 90))));
    const violations: string[] = [];
    const held: Held[] = [];
    const counts: Record<string, number> = {};
    for (const [slot, worker] of workers.entries()) {
      const { code, signal } = await worker.exited;
      const printed = lines(worker);
      for (const line of printed) {
        const staged = (line as { staged?: Held }).staged;
        if (staged !== undefined) held.push(staged);
      }
      if (slot < 2) {
        if (signal !== "SIGKILL") violations.push(`worker ${slot} was not killed (${code ?? signal}):\n${worker.output()}`);
        continue;
      }
      const result = printed.at(-1) as WorkerResult | undefined;
      if (code !== 0 || result?.counts === undefined) {
        violations.push(`worker ${slot} failed (${code ?? signal}):\n${worker.output()}`);
        continue;
      }
      violations.push(...result.violations.map((v) => `worker ${slot}: ${v}`));
      for (const [kind, n] of Object.entries(result.counts)) counts[kind] = (counts[kind] ?? 0) + n;
    }
    const ran = Date.now() - started;
    // Every survivor has closed its store: what is left in flight is the killed workers'.
    const leftByKilled = { uploads: at.server.pendingUploads().filter((u) => u.key.startsWith(at.prefix)).length, temps: (await bucketKeys(at.server, `${at.prefix}tmp/`)).length };
    const audit = await auditFleet(at, held, await postgres.admin());
    console.log(
      `fleet SIGKILL: 2 of ${WORKERS} killed, each ${midStage.join(" and ")} ms into a big streamed stage; left by them: ${leftByKilled.uploads} multipart uploads, ${leftByKilled.temps} temp objects; ` +
        `${held.length} stages reported done, ${new Set(held.map((h) => h.ref)).size} attachments ` +
        `(survivors: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ")}) in ${ran} ms, ${violations.length} violations; ` +
        `lost ${audit.lost.length}, corrupt ${audit.corrupt.length}; ${summary(audit)}; audit ${Date.now() - started - ran} ms`,
    );
    expect(violations).toEqual([]);
    expect(audit.lost).toEqual([]);
    expect(audit.corrupt).toEqual([]);
    expect(audit.problems).toEqual([]);
    expect(held.length).toBeGreaterThan(4);
    expect(leftByKilled.uploads + leftByKilled.temps, "the kills left something in flight for the sweep").toBeGreaterThan(0);
  });
});
