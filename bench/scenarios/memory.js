// Scenario 7: memory. Each measurement runs in its own child process, which
// reports its peak RSS (VmHWM from /proc/self/status):
//   - baseline: node + attache loaded, an empty store opened and closed;
//   - stage a generated stream of N bytes (64 KiB chunks, not a file);
//   - cacache.put.stream of the same generated stream (reference);
//   - a store whose manifest holds M attachments: open it, metrics(), 1,000 get().
import { randomFillSync } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { emit, loadAttache, loadCacache, log, memoryStatus, prng, rmrf, runNode, scenarioConfig, summary } from "../lib/common.js";
import { clockFor, ensureFixture, fixtureId } from "../lib/manifest-fixture.js";

const SELF = fileURLToPath(import.meta.url);
const config = scenarioConfig();
const CHUNK = 64 * 1024;

const roleIndex = process.argv.indexOf("--role");
if (roleIndex >= 0) await child(process.argv[roleIndex + 1]);
else await parent();

/** A generated stream of `size` bytes in 64 KiB chunks, each a fresh Buffer with distinct content. */
function generated(size) {
  const template = Buffer.allocUnsafe(CHUNK);
  randomFillSync(template);
  let produced = 0;
  let n = 0;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const len = Math.min(CHUNK, size - produced);
      const chunk = Buffer.allocUnsafe(len);
      template.copy(chunk, 0, 0, len);
      chunk.writeUInt32LE(n++, 0);
      produced += len;
      this.push(chunk);
    },
  });
}

async function child(role) {
  const { openStore } = await loadAttache();
  const out = { role };
  const start = performance.now();
  switch (role) {
    case "baseline": {
      const store = await openStore({ dir: config.dir, sweepInterval: false });
      await store.metrics();
      await store.close();
      break;
    }
    case "attache stage(generated stream)": {
      const store = await openStore({ dir: config.dir, sweepInterval: false });
      const a = await store.stage(generated(config.size));
      out.bytes = a.size;
      await store.close();
      break;
    }
    case "cacache.put.stream(generated stream)": {
      const cacache = await loadCacache();
      await pipeline(generated(config.size), cacache.put.stream(config.dir, "big", { algorithms: ["sha256"] }));
      out.bytes = (await cacache.get.info(config.dir, "big")).size;
      break;
    }
    case "attache manifest": {
      const now = clockFor(0, config.maxExpired);
      const store = await openStore({ dir: config.dir, sweepInterval: false, clock: () => now });
      const m = await store.metrics();
      out.attachments = m.attachments;
      const random = prng(7);
      for (let i = 0; i < 1000; i++) {
        const id = fixtureId(Math.floor(random() * config.total));
        await store.get(`attache://${id}`);
      }
      out.afterOps = memoryStatus().rss;
      await store.close();
      break;
    }
    default:
      throw new Error(`unknown role ${role}`);
  }
  out.ms = performance.now() - start;
  const mem = memoryStatus();
  emit({ ...out, peakRss: mem.peakRss, rss: mem.rss, source: mem.source });
}

async function parent() {
  const { tmp, streamSize, manifestTotal, reps, expiredFraction = 0.1 } = config;
  const results = {};
  const run = async (role, childConfig) => {
    const dir = childConfig.dir;
    const r = await runNode(SELF, ["--config", JSON.stringify(childConfig), "--role", role]);
    if (dir !== undefined && childConfig.keep !== true) await rmrf(dir);
    (results[role] ??= []).push(r);
    return r;
  };

  for (let rep = 0; rep < reps; rep++) {
    log(`memory: repetition ${rep + 1}/${reps}`);
    await run("baseline", { dir: path.join(tmp, "mem-baseline") });
    const s = await run("attache stage(generated stream)", { dir: path.join(tmp, "mem-stream"), size: streamSize });
    if (s.bytes !== streamSize) throw new Error(`staged ${s.bytes} bytes, expected ${streamSize}`);
    await run("cacache.put.stream(generated stream)", { dir: path.join(tmp, "mem-cacache"), size: streamSize });
  }

  const maxExpired = Math.min(100_000, Math.max(1000, Math.round(manifestTotal * expiredFraction)));
  const fixture = await ensureFixture(path.join(tmp, "fixtures", `manifest-${manifestTotal}`), manifestTotal, maxExpired);
  const dir = path.join(tmp, "mem-manifest");
  for (let rep = 0; rep < reps; rep++) {
    await rmrf(dir);
    fs.mkdirSync(path.join(dir, "tmp"), { recursive: true, mode: 0o700 });
    fs.copyFileSync(path.join(fixture.dir, "manifest.db"), path.join(dir, "manifest.db"));
    const r = await run("attache manifest", { dir, total: manifestTotal, maxExpired });
    if (r.attachments !== manifestTotal) throw new Error(`manifest holds ${r.attachments}, expected ${manifestTotal}`);
  }
  await rmrf(dir);

  const roles = {};
  for (const [role, rs] of Object.entries(results)) {
    roles[role] = {
      peakRss: summary(rs.map((r) => r.peakRss)),
      ms: summary(rs.map((r) => r.ms)),
      ...(rs[0].afterOps !== undefined ? { rssAfterOps: summary(rs.map((r) => r.afterOps)) } : {}),
    };
  }
  emit({ streamSize, manifestTotal, reps, chunkSize: CHUNK, source: results.baseline?.[0]?.source, roles });
}
