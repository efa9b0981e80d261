/**
 * upload() across real processes sharing one store: child processes
 * (test/workers/deliver-upload-worker.mjs, on the built package in dist/)
 * upload through the official SDK clients to the fake providers that this
 * process serves. Single flight across processes, and a crash (SIGKILL)
 * mid-upload that another process resumes after taking over the claim.
 *
 * The takeover waits until the dead holder's claim is HOLDER_STALE_MS (30 s)
 * old; these tests shorten that with ATTACHE_UPLOAD_HOLDER_STALE_MS, read at
 * every upload() call (see src/deliver/upload.ts), set only around the calls
 * that need it.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { HOLDER_STALE_ENV } from "../../src/deliver/upload.js";
import { delay, pass } from "../support/fake-providers/faults.js";
import { freshDir } from "../helpers/temp-dirs.js";
import { REPO_ROOT, startWorker, type Worker } from "../helpers/processes.js";
import { Fakes, ledgerProbe, partsDone, rejection, sha256, testBytes, waitFor } from "./deliver-fixtures.js";

const WORKER = path.join(REPO_ROOT, "test", "workers", "deliver-upload-worker.mjs");
const CHUNK = 16 * 1024;

interface WorkerResult {
  ok: boolean;
  key?: string;
  remoteId?: string;
  reused?: boolean;
  code?: string | null;
  message?: string;
}

let fakes: Fakes;
let dir: string;
let store: Store;
const workers: Worker[] = [];

beforeEach(async () => {
  fakes = new Fakes();
  await fakes.start();
  dir = freshDir("attache-upload-procs-");
  store = await openStore({ dir, sweepInterval: false });
});
afterEach(async () => {
  delete process.env[HOLDER_STALE_ENV];
  for (const worker of workers.splice(0)) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL");
    await worker.exited;
  }
  await store.close();
  await fakes.stop();
});

function openaiWorker(ref: string, extra: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): Worker {
  const worker = startWorker(WORKER, { dir, ref, provider: "openai", baseURL: `${fakes.openai.url}/v1`, apiKey: "sk-test", ...extra }, env);
  workers.push(worker);
  return worker;
}

async function resultOf(worker: Worker): Promise<WorkerResult> {
  const line = await worker.waitForLine((l) => l.startsWith("{"), 20_000);
  await worker.exited;
  return JSON.parse(line) as WorkerResult;
}

describe("single flight across processes", () => {
  it("two processes uploading the same attachment at once (OpenAI, chunked) make exactly one remote file", async () => {
    const staged = await store.stage(testBytes(4 * CHUNK, 61), { name: "shared.pdf", persist: true });
    fakes.openai.setLatency(150, "uploads.parts");
    const goFile = path.join(dir, "go");
    const pair = [openaiWorker(staged.ref, { chunkSize: CHUNK, concurrency: 1, goFile }), openaiWorker(staged.ref, { chunkSize: CHUNK, concurrency: 1, goFile })];
    await Promise.all(pair.map((w) => w.waitForLine((l) => l === "ready", 20_000)));
    fs.writeFileSync(goFile, "");
    const results = await Promise.all(pair.map(resultOf));

    expect(results.every((r) => r.ok), JSON.stringify(results)).toBe(true);
    expect(results[0]?.remoteId).toBe(results[1]?.remoteId);
    expect(results.map((r) => r.reused).sort()).toEqual([false, true]);
    expect(fakes.openai.files.size).toBe(1);
    expect([fakes.openai.requests("uploads.create"), fakes.openai.requests("uploads.parts"), fakes.openai.requests("uploads.complete")]).toEqual([1, 4, 1]);
    expect(sha256(fakes.openai.fileBytes(results[0]?.remoteId as string))).toBe(staged.checksum);
    // This process sees the other processes' upload in the ledger: no request.
    const before = fakes.requests();
    expect(await store.upload(staged.ref, fakes.openaiDestination())).toMatchObject({ remoteId: results[0]?.remoteId, reused: true });
    expect(fakes.requests()).toBe(before);
  });

  it("two processes at once on Gemini (one request each way): one session, one file", async () => {
    const staged = await store.stage(testBytes(20_000, 62), { name: "shared.png", contentType: "image/png", persist: true });
    fakes.gemini.setLatency(300, "upload.finalize");
    const goFile = path.join(dir, "go");
    const config = { dir, ref: staged.ref, provider: "gemini", baseURL: fakes.gemini.url, apiKey: "gemini-test-key", goFile };
    const pair = [startWorker(WORKER, config), startWorker(WORKER, config)];
    workers.push(...pair);
    await Promise.all(pair.map((w) => w.waitForLine((l) => l === "ready", 20_000)));
    fs.writeFileSync(goFile, "");
    const results = await Promise.all(pair.map(resultOf));

    expect(results.every((r) => r.ok), JSON.stringify(results)).toBe(true);
    expect(results[0]?.remoteId).toBe(results[1]?.remoteId);
    expect(results.map((r) => r.reused).sort()).toEqual([false, true]);
    expect(fakes.gemini.files.size).toBe(1);
    expect([fakes.gemini.requests("upload.start"), fakes.gemini.requests("upload.finalize")]).toEqual([1, 1]);
  });

  it("a live holder in another process keeps its claim by touching it: a waiter with a short stale time still waits for it", async () => {
    const staged = await store.stage(testBytes(4 * CHUNK, 63), { name: "slow.pdf", persist: true });
    fakes.openai.setLatency(400, "uploads.parts");
    // The holder touches every 200 ms; an upload of about 1.6 s outlives the 600 ms stale time many times over.
    const holder = openaiWorker(staged.ref, { chunkSize: CHUNK, concurrency: 1 }, { [HOLDER_STALE_ENV]: "600" });
    await waitFor(() => fakes.openai.requests("uploads.parts") >= 1, 20_000, "the holder's first part");
    process.env[HOLDER_STALE_ENV] = "600";
    const waited = await store.upload(staged.ref, fakes.openaiDestination({ chunkSize: CHUNK }));
    const held = await resultOf(holder);

    expect(held).toMatchObject({ ok: true, reused: false });
    expect(waited).toMatchObject({ remoteId: held.remoteId, reused: true });
    expect([fakes.openai.requests("uploads.create"), fakes.openai.requests("uploads.parts"), fakes.openai.requests("uploads.complete")]).toEqual([1, 4, 1]);
  });
});

describe("a crash mid-upload", () => {
  it("SIGKILL after 2 of 6 parts: the claim is respected while fresh, then taken over, and only the 4 missing parts are sent", async () => {
    const size = 6 * CHUNK;
    const staged = await store.stage(testBytes(size, 64), { name: "big.pdf", persist: true });
    const destination = fakes.openaiDestination({ chunkSize: CHUNK });
    // Parts 1 and 2 go through; part 3 hangs at the fake until the child is dead.
    fakes.openai.faults.push("uploads.parts", pass(), pass(), delay(3_000));
    const probe = await ledgerProbe(dir);
    try {
      const child = openaiWorker(staged.ref, { chunkSize: CHUNK, concurrency: 1 });
      await waitFor(async () => partsDone(await probe.row(destination.key, staged.checksum)) === 2, 20_000, "two parts checkpointed by the child");
      await waitFor(() => fakes.openai.requests("uploads.parts") === 3, 10_000, "the child's third part");
      child.child.kill("SIGKILL");
      expect((await child.exited).signal).toBe("SIGKILL");

      const orphaned = await probe.row(destination.key, staged.checksum);
      expect(orphaned?.holder).not.toBeNull();
      expect(orphaned?.remoteId).toBeNull();
      expect(partsDone(orphaned)).toBe(2);
      const checkpointed = (orphaned?.resume as { partIds: (string | null)[]; uploadId: string });

      // While the dead holder's claim is fresh (default stale time: 30 s) this process waits for it.
      const impatient = new AbortController();
      setTimeout(() => impatient.abort(), 300);
      expect(await rejection(store.upload(staged.ref, destination, { signal: impatient.signal }))).toMatchObject({ code: "ABORTED" });
      expect(fakes.openai.requests("uploads.parts")).toBe(3);
      expect((await probe.row(destination.key, staged.checksum))?.holder).toBe(orphaned?.holder);

      process.env[HOLDER_STALE_ENV] = "500";
      const started = Date.now();
      const record = await store.upload(staged.ref, destination);
      expect(Date.now() - started).toBeLessThan(5_000);

      expect(record.reused).toBe(false);
      expect(fakes.openai.requests("uploads.parts")).toBe(3 + 4);
      expect(fakes.openai.requests("uploads.create")).toBe(1);
      expect(fakes.openai.completions).toHaveLength(1);
      const completion = fakes.openai.completions[0] as string[];
      expect(completion.slice(0, 2)).toEqual(checkpointed.partIds.slice(0, 2));
      expect(fakes.openai.uploads.get(checkpointed.uploadId)?.fileId).toBe(record.remoteId);
      expect(sha256(fakes.openai.fileBytes(record.remoteId))).toBe(staged.checksum);
      expect(await probe.row(destination.key, staged.checksum)).toMatchObject({ remoteId: record.remoteId, holder: null, resume: null });
      // A touch by the dead holder's id would now be refused: the claim is no longer its.
      expect(await probe.uploads.touch(destination.key, staged.checksum, orphaned?.holder as string, Date.now())).toBe(false);
    } finally {
      await probe.close();
    }
  });
});
