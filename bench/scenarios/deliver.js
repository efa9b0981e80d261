// Scenario 8: delivering attachments to models, against a local fake of
// OpenAI's Files and Uploads APIs (the tests' strict fake, in a process of
// its own, hashing what arrives and discarding it), through the official
// `openai` SDK in both contenders:
//
//   a. upload of a large file: attache's `store.upload()` (default
//      destination: 64 MiB parts, 4 in flight; one files.create at or below
//      64 MiB) against the same SDK sending the same requests itself, the
//      bytes read from the source file (1 MiB reads, as attache's); for
//      context, one streamed files.create of the whole file, and SHA-256 of
//      the file (attache hashes what it sends).
//   b. a ledger hit: `upload()` of an attachment already uploaded (no
//      request), per call, against `store.get()` of the same ref.
//   c. a chunked upload against a server that answers every request 50 ms
//      late: 4 parts in flight against 1 at a time (both attache), with
//      parts small enough that the latency dominates (the target figure),
//      then with parts whose transfer dominates (context).
//
// Every contender runs in the same repetitions, interleaved (the order
// rotates), on the same bytes and the same server. Every upload is checked:
// the fake's SHA-256 of each part (or of the file) must be that of the source.
//
// ATTACHE_BENCH_DELIVER_SIZE (bytes, or "64MiB") overrides the large file's size.
import { createHash } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import os from "node:os";
import OpenAI from "openai";
import { DIST, MiB, REPO_DIR, emit, hashFile, loadAttache, log, makeRandomFile, pool, rmrf, rotate, scenarioConfig, summary, syncDisks, warm } from "../lib/common.js";
import { startFakeOpenAI } from "../lib/fake-openai.js";

const config = scenarioConfig();
const { openStore, parseByteSize } = await loadAttache();
const { openaiFiles } = await import(pathToFileURL(path.join(path.dirname(DIST), "openai.js")).href);

const sizeOverride = process.env.ATTACHE_BENCH_DELIVER_SIZE;
const size = sizeOverride ? parseByteSize(/^\d+$/.test(sizeOverride) ? Number(sizeOverride) : sizeOverride) : config.size;
/** OpenAI's largest part, attache's default part size. */
const PART = 64 * MiB;
const API_KEY = "sk-test";

/** SHA-256 of bytes [start, end) of a file. */
async function hashRange(file, start, end) {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { start, end: end - 1, highWaterMark: MiB })) hash.update(chunk);
  return hash.digest("hex");
}

/** What the fake must hold for a file of `bytes` sent in parts of `partSize` (one request at or below it). */
async function expectedDigests(file, bytes, partSize) {
  if (bytes <= partSize) return { sha256: await hashRange(file, 0, bytes), partSha256: null };
  const parts = [];
  for (let start = 0; start < bytes; start += partSize) parts.push(await hashRange(file, start, Math.min(bytes, start + partSize)));
  return { sha256: null, partSha256: parts };
}

async function checkArrived(fake, fileId, expected, what) {
  const file = await fake.file(fileId);
  const sameParts = JSON.stringify(file.partSha256) === JSON.stringify(expected.partSha256);
  if (file.sha256 !== expected.sha256 || !sameParts) throw new Error(`${what}: the bytes that arrived do not hash to the source's`);
}

/** The SDK by itself: the requests attache sends, from the source file. */
async function sdkSameRequests(client, file, bytes, name) {
  if (bytes <= PART) {
    const created = await client.files.create({ file: fs.createReadStream(file, { highWaterMark: MiB }), purpose: "user_data" });
    return created.id;
  }
  const upload = await client.uploads.create({ bytes, filename: name, mime_type: "application/octet-stream", purpose: "user_data" });
  const count = Math.ceil(bytes / PART);
  const ids = new Array(count);
  await pool(count, 4, async (i) => {
    const start = i * PART;
    const end = Math.min(bytes, start + PART);
    const part = await client.uploads.parts.create(upload.id, { data: fs.createReadStream(file, { start, end: end - 1, highWaterMark: MiB }) });
    ids[i] = part.id;
  });
  const done = await client.uploads.complete(upload.id, { part_ids: ids });
  return done.file.id;
}

/**
 * `client` passed through, noting when the last part's answer came and when
 * the complete request went out: the gap is what attache does between them
 * (confirming the digest of bytes not hashed as they were sent).
 */
function withPhaseMarks(client, marks) {
  return {
    apiKey: client.apiKey,
    baseURL: client.baseURL,
    organization: client.organization,
    project: client.project,
    files: client.files,
    uploads: {
      create: (...args) => client.uploads.create(...args),
      complete: (...args) => {
        marks.completeAt = performance.now();
        return client.uploads.complete(...args);
      },
      parts: {
        create: async (...args) => {
          const part = await client.uploads.parts.create(...args);
          marks.lastPartAt = performance.now();
          return part;
        },
      },
    },
  };
}

async function timed(fn) {
  syncDisks();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const value = await fn();
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, value };
}

async function largeUpload(store, tmp) {
  const { reps } = config;
  const src = path.join(tmp, "deliver-large.bin");
  log(`deliver: preparing a ${size} byte file`);
  await makeRandomFile(src, size, 8);
  const attachment = await store.stage(src, { name: "large.bin", contentType: "application/octet-stream" });
  await warm(src);
  if (attachment.path) await warm(attachment.path);
  const expected = await expectedDigests(src, size, PART);
  const fake = await startFakeOpenAI();
  try {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: `${fake.url}/v1`, maxRetries: 0 });
    const marks = { lastPartAt: null, completeAt: null };
    const destination = openaiFiles({ client: withPhaseMarks(client, marks), purpose: "user_data" });
    const tails = [];
    const whole = { sha256: await hashFile(src), partSha256: null };
    // Each resolves to the remote file it made (checked after the timing), or null.
    const ops = {
      "attache upload()": async () => (await store.upload(attachment.ref, destination, { force: true })).remoteId,
      "SDK, same requests": () => sdkSameRequests(client, src, size, "large.bin"),
      "SDK, one files.create": async () =>
        (await client.files.create({ file: fs.createReadStream(src, { highWaterMark: MiB }), purpose: "user_data" })).id,
      "SHA-256 of the file": async () => (await hashFile(src), null),
    };
    const check = (name, fileId) =>
      fileId === null ? undefined : checkArrived(fake, fileId, name === "SDK, one files.create" ? whole : expected, name);
    // One untimed round: connections, JIT, the page cache.
    for (const [name, op] of Object.entries(ops)) await check(name, await op());
    const samples = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
    const cpu = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
    for (let rep = 0; rep < reps; rep++) {
      log(`deliver: large upload, repetition ${rep + 1}/${reps}`);
      for (const name of rotate(Object.keys(ops), rep)) {
        marks.lastPartAt = marks.completeAt = null;
        const r = await timed(ops[name]);
        if (name === "attache upload()" && marks.completeAt !== null) tails.push(marks.completeAt - marks.lastPartAt);
        await check(name, r.value);
        samples[name].push(r.ms);
        cpu[name].push(r.cpuMs);
      }
    }
    const unexpected = await fake.unexpected();
    if (unexpected.length) throw new Error(`the fake failed: ${unexpected.join("; ")}`);
    return {
      size,
      partSize: PART,
      parts: size <= PART ? 1 : Math.ceil(size / PART),
      concurrency: 4,
      reps,
      timings: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)])),
      cpuMs: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, summary(v).median])),
      attacheTailBeforeCompleteMs: tails.length ? summary(tails) : null,
    };
  } finally {
    await fake.close();
    await rmrf(src);
  }
}

async function ledgerHit(store, tmp) {
  const { ledgerCalls: calls, ledgerReps: reps } = config;
  const src = path.join(tmp, "deliver-small.bin");
  await makeRandomFile(src, 64 * 1024, 9);
  const attachment = await store.stage(src, { name: "small.pdf", contentType: "application/pdf" });
  const fake = await startFakeOpenAI();
  try {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: `${fake.url}/v1`, maxRetries: 0 });
    const destination = openaiFiles({ client, purpose: "user_data" });
    const first = await store.upload(attachment.ref, destination);
    if (first.reused) throw new Error("the first upload was a ledger hit");
    const requestsBefore = await fake.requests();
    let misses = 0;
    const ops = {
      "attache upload() ledger hit": async () => {
        for (let i = 0; i < calls; i++) if (!(await store.upload(attachment.ref, destination)).reused) misses++;
      },
      "attache get()": async () => {
        for (let i = 0; i < calls; i++) await store.get(attachment.ref);
      },
    };
    for (const op of Object.values(ops)) await op(); // warm-up
    const samples = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
    for (let rep = 0; rep < reps; rep++) {
      for (const name of rotate(Object.keys(ops), rep)) {
        const start = performance.now();
        await ops[name]();
        samples[name].push(((performance.now() - start) * 1000) / calls);
      }
    }
    const requestsDuring = (await fake.requests()) - requestsBefore;
    if (misses > 0 || requestsDuring > 0) throw new Error(`ledger hits sent ${requestsDuring} requests (${misses} calls not reused)`);
    return { calls, reps, fileSize: 64 * 1024, requestsDuring, microsecondsPerCall: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)])) };
  } finally {
    await fake.close();
    await rmrf(src);
  }
}

/** One case of (c): a file of `size` bytes in parts of `partSize`, 4 in flight against 1 at a time. */
async function partsInFlight(store, tmp, { size: fileSize, partSize }, index) {
  const { latencyMs, chunkedReps: reps } = config;
  const src = path.join(tmp, `deliver-chunked-${index}.bin`);
  await makeRandomFile(src, fileSize, 10 + index);
  const attachment = await store.stage(src, { name: "chunked.bin", contentType: "application/octet-stream" });
  const expected = await expectedDigests(src, fileSize, partSize);
  const fake = await startFakeOpenAI({ latencyMs });
  try {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: `${fake.url}/v1`, maxRetries: 0 });
    const destinations = {
      "4 parts in flight": openaiFiles({ client, purpose: "user_data", chunkSize: partSize, concurrency: 4 }),
      "1 part at a time": openaiFiles({ client, purpose: "user_data", chunkSize: partSize, concurrency: 1 }),
    };
    const upload = async (name) => {
      const record = await store.upload(attachment.ref, destinations[name], { force: true });
      await checkArrived(fake, record.remoteId, expected, name);
    };
    await upload("4 parts in flight"); // warm-up
    const requestsBefore = await fake.requests();
    const samples = Object.fromEntries(Object.keys(destinations).map((k) => [k, []]));
    for (let rep = 0; rep < reps; rep++) {
      log(`deliver: ${fileSize} bytes in parts of ${partSize}, repetition ${rep + 1}/${reps}`);
      for (const name of rotate(Object.keys(destinations), rep)) {
        const start = performance.now();
        await upload(name);
        samples[name].push(performance.now() - start);
      }
    }
    const parts = Math.ceil(fileSize / partSize);
    return {
      size: fileSize,
      partSize,
      parts,
      latencyMs,
      reps,
      requestsPerUpload: ((await fake.requests()) - requestsBefore) / (2 * reps),
      peakPartsInFlight: await fake.peak("uploads.parts"),
      // With latency alone, in series: create + every part + complete; 4 in flight: create + ceil(parts / 4) rounds + complete.
      latencyBoundSpeedup: (parts + 2) / (Math.ceil(parts / 4) + 2),
      timings: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)])),
    };
  } finally {
    await fake.close();
    await rmrf(src);
  }
}

const { tmp } = config;
const storeDir = path.join(tmp, "deliver-store");
const store = await openStore({ dir: storeDir, sweepInterval: false });
const started = new Date();
const loadAtStart = os.loadavg();
try {
  const large = await largeUpload(store, tmp);
  log("deliver: ledger hits");
  const ledger = await ledgerHit(store, tmp);
  const chunked = [];
  for (const [i, chunkedCase] of config.chunked.entries()) chunked.push(await partsInFlight(store, tmp, chunkedCase, i));
  emit({
    measuredAt: started.toISOString(),
    loadAverage: { start: loadAtStart, end: os.loadavg() },
    sizeOverride: sizeOverride ?? null,
    openaiVersion: JSON.parse(await fsp.readFile(path.join(REPO_DIR, "node_modules", "openai", "package.json"), "utf8")).version,
    large,
    ledger,
    chunked,
  });
} finally {
  await store.close();
  await rmrf(storeDir);
}
