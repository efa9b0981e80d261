/**
 * Several processes on one store (invariant 1 under concurrency, invariant 2
 * afterwards). Four processes run a mixed workload for a bounded time; then
 * named races are played out, first deterministically (store agents paused at
 * the exact filesystem call that matters), then as short randomized runs:
 *
 *   - a sweep deleting a blob while another process stages the same bytes;
 *   - one scope released while another holds the same blob;
 *   - a lease outliving its attachment's expiry (a clock shared through a file);
 *   - two sweepers at once;
 *   - verify({ repair: true }) while scopes release and restage the same bytes;
 *   - reset() while other processes stage (attachments may then be gone, never damaged).
 *
 * After each: every attachment a process still holds reads and verifies, every
 * blob file hashes to its name, and a sweep past the grace period leaves no residue.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { isAttacheError, openStore } from "../../src/index.js";
import { requireDist, startAgent, startWorker, type Agent } from "../helpers/processes.js";
import { resetCounts, resetSince } from "../helpers/reset-log.js";
import { scaled, STRESS } from "../helpers/scale.js";
import { auditStore, hashFile, sha256Hex } from "../helpers/store-audit.js";
import { freshDir } from "../helpers/temp-dirs.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(HERE, "concurrency-worker.mjs");
const AGENT = path.join(HERE, "store-agent.mjs");
const MIXED_MS = Number(process.env.ATTACHE_CONCURRENCY_MS ?? scaled(8_000, 60_000));
const RACE_MS = scaled(1_500, 15_000);
const HOUR = 3_600_000;
const GRACE_MS = 60_000;

const totals: Record<string, number> = {};
afterAll(() => {
  const total = Object.values(totals).reduce((a, b) => a + b, 0);
  const byKind = Object.entries(totals)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  console.log(`concurrency: ${total} concurrent operations (${byKind})`);
});

interface WorkerResult {
  slot: number;
  counts: Record<string, number>;
  mine: Held[];
  violations: string[];
}

/** An attachment a worker holds at the end; `mark`: the reset log's size when its stage began. */
interface Held {
  ref: string;
  digest: string;
  mark?: number;
}

interface RunOptions {
  /** The reset log the workers share (profiles with resets). */
  resetLog?: string;
  /** Slots that may reset. */
  resetters?: number[];
}

/** Runs `n` workers with `profile` for `ms`, then checks everything they hold and sweeps. */
async function runWorkers(
  dir: string,
  n: number,
  profile: string,
  ms: number,
  label: string,
  options: RunOptions = {},
): Promise<{ results: WorkerResult[]; violations: string[] }> {
  requireDist();
  const workers = Array.from({ length: n }, (_, slot) =>
    startWorker(WORKER, { dir, slot, seed: (Date.now() + slot * 7919) >>> 0, durationMs: ms, profile, ...options }),
  );
  const results: WorkerResult[] = [];
  const violations: string[] = [];
  for (const [slot, worker] of workers.entries()) {
    const { code } = await worker.exited;
    const line = worker.output().trim().split("\n").reverse().find((l) => l.startsWith("{"));
    if (code !== 0 || line === undefined) {
      violations.push(`${label} worker ${slot} failed (${code}):\n${worker.output()}`);
      continue;
    }
    const result = JSON.parse(line) as WorkerResult;
    results.push(result);
    violations.push(...result.violations.map((v) => `${label} worker ${slot}: ${v}`));
    for (const [kind, count] of Object.entries(result.counts)) totals[kind] = (totals[kind] ?? 0) + count;
  }
  violations.push(...(await checkQuiet(dir, results.flatMap((r) => r.mine), label, options.resetLog)));
  return { results, violations };
}

/**
 * With every process done: what they hold verifies, blobs hash right, a late sweep leaves nothing.
 * With a reset log, a held attachment may be NOT_FOUND if a reset ran after its stage began (never damaged).
 */
async function checkQuiet(dir: string, held: Held[], label: string, resetLog?: string): Promise<string[]> {
  const out = auditStore(dir).violations.map((v) => `${label}: ${v}`);
  const store = await openStore({ dir, sweepInterval: false });
  try {
    for (const h of held) {
      const bytes = await store.read(h.ref).catch((err: unknown) => err);
      if (isAttacheError(bytes, "NOT_FOUND") && resetSince(resetLog, h.mark ?? Infinity)) {
        totals.heldGoneAfterReset = (totals.heldGoneAfterReset ?? 0) + 1;
        continue;
      }
      if (!Buffer.isBuffer(bytes)) out.push(`${label}: ${h.ref} is held but does not read: ${isAttacheError(bytes) ? bytes.code : String(bytes)}`);
      else if (sha256Hex(bytes) !== h.digest) out.push(`${label}: ${h.ref} reads other bytes`);
    }
    for (const a of await store.list()) {
      const bytes = await store.read(a.ref).catch((err: unknown) => err);
      // A short-lived shared attachment may expire between list() and read().
      const expiredMeanwhile = isAttacheError(bytes, "NOT_FOUND") && a.expiresAt !== null && a.expiresAt.getTime() <= Date.now();
      if (!Buffer.isBuffer(bytes) && !expiredMeanwhile) out.push(`${label}: live ${a.ref} does not read: ${String(bytes)}`);
      else if (Buffer.isBuffer(bytes) && sha256Hex(bytes) !== a.checksum) out.push(`${label}: live ${a.ref} reads other bytes`);
    }
  } finally {
    await store.close();
  }
  const later = Date.now() + HOUR;
  const sweeper = await openStore({ dir, sweepInterval: false, clock: () => later, gracePeriod: GRACE_MS });
  await sweeper.sweep().finally(() => sweeper.close());
  out.push(...auditStore(dir, { hash: false, clean: { now: later, gracePeriodMs: GRACE_MS } }).violations.map((v) => `${label}, after the sweep: ${v}`));
  return out;
}

function storeDir(): string {
  return path.join(freshDir("attache-concurrency-"), "store");
}

async function closeAll(agents: Agent[]): Promise<void> {
  for (const agent of agents) {
    await agent.send("close").catch(() => undefined);
    await agent.exited;
  }
}

interface Staged {
  ref: string;
  id: string;
  checksum: string;
}

describe("four processes, mixed workload", () => {
  it(`stage, release, lease and sweep concurrently for ${MIXED_MS / 1000} s without a violation`, { timeout: MIXED_MS + 120_000 }, async () => {
    const dir = storeDir();
    const { results, violations } = await runWorkers(dir, 4, "mixed", MIXED_MS, "mixed");
    const ops = results.reduce((n, r) => n + Object.values(r.counts).reduce((a, b) => a + b, 0), 0);
    console.log(`mixed: 4 processes, ${ops} operations in ${MIXED_MS / 1000} s, ${results.reduce((n, r) => n + r.mine.length, 0)} attachments held at the end, ${violations.length} violations`);
    expect(violations).toEqual([]);
    expect(ops).toBeGreaterThan(40);
  });
});

describe("a sweep deleting a blob while another process stages the same bytes", () => {
  it("the stager that arrives inside the deletion fence waits for it and rewrites the blob", { timeout: 60_000 }, async () => {
    const dir = storeDir();
    const sweeper = await startAgent(AGENT, { dir });
    const stager = await startAgent(AGENT, { dir });
    try {
      const doomed = await sweeper.call<Staged>("stage", { size: 300_000, fill: 42, scope: "a", ttl: 1 });
      await sleep(5);
      // The sweeper stops inside the fence, after its check and before its unlink, holding the write lock.
      await sweeper.call("pause", { call: "unlink", match: doomed.checksum });
      const sweeping = sweeper.send("sweep");
      await sweeper.paused();
      const staging = stager.send("stage", { size: 300_000, fill: 42, scope: "b", ttl: "7d" });
      const early = await Promise.race([staging.then(() => "replied"), sleep(400).then(() => "waiting")]);
      await sweeper.call("resume");
      const swept = await sweeping;
      const staged = await staging;
      expect(staged.ok, JSON.stringify(staged.error)).toBe(true);
      expect(swept.ok, JSON.stringify(swept.error)).toBe(true);
      expect(swept.value).toMatchObject({ expired: 1, blobsDeleted: 1 });
      expect(early, "the stage must not complete while the fence holds the blob").toBe("waiting");
      const ref = (staged.value as Staged).ref;
      expect(await stager.call("read", { ref })).toEqual({ size: 300_000, digest: doomed.checksum });
      expect(await sweeper.call("read", { ref })).toEqual({ size: 300_000, digest: doomed.checksum });
      expect(auditStore(dir).violations).toEqual([]);
    } finally {
      await closeAll([sweeper, stager]);
    }
    expect(await checkQuiet(dir, [], "fence first")).toEqual([]);
  });

  it("a stage that found the blob already stored keeps it: the sweep cannot delete it under the stage", { timeout: 60_000 }, async () => {
    const dir = storeDir();
    const sweeper = await startAgent(AGENT, { dir });
    const stager = await startAgent(AGENT, { dir });
    try {
      const old = await sweeper.call<Staged>("stage", { size: 300_000, fill: 7, scope: "a", ttl: 1 });
      // The stager stops after recording its intent, as it checks the stored blob it will reuse
      // (known bytes of a stored size are hashed first and never written).
      await stager.call("pause", { call: "stat", match: `${path.sep}blobs${path.sep}` });
      const staging = stager.send("stage", { size: 300_000, fill: 7, scope: "b", ttl: "7d" });
      await stager.paused();
      await sleep(5);
      const swept = await sweeper.call<{ expired: number; blobsDeleted: number }>("sweep");
      expect(swept.expired).toBe(1);
      expect(swept.blobsDeleted, "the blob a stage is committing to must not be deleted").toBe(0);
      await stager.call("resume");
      const staged = await staging;
      expect(staged.ok, JSON.stringify(staged.error)).toBe(true);
      expect(await sweeper.call("read", { ref: (staged.value as Staged).ref })).toEqual({ size: 300_000, digest: old.checksum });
    } finally {
      await closeAll([sweeper, stager]);
    }
    expect(await checkQuiet(dir, [], "stage first")).toEqual([]);
  });

  it("a stage between its intent and its rename keeps the blob from a concurrent release", { timeout: 60_000 }, async () => {
    const dir = storeDir();
    const releaser = await startAgent(AGENT, { dir });
    const stager = await startAgent(AGENT, { dir });
    try {
      await stager.call("pause", { call: "rename", match: `${path.sep}tmp${path.sep}` });
      const staging = stager.send("stage", { size: 200_000, fill: 9, scope: "b", ttl: "7d" });
      await stager.paused();
      // Meanwhile another process stages and releases the same bytes: its release must not delete what the stager is putting in place.
      const other = await releaser.call<Staged>("stage", { size: 200_000, fill: 9, scope: "a" });
      expect(await releaser.call("release", { ref: other.ref })).toBe(true);
      expect((await releaser.call<{ blobsDeleted: number }>("sweep")).blobsDeleted).toBe(0);
      await stager.call("resume");
      const staged = await staging;
      expect(staged.ok, JSON.stringify(staged.error)).toBe(true);
      expect(await releaser.call("read", { ref: (staged.value as Staged).ref })).toMatchObject({ digest: other.checksum });
    } finally {
      await closeAll([releaser, stager]);
    }
    expect(await checkQuiet(dir, [], "intent first")).toEqual([]);
  });

  it(`randomized: three processes expire, sweep and restage the same bytes for ${RACE_MS / 1000} s`, { timeout: RACE_MS + 60_000 }, async () => {
    const { violations } = await runWorkers(storeDir(), 3, "sweep-vs-stage", RACE_MS, "sweep-vs-stage");
    expect(violations).toEqual([]);
  });
});

describe("a stage paused between its rename and its commit", () => {
  // A process stopped (SIGSTOP, a suspended VM or laptop, a long GC pause) right after it renamed its
  // bytes into place, for longer than the grace period, while another process sweeps or resets.
  // The sweep rightly treats the stage's intent as an orphan and deletes the unreferenced blob; the
  // stage must then fail when it resumes, not commit an attachment whose bytes are gone.
  for (const intruder of ["sweep", "reset"] as const) {
    it(`does not return an attachment without bytes after a ${intruder} in another process`, { timeout: 60_000 }, async () => {
      const root = freshDir("attache-paused-");
      const dir = path.join(root, "store");
      const clockFile = path.join(root, "clock");
      fs.writeFileSync(clockFile, String(Date.now() + 2 * HOUR)); // the other process's clock: past the grace period
      const stager = await startAgent(AGENT, { dir });
      const other = await startAgent(AGENT, { dir, clockFile });
      let staged;
      try {
        await stager.call("pause", { call: "rename", match: `${path.sep}tmp${path.sep}`, when: "after" });
        // Larger than inlineMaxSize: the bytes go through a temp file and a rename.
        const staging = stager.send("stage", { size: 100_000, fill: 11, scope: "chat", ttl: "7d" });
        await stager.paused();
        const interference = await other.send(intruder);
        expect(interference.ok, JSON.stringify(interference.error)).toBe(true);
        await stager.call("resume");
        staged = await staging;
        if (staged.ok) {
          // If the stage claims success, its attachment must be live and verify.
          const read = await stager.send("read", { ref: (staged.value as Staged).ref });
          expect(read.ok ? "verified" : `${read.error?.code}: ${read.error?.message}`).toBe("verified");
        } else {
          expect(staged.error?.code).toBe("IO_ERROR");
        }
      } finally {
        await closeAll([stager, other]);
      }
      expect(auditStore(dir).violations).toEqual([]);
    });
  }
});

describe("one scope released while another holds the same blob", () => {
  it("the other scope's attachment keeps its bytes, across processes", { timeout: 60_000 }, async () => {
    const dir = storeDir();
    const a = await startAgent(AGENT, { dir });
    const b = await startAgent(AGENT, { dir });
    try {
      for (let round = 0; round < 5; round++) {
        const held = await b.call<Staged>("stage", { size: 100_000, fill: round, scope: "holder" });
        await a.call("stage", { size: 100_000, fill: round, scope: "chat" });
        await a.call("stage", { size: 50, fill: round, scope: "chat" });
        expect(await a.call("releaseScope", { scope: "chat" })).toBe(2);
        await a.call("sweep");
        expect(await b.call("read", { ref: held.ref })).toEqual({ size: 100_000, digest: held.checksum });
        expect(await a.call("read", { ref: held.ref })).toEqual({ size: 100_000, digest: held.checksum });
      }
      expect((await a.call<{ attachments: number; blobs: number }>("metrics")).blobs).toBe(5);
    } finally {
      await closeAll([a, b]);
    }
    expect(await checkQuiet(dir, [], "scope vs scope")).toEqual([]);
  });

  it(`randomized: three processes release their scopes while the others hold the same bytes, for ${RACE_MS / 1000} s`, { timeout: RACE_MS + 60_000 }, async () => {
    const { violations } = await runWorkers(storeDir(), 3, "scope-vs-scope", RACE_MS, "scope-vs-scope");
    expect(violations).toEqual([]);
  });
});

describe("a lease outliving its attachment's expiry", () => {
  it("keeps the bytes after expiry and a sweep in another process, until released or stale (shared clock file)", { timeout: 60_000 }, async () => {
    const root = freshDir("attache-lease-");
    const dir = path.join(root, "store");
    const clockFile = path.join(root, "clock");
    const t0 = Date.now();
    const setClock = (t: number) => fs.writeFileSync(clockFile, String(t));
    setClock(t0);
    const holder = await startAgent(AGENT, { dir, clockFile, gracePeriod: GRACE_MS });
    const sweeper = await startAgent(AGENT, { dir, clockFile, gracePeriod: GRACE_MS });
    const other = await startAgent(AGENT, { dir, clockFile, gracePeriod: GRACE_MS });
    try {
      const a = await holder.call<Staged>("stage", { size: 500_000, fill: 5, scope: "chat", ttl: "1m" });
      const lease = await holder.call<{ id: string; path: string; expiresAt: number }>("lease", { ref: a.ref, ttl: "1h" });
      expect(lease.expiresAt).toBe(t0 + HOUR);

      setClock(t0 + 10 * 60_000); // the attachment expired 9 minutes ago
      expect((await sweeper.send("get", { ref: a.ref })).error?.code).toBe("NOT_FOUND");
      expect((await sweeper.send("lease", { ref: a.ref })).error?.code).toBe("NOT_FOUND");
      expect(await sweeper.call("sweep")).toMatchObject({ expired: 1, blobsDeleted: 0 });
      expect(hashFile(lease.path)).toBe(a.checksum);
      // Another process stages the same bytes meanwhile and releases them: the lease still pins the blob.
      const again = await other.call<Staged>("stage", { size: 500_000, fill: 5, scope: "elsewhere" });
      expect(await other.call("read", { ref: again.ref })).toMatchObject({ digest: a.checksum });
      expect(await other.call("release", { ref: again.ref })).toBe(true);
      expect(await sweeper.call("sweep")).toMatchObject({ blobsDeleted: 0 });
      expect(hashFile(lease.path)).toBe(a.checksum);
      expect((await sweeper.call<{ leases: number }>("metrics")).leases).toBe(1);

      // Past the lease's own ttl and the grace period, a sweep reclaims it and frees the bytes.
      setClock(t0 + HOUR + GRACE_MS + 1);
      const late = await sweeper.call<{ blobsDeleted: number; orphansReclaimed: number }>("sweep");
      expect(late).toMatchObject({ blobsDeleted: 1, orphansReclaimed: 1 });
      expect(fs.existsSync(lease.path)).toBe(false);
      // The holder ends its lease late: a no-op, not an error.
      expect(await holder.call("leaseRelease", { id: lease.id })).toBe(true);

      // Released before its ttl, a lease frees the bytes at once.
      setClock(t0 + 2 * HOUR);
      const b = await holder.call<Staged>("stage", { size: 1000, fill: 6, scope: "chat", ttl: "1m" });
      const short = await holder.call<{ id: string; path: string }>("lease", { ref: b.ref, ttl: "1h" });
      setClock(t0 + 2 * HOUR + 5 * 60_000);
      expect(await sweeper.call("sweep")).toMatchObject({ expired: 1, blobsDeleted: 0 });
      await holder.call("leaseRelease", { id: short.id });
      expect(fs.existsSync(short.path)).toBe(false);
      expect(await sweeper.call("metrics")).toMatchObject({ attachments: 0, blobs: 0, leases: 0 });
    } finally {
      await closeAll([holder, sweeper, other]);
    }
    expect(auditStore(dir, { clean: { now: Number(fs.readFileSync(clockFile, "utf8")), gracePeriodMs: GRACE_MS } }).violations).toEqual([]);
  });
});

describe("two sweepers at once", () => {
  it("share the work without errors, double deletes or leftovers, also while a third process restages the bytes", { timeout: 120_000 }, async () => {
    const root = freshDir("attache-sweepers-");
    const dir = path.join(root, "store");
    const clockFile = path.join(root, "clock");
    let now = Date.now();
    fs.writeFileSync(clockFile, String(now));
    // The clock runs ahead of file mtimes here; a grace period of a day keeps the temp files of
    // stages in flight young (orphan age is mtime against the store's clock), while the planted
    // orphans are dated two days back.
    const grace = 86_400_000;
    const agents = await Promise.all([0, 1, 2].map(() => startAgent(AGENT, { dir, clockFile, gracePeriod: grace })));
    const [first, second, stager] = agents as [Agent, Agent, Agent];
    const rounds = scaled(4, 20);
    const PER_ROUND = scaled(40, 200);
    try {
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < PER_ROUND; i++) {
          await stager.call("stage", { text: `round ${round} blob ${i}`, scope: `s${i % 3}`, ttl: "1m" });
        }
        for (let i = 0; i < 3; i++) {
          const orphan = path.join(dir, "tmp", `orphan-${round}-${i}.tmp`);
          fs.writeFileSync(orphan, "left by a crash");
          const past = new Date(now - 2 * grace);
          fs.utimesSync(orphan, past, past);
        }
        now += 10 * 60_000;
        fs.writeFileSync(clockFile, String(now));
        // Both sweep at once while the third stages some of the same bytes again, with a long ttl.
        const sweeps = [first.send("sweep"), second.send("sweep")];
        const restaged: Staged[] = [];
        for (let i = 0; i < 10; i++) restaged.push(await stager.call<Staged>("stage", { text: `round ${round} blob ${i}`, scope: "keeper", ttl: "7d" }));
        const reports = await Promise.all(sweeps);
        for (const r of reports) expect(r.ok, JSON.stringify(r.error)).toBe(true);
        const values = reports.map((r) => r.value as { expired: number; blobsDeleted: number });
        expect(values[0]!.expired + values[1]!.expired, "each expired attachment dropped once").toBe(PER_ROUND);
        expect(values[0]!.blobsDeleted + values[1]!.blobsDeleted).toBeLessThanOrEqual(PER_ROUND);
        totals.concurrentSweeps = (totals.concurrentSweeps ?? 0) + 2;
        for (const r of restaged) expect(await first.call("read", { ref: r.ref })).toMatchObject({ digest: r.checksum });
        expect(auditStore(dir).violations).toEqual([]);
        expect(await stager.call("releaseScope", { scope: "keeper" })).toBe(10);
      }
      await first.call("sweep");
      expect(await second.call("metrics")).toMatchObject({ attachments: 0, blobs: 0 });
    } finally {
      await closeAll(agents);
    }
    expect(auditStore(dir, { clean: { now, gracePeriodMs: grace } }).violations).toEqual([]);
  });

  it(`randomized: three processes sweep and stage shared bytes for ${RACE_MS / 1000} s`, { timeout: RACE_MS + 60_000 }, async () => {
    const { violations } = await runWorkers(storeDir(), 3, "sweepers", RACE_MS, "sweepers");
    expect(violations).toEqual([]);
  });
});

/** Operations and violations of a randomized run, printed for the report. */
function summarize(label: string, results: WorkerResult[], violations: string[], extra = ""): number {
  const ops = results.reduce((n, r) => n + Object.values(r.counts).reduce((a, b) => a + b, 0), 0);
  const byKind: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.counts)) byKind[k] = (byKind[k] ?? 0) + v;
  const kinds = Object.entries(byKind)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  console.log(`${label}: ${results.length} processes, ${ops} operations (${kinds})${extra}, ${violations.length} violations`);
  return ops;
}

describe("verify({ repair: true }) while scopes release and restage the same bytes", () => {
  it(`randomized: three processes verify with repair, release and stage shared bytes across scopes for ${RACE_MS / 1000} s`, { timeout: RACE_MS + 60_000 }, async () => {
    const { results, violations } = await runWorkers(storeDir(), 3, "verify-vs-stage", RACE_MS, "verify-vs-stage");
    const ops = summarize("verify-vs-stage", results, violations);
    expect(violations).toEqual([]);
    expect(results.reduce((n, r) => n + (r.counts.verifyRepair ?? 0), 0), "verifies run").toBeGreaterThan(0);
    expect(ops).toBeGreaterThan(20);
  });
});

describe("reset() while other processes stage", () => {
  for (const resetters of [[0], [0, 1]]) {
    it(`randomized: ${resetters.length} of four processes reset while the others stage, read, lease and release for ${RACE_MS / 1000} s`, { timeout: RACE_MS + 60_000 }, async () => {
      const root = freshDir("attache-reset-race-");
      const resetLog = path.join(root, "resets.log");
      const label = `reset-vs-stage (${resetters.length} resetting)`;
      const { results, violations } = await runWorkers(path.join(root, "store"), 4, "reset-vs-stage", RACE_MS, label, { resetLog, resetters });
      const resets = resetCounts(resetLog);
      const ops = summarize(label, results, violations, `, ${resets.begun} resets`);
      expect(violations).toEqual([]);
      expect(resets.begun, "resets run").toBeGreaterThan(0);
      expect(resets.ended).toBe(resets.begun);
      expect(ops).toBeGreaterThan(20);
    });
  }
});

if (STRESS) {
  describe("stress", () => {
    it("eight processes, mixed workload", { timeout: MIXED_MS + 300_000 }, async () => {
      const { violations } = await runWorkers(storeDir(), 8, "mixed", MIXED_MS, "mixed x8");
      expect(violations).toEqual([]);
    });
  });
}
