// Scenario 5: verified read of a big attachment: `read` (one Buffer) and
// `open` (drain the stream), against SHA-256 of the same bytes and cacache's
// verified reads (get.stream, and get for the whole-buffer case).
//
// Each timed operation runs in a fresh child process (the parent only sets
// up the store and the cache), so every contender starts from the same state
// and no operation can be disturbed by what an earlier one left behind in
// the process (see `sameProcess` in the result: repeated opens in one
// process are probed separately).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pipeline } from "node:stream/promises";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import {
  emit,
  hashFile,
  loadAttache,
  loadCacache,
  log,
  makeRandomFile,
  rmrf,
  rotate,
  runNode,
  scenarioConfig,
  summary,
  syncDisks,
  warm,
} from "../lib/common.js";

const SELF = fileURLToPath(import.meta.url);
// cacache's read pipelines add more than the default 10 listeners on one emitter; not a leak.
EventEmitter.defaultMaxListeners = 64;
const config = scenarioConfig();
const { openStore } = await loadAttache();
const cacache = await loadCacache();

const opIndex = process.argv.indexOf("--op");
if (opIndex >= 0) {
  await child(process.argv[opIndex + 1]);
} else {
  await parent();
}

async function drain(stream) {
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  return n;
}

async function child(op) {
  const { storeDir, cacheDir, src, ref, size } = config;
  let store;
  if (op === "attache read" || op === "attache open") store = await openStore({ dir: storeDir, sweepInterval: false });
  syncDisks();
  const c0 = process.cpuUsage();
  const start = performance.now();
  let bytes;
  let error = null;
  try {
    switch (op) {
      case "hash":
        await hashFile(src);
        bytes = size;
        break;
      case "attache read":
        bytes = (await store.read(ref)).length;
        break;
      case "attache open":
        bytes = await drain(await store.open(ref));
        break;
      case "cacache.get.stream":
        bytes = await drain(cacache.get.stream(cacheDir, "large"));
        break;
      case "cacache.get":
        bytes = (await cacache.get(cacheDir, "large")).data.length;
        break;
      default:
        throw new Error(`unknown op ${op}`);
    }
  } catch (err) {
    error = `${err.code ?? ""} ${err.message}`.trim();
  }
  const ms = performance.now() - start;
  const c = process.cpuUsage(c0);
  if (store) await store.close().catch(() => undefined);
  emit({ op, ms, cpuMs: (c.user + c.system) / 1000, bytes, error });
}

async function parent() {
  const { tmp, size, reps } = config;
  const src = path.join(tmp, "read-source.bin");
  const storeDir = path.join(tmp, "read-store");
  const cacheDir = path.join(tmp, "read-cacache");
  log(`verified read: preparing a ${size} byte attachment and cacache entry`);
  await makeRandomFile(src, size, 2);
  const store = await openStore({ dir: storeDir, sweepInterval: false });
  const attachment = await store.stage(src);
  await store.close();
  await pipeline(fs.createReadStream(src), cacache.put.stream(cacheDir, "large", { algorithms: ["sha256"] }));
  // The three copies of the bytes are all in the page cache (just written/read): every contender reads warm.
  await warm(src);
  await warm(attachment.path);

  const childConfig = { storeDir, cacheDir, src, ref: attachment.ref, size };
  const ops = ["hash", "attache read", "attache open", "cacache.get.stream", "cacache.get"];
  const samples = Object.fromEntries(ops.map((op) => [op, []]));
  const cpu = Object.fromEntries(ops.map((op) => [op, []]));
  const errors = {};
  for (let rep = 0; rep < reps; rep++) {
    const order = rotate(ops, rep);
    log(`verified read: repetition ${rep + 1}/${reps}`);
    for (const op of order) {
      const r = await runNode(SELF, ["--config", JSON.stringify(childConfig), "--op", op]);
      if (r.error !== null || r.bytes !== size) {
        (errors[op] ??= []).push(r.error ?? `read ${r.bytes} bytes, expected ${size}`);
        continue;
      }
      samples[op].push(r.ms);
      cpu[op].push(r.cpuMs);
    }
  }

  // Probe: several verified reads in one process, back to back, as an application would do them.
  const sameProcess = await probeSameProcess(storeDir, attachment.ref, size);

  await rmrf(storeDir);
  await rmrf(cacheDir);
  await rmrf(src);
  const timings = {};
  const cpuMs = {};
  for (const op of ops) {
    timings[op] = summary(samples[op]);
    cpuMs[op] = summary(cpu[op]).median;
  }
  emit({ size, reps, timings, cpuMs, errors, sameProcess, isolation: "each timed operation in a fresh child process" });
}

async function probeSameProcess(storeDir, ref, size) {
  const store = await openStore({ dir: storeDir, sweepInterval: false });
  const steps = [];
  const attempt = async (what, fn) => {
    try {
      const n = await fn();
      steps.push({ what, ok: n === size, bytes: n });
    } catch (err) {
      steps.push({ what, ok: false, error: `${err.code ?? ""} ${err.message}`.trim() });
    }
  };
  await attempt("open #1", async () => drain(await store.open(ref)));
  await attempt("open #2", async () => drain(await store.open(ref)));
  await attempt("read #1", async () => (await store.read(ref)).length);
  await attempt("open #3", async () => drain(await store.open(ref)));
  await store.close();
  return { ok: steps.every((s) => s.ok), steps };
}
