// Runs under a low `ulimit -n` (see descriptors.test.ts): stages every file in
// `sources` at once by path, then reads every staged attachment back at once,
// then verifies, and prints one JSON line summarising what failed and how.
// Config: ATTACHE_WORKER = { dir, sources }.
import fs from "node:fs";
import path from "node:path";

const { dir, sources } = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
const { openStore } = await import(process.env.ATTACHE_DIST);

/** Failures grouped by code, retryable and the cause's errno, with one message of each kind. */
function summarise(results) {
  const failures = {};
  for (const result of results) {
    if (result.status === "fulfilled") continue;
    const err = result.reason;
    const key = `${err?.code ?? err?.name}|retryable=${err?.retryable}|cause=${err?.cause?.code ?? "-"}`;
    failures[key] ??= { count: 0, message: String(err?.message ?? err) };
    failures[key].count++;
  }
  return failures;
}

// No fsync: this is about descriptors, and 1,500 fsyncs would only make the test slow.
const store = await openStore({ dir, sweepInterval: false, durability: "none" });
const files = fs.readdirSync(sources).map((name) => path.join(sources, name));
const staged = await Promise.allSettled(files.map((file, i) => store.stage(file, { scope: `s${i % 3}`, persist: true })));
const refs = staged.filter((r) => r.status === "fulfilled").map((r) => r.value);
const read = await Promise.allSettled(refs.map((a) => store.read(a.ref)));
const readBack = read.filter((r, i) => r.status === "fulfilled" && r.value.length === refs[i].size).length;
const report = await store.verify();
await store.close();
console.log(
  JSON.stringify({
    files: files.length,
    staged: refs.length,
    stageFailures: summarise(staged),
    readBack,
    readFailures: summarise(read),
    verify: { corrupt: report.corrupt, missing: report.missing, orphanFiles: report.orphanFiles },
  }),
);
