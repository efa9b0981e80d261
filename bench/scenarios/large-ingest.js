// Scenarios 1 and 2: large ingest (stage a big file from a path and from a
// stream, fresh store each time) and the dedup hit (stage the same bytes
// again into the store that has them). References in the same process and
// the same repetitions: SHA-256 of the file, fs.copyFile (and, for context,
// copyFile + fsync), cacache.put.stream. Contenders are interleaved and their
// order rotates from one repetition to the next.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import {
  bytesWrittenSoFar,
  copyFile,
  emit,
  hashFile,
  loadAttache,
  loadCacache,
  log,
  makeRandomFile,
  rmrf,
  rotate,
  scenarioConfig,
  summary,
  syncDisks,
  warm,
} from "../lib/common.js";

const config = scenarioConfig();
const { tmp, size, reps } = config;
const { openStore } = await loadAttache();
const cacache = await loadCacache();

const src = path.join(tmp, "large-source.bin");
log(`large ingest: generating a ${size} byte source file`);
await makeRandomFile(src, size, 1);
await warm(src);
const expected = await hashFile(src);

const samples = {};
const written = {};
const cpu = {};
function record(name, ms, bytes, cpuMs) {
  (samples[name] ??= []).push(ms);
  (written[name] ??= []).push(bytes);
  (cpu[name] ??= []).push(cpuMs);
}

/** Times one operation: `sync` first (untimed), then the op, with bytes written and CPU time. */
async function measure(name, fn) {
  syncDisks();
  const w0 = bytesWrittenSoFar();
  const c0 = process.cpuUsage();
  const start = performance.now();
  const value = await fn();
  const ms = performance.now() - start;
  const c = process.cpuUsage(c0);
  const w1 = bytesWrittenSoFar();
  record(name, ms, w0 === null ? null : w1 - w0, (c.user + c.system) / 1000);
  return value;
}

const storeOptions = (dir) => ({ dir, sweepInterval: false });
const checks = [];
function check(what, ok) {
  if (!ok) checks.push(what);
}

const contenders = {
  async hash() {
    const digest = await measure("hash", () => hashFile(src));
    check("hash digest", digest === expected);
  },
  /** The floor under staging a stream: hashing it as fs.createReadStream hands it out (64 KiB chunks). */
  async hashStream() {
    const digest = await measure("hash (createReadStream)", async () => {
      const hash = createHash("sha256");
      for await (const chunk of fs.createReadStream(src)) hash.update(chunk);
      return hash.digest("hex");
    });
    check("stream hash digest", digest === expected);
  },
  async copy() {
    const to = path.join(tmp, "copy.bin");
    await measure("copyFile", () => copyFile(src, to));
    await rmrf(to);
  },
  async copyFsync() {
    const to = path.join(tmp, "copy-fsync.bin");
    await measure("copyFile+fsync", () => copyFile(src, to, { fsync: true }));
    await rmrf(to);
  },
  async attachePath() {
    const dir = path.join(tmp, "store-path");
    await rmrf(dir);
    const store = await openStore(storeOptions(dir));
    const first = await measure("attache stage(path)", () => store.stage(src));
    check("attache stage(path) digest", first.checksum === expected);
    const again = await measure("attache stage(path) dedup hit", () => store.stage(src));
    check("attache dedup returns the same attachment", again.id === first.id);
    await store.close();
    await rmrf(dir);
  },
  async attacheStream() {
    const dir = path.join(tmp, "store-stream");
    await rmrf(dir);
    const store = await openStore(storeOptions(dir));
    const first = await measure("attache stage(stream)", () => store.stage(fs.createReadStream(src)));
    check("attache stage(stream) digest", first.checksum === expected);
    const again = await measure("attache stage(stream) dedup hit", () => store.stage(fs.createReadStream(src)));
    check("attache stream dedup returns the same attachment", again.id === first.id);
    // With the checksum of stored bytes, a stream is only hashed and compared as it is read: nothing is written.
    const known = await measure("attache stage(stream, checksum) dedup hit", () => store.stage(fs.createReadStream(src), { checksum: expected }));
    check("attache checksum dedup returns the same attachment", known.id === first.id);
    await store.close();
    await rmrf(dir);
  },
  async cacacheStream() {
    const dir = path.join(tmp, "cacache-stream");
    await rmrf(dir);
    const put = async () => {
      let integrity;
      const sink = cacache.put.stream(dir, "large", { algorithms: ["sha256"] }).on("integrity", (i) => (integrity = i));
      await pipeline(fs.createReadStream(src), sink);
      return String(integrity);
    };
    const integrity = await measure("cacache.put.stream", put);
    check("cacache integrity", integrity === `sha256-${Buffer.from(expected, "hex").toString("base64")}`);
    await measure("cacache.put.stream again (same bytes)", put);
    await rmrf(dir);
  },
};

const order = Object.keys(contenders);
for (let rep = 0; rep < reps; rep++) {
  const thisOrder = rotate(order, rep);
  log(`large ingest: repetition ${rep + 1}/${reps} (${thisOrder.join(", ")})`);
  for (const name of thisOrder) await contenders[name]();
}
await rmrf(src);

const result = { size, reps, expectedDigest: expected, failedChecks: checks, timings: {}, bytesWritten: {}, cpuMs: {} };
for (const name of Object.keys(samples)) {
  result.timings[name] = summary(samples[name]);
  result.bytesWritten[name] = summary(written[name].filter((x) => x !== null)).median;
  result.cpuMs[name] = summary(cpu[name]).median;
}
emit(result);
