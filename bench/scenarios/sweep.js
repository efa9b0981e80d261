// Scenario 6: sweep scaling. For each store size (total attachments) and each
// number of expired attachments, a fresh copy of the fixture store is opened
// with a clock that makes exactly that many expired, and one sweep() is timed.
// A sweep must cost in proportion to what it reclaims, not to the store size.
import path from "node:path";
import { emit, loadAttache, log, rotate, scenarioConfig, summary, syncDisks } from "../lib/common.js";
import { clockFor, ensureFixture, withFixtureStore } from "../lib/manifest-fixture.js";
import { sweepFloor } from "../lib/sqlite-floor.js";

const config = scenarioConfig();
const { tmp, totals, reps, steadySweeps = 5, expiredFraction = 0.1 } = config;
const { openStore } = await loadAttache();

const cases = [];
const fixtures = {};
for (const total of totals) {
  const maxExpired = Math.min(100_000, Math.max(1000, Math.round(total * expiredFraction)));
  fixtures[total] = await ensureFixture(path.join(tmp, "fixtures", `manifest-${total}`), total, maxExpired);
  for (const expired of [...new Set([0, 1000, 10_000, maxExpired])].filter((n) => n <= maxExpired)) cases.push({ total, expired, maxExpired });
}

const runDir = path.join(tmp, "sweep-run");
// The floor under the largest store's sweep of 10,000: the same rows and files dropped straight (bench/lib/sqlite-floor.js).
const floorTotal = Math.max(...totals);
const floorCase = cases.find((c) => c.total === floorTotal && c.expired === 10_000);
const floorMs = [];
const results = new Map(cases.map((c) => [`${c.total}/${c.expired}`, { ...c, wallMs: [], reportMs: [], steadyMs: [], reports: [] }]));
const failures = [];

for (let rep = 0; rep < reps; rep++) {
  log(`sweep: repetition ${rep + 1}/${reps}`);
  for (const c of rotate(cases, rep)) {
    const r = results.get(`${c.total}/${c.expired}`);
    await withFixtureStore(fixtures[c.total], runDir, c.expired, async (dir) => {
      syncDisks();
      const now = clockFor(c.expired, c.maxExpired);
      const store = await openStore({ dir, sweepInterval: false, clock: () => now });
      const start = performance.now();
      const report = await store.sweep();
      r.wallMs.push(performance.now() - start);
      r.reportMs.push(report.durationMs);
      r.reports.push({ expired: report.expired, blobsDeleted: report.blobsDeleted });
      if (report.expired !== c.expired || report.blobsDeleted !== c.expired) {
        failures.push(`total ${c.total}, expected ${c.expired} expired: sweep reported ${JSON.stringify(report)}`);
      }
      // Sweeps that follow on the same store have nothing left to do.
      for (let i = 0; i < steadySweeps; i++) {
        const t = performance.now();
        await store.sweep();
        r.steadyMs.push(performance.now() - t);
      }
      await store.close();
    });
  }
}

if (floorCase !== undefined) {
  for (let rep = 0; rep < reps; rep++) {
    log(`sweep: SQLite + unlink floor, repetition ${rep + 1}/${reps}`);
    await withFixtureStore(fixtures[floorTotal], runDir, floorCase.expired, async (dir) => {
      syncDisks();
      floorMs.push(sweepFloor(dir, clockFor(floorCase.expired, floorCase.maxExpired), floorCase.expired));
    });
  }
}

emit({
  floor: floorCase === undefined ? null : { total: floorTotal, expired: floorCase.expired, ms: summary(floorMs) },
  reps,
  fixtures: Object.values(fixtures),
  population: "manifest rows built directly in SQLite (see bench/lib/manifest-fixture.js)",
  failures,
  cases: [...results.values()].map((r) => ({
    total: r.total,
    expired: r.expired,
    sweepMs: summary(r.wallMs),
    reportDurationMs: summary(r.reportMs),
    followingSweepMs: summary(r.steadyMs),
    reports: r.reports,
  })),
});
