/**
 * upload() through the store, end to end: a real store (SQLite manifest,
 * filesystem blobs in a temp dir), the official SDK clients, and the strict
 * fake providers on 127.0.0.1. What arrives at the fake is checked byte for
 * byte; "no request" is checked by counting requests at the fakes.
 */
import "../helpers/file-blobs.js";
import diagnostics_channel from "node:diagnostics_channel";
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryBlobStore, memoryManifest, openStore, uploadCounters, type Manifest, type Store, type UploadRecord } from "../../src/index.js";
import type { GeminiUploadCheckpoint } from "../../src/providers/gemini-resumable.js";
import { delay, rateLimited, serverError } from "../support/fake-providers/faults.js";
import { FakeOpenAI } from "../support/fake-providers/openai.js";
import { CHUNK_GRANULARITY } from "../support/fake-providers/gemini.js";
import { freshDir } from "../helpers/temp-dirs.js";
import { corruptBlob, Fakes, ledgerProbe, partsDone, rejection, sha256, testBytes, waitFor } from "./deliver-fixtures.js";

const CHUNK = 16 * 1024;
const HOUR = 3_600_000;

let fakes: Fakes;
let dir: string;
let store: Store;

beforeEach(async () => {
  fakes = new Fakes();
  await fakes.start();
  dir = freshDir("attache-upload-");
  store = await openStore({ dir, sweepInterval: false });
});
afterEach(async () => {
  await store.close();
  await fakes.stop();
});

async function stageBytes(bytes: Buffer, name = "report.pdf", contentType = "application/pdf") {
  return store.stage(bytes, { name, contentType, persist: true });
}

function countersFor(key: string) {
  return uploadCounters().get(key) ?? { uploads: 0, ledgerHits: 0, bytesSent: 0, retries: 0, failures: 0 };
}

describe("upload(): the bytes that arrive", () => {
  it("OpenAI, one request: the file hashes to the digest, named as the attachment, and the record says where it is", async () => {
    const bytes = testBytes(40_000);
    const staged = await stageBytes(bytes, "notes.bin", "application/octet-stream");
    const destination = fakes.openaiDestination({ expiresAfter: "2h" });
    const progress: { bytes: number; total: number }[] = [];
    const record = await store.upload(staged.ref, destination, { onProgress: (p) => progress.push(p) });

    const file = fakes.openai.files.get(record.remoteId);
    expect(sha256(fakes.openai.fileBytes(record.remoteId))).toBe(staged.checksum);
    expect(file).toMatchObject({ filename: "notes.bin", purpose: "user_data", account: "sk-test" });
    expect(record).toStrictEqual({
      destination: destination.key,
      remoteId: expect.stringMatching(/^file-/),
      uri: null,
      digest: staged.digest,
      size: bytes.length,
      uploadedAt: expect.any(Date),
      expiresAt: new Date((file?.expiresAt as number) * 1000),
      reused: false,
    } satisfies Record<keyof UploadRecord, unknown>);
    expect(record.destination).toMatch(/^openai:[0-9a-f]{24}$/);
    expect(record.destination).not.toContain("sk-test");
    expect(Object.isFrozen(record)).toBe(true);
    expect([fakes.openai.requests("files.create"), fakes.openai.requests("uploads.create")]).toEqual([1, 0]);
    expect(progress.at(-1)).toEqual({ bytes: bytes.length, total: bytes.length });
    expect(progress.map((p) => p.bytes)).toEqual([...progress.map((p) => p.bytes)].sort((a, b) => a - b));
  });

  it("OpenAI, chunked (Uploads API): ceil(size / chunkSize) parts, sent concurrently, completed with the ids in part order", async () => {
    const size = 5 * CHUNK + 123;
    const bytes = testBytes(size, 7);
    const staged = await stageBytes(bytes);
    fakes.openai.setLatency(40, "uploads.parts");
    const destination = fakes.openaiDestination({ chunkSize: CHUNK, concurrency: 3 });
    const record = await store.upload(staged.ref, destination);

    expect(sha256(fakes.openai.fileBytes(record.remoteId))).toBe(staged.checksum);
    expect([fakes.openai.requests("files.create"), fakes.openai.requests("uploads.create"), fakes.openai.requests("uploads.parts"), fakes.openai.requests("uploads.complete")]).toEqual([0, 1, 6, 1]);
    const [upload] = [...fakes.openai.uploads.values()];
    expect(upload).toMatchObject({ bytes: size, filename: "report.pdf", mimeType: "application/pdf", purpose: "user_data", status: "completed" });
    const completion = fakes.openai.completions[0] as string[];
    expect(completion).toHaveLength(6);
    // Part i holds bytes [i·CHUNK, (i+1)·CHUNK): the ids were listed in part order, whatever order the parts arrived in.
    expect(completion.map((id) => upload?.parts.get(id)?.length)).toEqual([CHUNK, CHUNK, CHUNK, CHUNK, CHUNK, 123]);
    completion.forEach((id, i) => expect(upload?.parts.get(id)?.equals(bytes.subarray(i * CHUNK, Math.min(size, (i + 1) * CHUNK)))).toBe(true));
    expect(fakes.openai.maxConcurrent("uploads.parts")).toBeGreaterThan(1);
    expect(fakes.openai.maxConcurrent("uploads.parts")).toBeLessThanOrEqual(3);
  });

  it("Gemini: one finalizing chunk below chunkSize, several chunks above it; the file hashes to the digest and carries its uri", async () => {
    const small = await stageBytes(testBytes(9_000, 2), "diagram.png", "image/png");
    const big = await stageBytes(testBytes(2 * CHUNK_GRANULARITY + 1_000, 3));
    const destination = fakes.geminiDestination({ chunkSize: CHUNK_GRANULARITY });

    const one = await store.upload(small.ref, destination);
    expect([fakes.gemini.requests("upload.start"), fakes.gemini.requests("upload.chunk"), fakes.gemini.requests("upload.finalize")]).toEqual([1, 0, 1]);
    expect(sha256(fakes.gemini.fileBytes(one.remoteId))).toBe(small.checksum);
    expect(fakes.gemini.files.get(one.remoteId)).toMatchObject({ displayName: "diagram.png", mimeType: "image/png" });
    expect(one.uri).toBe(`${fakes.gemini.url}/v1beta/${one.remoteId}`);
    expect(one.expiresAt?.getTime()).toBe(fakes.gemini.files.get(one.remoteId)?.expirationTime.getTime());

    const many = await store.upload(big.ref, destination);
    expect([fakes.gemini.requests("upload.start"), fakes.gemini.requests("upload.chunk"), fakes.gemini.requests("upload.finalize")]).toEqual([2, 2, 2]);
    expect(sha256(fakes.gemini.fileBytes(many.remoteId))).toBe(big.checksum);
  });

  it("Anthropic: one request, with the display name and declared type", async () => {
    const staged = await stageBytes(testBytes(20_000, 4), "scan.png", "image/png");
    const record = await store.upload(staged.ref, fakes.anthropicDestination());
    expect(record.remoteId).toMatch(/^file_/);
    expect(sha256(fakes.anthropic.fileBytes(record.remoteId))).toBe(staged.checksum);
    expect(fakes.anthropic.files.get(record.remoteId)).toMatchObject({ filename: "scan.png", mimeType: "image/png" });
    expect(record.expiresAt).toBeNull();
  });
});

describe("upload(): the ledger", () => {
  it("a second upload() is reused with zero requests, also from a scoped handle, and after the store is closed and reopened", async () => {
    const staged = await store.scope("chat").stage(testBytes(10_000), { name: "a.pdf", persist: true });
    const destination = fakes.openaiDestination();
    const first = await store.upload(staged.ref, destination);
    const before = fakes.requests();

    const again = await store.upload(staged.ref, destination);
    expect(again).toStrictEqual({ ...first, reused: true });
    const scoped = await store.scope("chat").upload(staged.ref, destination);
    expect(scoped.remoteId).toBe(first.remoteId);
    expect(scoped.reused).toBe(true);
    expect(fakes.requests()).toBe(before);

    await store.close();
    store = await openStore({ dir, sweepInterval: false });
    // A new client and destination object for the same account: the same key.
    const reopened = await store.upload(staged.ref, fakes.openaiDestination());
    expect(reopened).toMatchObject({ remoteId: first.remoteId, reused: true, destination: first.destination });
    expect(reopened.uploadedAt).toEqual(first.uploadedAt);
    expect(fakes.requests()).toBe(before);
  });

  it("force: true uploads again and the ledger names the new file", async () => {
    const staged = await stageBytes(testBytes(3_000));
    const destination = fakes.openaiDestination();
    const first = await store.upload(staged.ref, destination);
    const forced = await store.upload(staged.ref, destination, { force: true });
    expect(forced.reused).toBe(false);
    expect(forced.remoteId).not.toBe(first.remoteId);
    expect(fakes.openai.requests("files.create")).toBe(2);
    expect(await store.upload(staged.ref, destination)).toMatchObject({ remoteId: forced.remoteId, reused: true });
    expect((await store.listUploads()).map((e) => e.remoteId)).toEqual([forced.remoteId]);
  });

  it("verify: true confirms a hit with one metadata request; a file deleted remotely (404) is dropped and uploaded again", async () => {
    const staged = await stageBytes(testBytes(3_000));
    const destination = fakes.openaiDestination();
    const first = await store.upload(staged.ref, destination);

    const confirmed = await store.upload(staged.ref, destination, { verify: true });
    expect(confirmed).toMatchObject({ remoteId: first.remoteId, reused: true });
    expect([fakes.openai.requests("files.retrieve"), fakes.openai.requests("files.create")]).toEqual([1, 1]);

    (fakes.openai.files.get(first.remoteId) as { deleted: boolean }).deleted = true;
    const fresh = await store.upload(staged.ref, destination, { verify: true });
    expect(fresh.reused).toBe(false);
    expect(fresh.remoteId).not.toBe(first.remoteId);
    expect([fakes.openai.requests("files.retrieve"), fakes.openai.requests("files.create")]).toEqual([2, 2]);
    expect(sha256(fakes.openai.fileBytes(fresh.remoteId))).toBe(staged.checksum);
  });

  it("verify: true on Gemini counts its 403 for a file that is gone", async () => {
    const staged = await stageBytes(testBytes(3_000));
    const destination = fakes.geminiDestination();
    const first = await store.upload(staged.ref, destination);
    (fakes.gemini.files.get(first.remoteId) as { deleted: boolean }).deleted = true;
    const fresh = await store.upload(staged.ref, destination, { verify: true });
    expect(fresh.reused).toBe(false);
    expect(fresh.remoteId).not.toBe(first.remoteId);
    expect(fakes.gemini.requests("files.get")).toBe(1);
  });

  it("an entry within minRemaining of its expiry (by the store's clock) is uploaded again; before that it is reused", async () => {
    await store.close();
    let offset = 0;
    store = await openStore({ dir, sweepInterval: false, clock: () => Date.now() + offset });
    const staged = await stageBytes(testBytes(3_000));
    // OpenAI deletes the file 2 h after its creation; the default minRemaining is 1 h.
    const destination = fakes.openaiDestination({ expiresAfter: "2h" });
    const first = await store.upload(staged.ref, destination);
    expect(first.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 2 * HOUR - 60_000);

    offset = 50 * 60_000; // 1 h 10 min left: still usable
    expect(await store.upload(staged.ref, destination)).toMatchObject({ remoteId: first.remoteId, reused: true });
    expect(fakes.openai.requests("files.create")).toBe(1);

    offset = 70 * 60_000; // 50 min left, within minRemaining
    const renewed = await store.upload(staged.ref, destination);
    expect(renewed.reused).toBe(false);
    expect(renewed.remoteId).not.toBe(first.remoteId);
    expect(fakes.openai.requests("files.create")).toBe(2);

    // A destination asking for 3 h of life left renews even a fresh 2 h file.
    offset = 0;
    const demanding = fakes.openaiDestination({ expiresAfter: "2h", minRemaining: "3h" });
    expect(demanding.key).toBe(destination.key);
    expect((await store.upload(staged.ref, demanding)).reused).toBe(false);
  });

  it("a batch file is never reused as user_data: different keys, two remote files", async () => {
    const staged = await stageBytes(testBytes(3_000));
    const userData = fakes.openaiDestination({ purpose: "user_data" });
    const batch = fakes.openaiDestination({ purpose: "batch" });
    expect(batch.key).not.toBe(userData.key);
    const a = await store.upload(staged.ref, userData);
    const b = await store.upload(staged.ref, batch);
    expect(b.reused).toBe(false);
    expect(b.remoteId).not.toBe(a.remoteId);
    expect([fakes.openai.files.get(a.remoteId)?.purpose, fakes.openai.files.get(b.remoteId)?.purpose]).toEqual(["user_data", "batch"]);
    expect((await store.upload(staged.ref, batch)).remoteId).toBe(b.remoteId);
  });

  it("two accounts are kept apart: two API keys, or two base URLs, give two keys and two remote files", async () => {
    const staged = await stageBytes(testBytes(3_000));
    const mine = fakes.openaiDestination();
    const theirs = fakes.openaiDestination({ client: fakes.openaiClient("sk-other") });
    expect(theirs.key).not.toBe(mine.key);
    const a = await store.upload(staged.ref, mine);
    const b = await store.upload(staged.ref, theirs);
    expect(b).toMatchObject({ reused: false, destination: theirs.key });
    expect([fakes.openai.files.get(a.remoteId)?.account, fakes.openai.files.get(b.remoteId)?.account]).toEqual(["sk-test", "sk-other"]);

    const elsewhere = new FakeOpenAI();
    await elsewhere.start();
    try {
      const { default: OpenAI } = await import("openai");
      const other = fakes.openaiDestination({ client: new OpenAI({ apiKey: "sk-test", baseURL: `${elsewhere.url}/v1` }) });
      expect(other.key).not.toBe(mine.key);
      const c = await store.upload(staged.ref, other);
      expect(c.reused).toBe(false);
      expect(sha256(elsewhere.fileBytes(c.remoteId))).toBe(staged.checksum);
      expect(elsewhere.requests("files.create")).toBe(1);
    } finally {
      await elsewhere.close();
    }
    expect(fakes.openai.requests("files.create")).toBe(2);
    expect(new Set((await store.listUploads()).map((e) => e.destination)).size).toBe(3);
  });
});

describe("upload(): single flight in one process", () => {
  it("5 concurrent calls send the bytes once: one remote file, one upload's requests, four reused", async () => {
    const staged = await stageBytes(testBytes(3 * CHUNK + 10, 9));
    fakes.openai.setLatency(30, "uploads.parts");
    const destination = fakes.openaiDestination({ chunkSize: CHUNK });
    const records = await Promise.all(Array.from({ length: 5 }, () => store.upload(staged.ref, destination)));

    expect(new Set(records.map((r) => r.remoteId)).size).toBe(1);
    expect(records.filter((r) => r.reused)).toHaveLength(4);
    expect(records.filter((r) => !r.reused)).toHaveLength(1);
    expect(fakes.openai.files.size).toBe(1);
    expect([fakes.openai.requests("uploads.create"), fakes.openai.requests("uploads.parts"), fakes.openai.requests("uploads.complete")]).toEqual([1, 4, 1]);
  });

  it("a waiter's own abort ends only its wait: the upload it waited for finishes", async () => {
    const staged = await stageBytes(testBytes(5_000));
    fakes.openai.setLatency(200, "files.create");
    const destination = fakes.openaiDestination();
    const holder = store.upload(staged.ref, destination);
    await waitFor(() => fakes.openai.requests("files.create") === 1);
    const controller = new AbortController();
    const waiter = store.upload(staged.ref, destination, { signal: controller.signal });
    controller.abort();
    expect(await rejection(waiter)).toMatchObject({ code: "ABORTED" });
    expect((await holder).reused).toBe(false);
    expect(fakes.openai.files.size).toBe(1);
  });
});

describe("upload(): retries, abort and resume", () => {
  it("when the caller others wait for aborts, the waiters carry on: one resumes the upload, only the aborted caller fails", async () => {
    const staged = await stageBytes(testBytes(4 * CHUNK, 13));
    const destination = fakes.openaiDestination({ chunkSize: CHUNK, concurrency: 1 });
    fakes.openai.faults.push("uploads.parts", { kind: "pass" }, delay(2_000));
    const controller = new AbortController();
    const first = store.upload(staged.ref, destination, { signal: controller.signal });
    await waitFor(() => fakes.openai.requests("uploads.parts") === 2, 10_000, "the second part");
    const waiters = [store.upload(staged.ref, destination), store.upload(staged.ref, destination)];
    await new Promise((resolve) => setTimeout(resolve, 50)); // both are waiting for the first caller's flight
    controller.abort();
    expect(await rejection(first)).toMatchObject({ code: "ABORTED" });

    const records = await Promise.all(waiters);
    expect(records[0]?.remoteId).toBe(records[1]?.remoteId);
    expect(records.map((r) => r.reused).sort()).toEqual([false, true]);
    expect(fakes.openai.requests("uploads.create")).toBe(1);
    expect(fakes.openai.requests("uploads.parts")).toBe(5); // 1 done + 1 aborted, then the 3 missing
    expect(sha256(fakes.openai.fileBytes(records[0]?.remoteId as string))).toBe(staged.checksum);
  });


  it("retries a 429 with Retry-After (and retry-after-ms) on a part, and succeeds; the retries are counted", async () => {
    const staged = await stageBytes(testBytes(3 * CHUNK, 5));
    const destination = fakes.openaiDestination({ chunkSize: CHUNK, concurrency: 1 });
    fakes.openai.faults.push("uploads.parts", rateLimited({ retryAfter: "1" }), rateLimited({ retryAfterMs: 30 }));
    fakes.openai.faults.push("uploads.complete", serverError(503));
    const before = countersFor(destination.key);
    const started = Date.now();
    const record = await store.upload(staged.ref, destination);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(sha256(fakes.openai.fileBytes(record.remoteId))).toBe(staged.checksum);
    expect([fakes.openai.requests("uploads.parts"), fakes.openai.requests("uploads.complete")]).toEqual([5, 2]);
    expect(countersFor(destination.key).retries - before.retries).toBe(3);
  });

  it("exhausted retries fail with UPLOAD_FAILED, retryable, naming the destination and status; nothing is recorded", async () => {
    const staged = await stageBytes(testBytes(2_000));
    const destination = fakes.openaiDestination();
    fakes.openai.faults.push("files.create", ...Array.from({ length: 4 }, () => serverError(503)));
    const err = await rejection(store.upload(staged.ref, destination));
    expect(err).toMatchObject({ code: "UPLOAD_FAILED", retryable: true, status: 503, destination: destination.key });
    expect(fakes.openai.requests("files.create")).toBe(4);
    expect(await store.listUploads()).toEqual([]);
    expect((await store.metrics()).leases).toBe(0);
    // The next call starts afresh and succeeds.
    expect((await store.upload(staged.ref, destination)).reused).toBe(false);
  });

  it("OpenAI: an abort fails with ABORTED, the ledger keeps the parts done, and the next upload() sends only the missing ones", async () => {
    const size = 6 * CHUNK;
    const staged = await stageBytes(testBytes(size, 11));
    const destination = fakes.openaiDestination({ chunkSize: CHUNK, concurrency: 1 });
    fakes.openai.faults.push("uploads.parts", { kind: "pass" }, { kind: "pass" }, delay(2_000));
    const probe = await ledgerProbe(dir);
    try {
      const controller = new AbortController();
      const running = store.upload(staged.ref, destination, { signal: controller.signal });
      await waitFor(async () => partsDone(await probe.row(destination.key, staged.checksum)) === 2, 10_000, "two parts checkpointed");
      // The third part has reached the fake (and waits there): abort it in flight.
      await waitFor(() => fakes.openai.requests("uploads.parts") === 3, 10_000, "the third part");
      controller.abort(new Error("user cancelled"));
      expect(await rejection(running)).toMatchObject({ code: "ABORTED" });

      const kept = await probe.row(destination.key, staged.checksum);
      expect(kept).toMatchObject({ remoteId: null, holder: null });
      expect(partsDone(kept)).toBe(2);
      expect(await store.listUploads()).toEqual([]);
      expect((await store.metrics()).leases).toBe(0);

      const parts = fakes.openai.requests("uploads.parts");
      const progress: number[] = [];
      const record = await store.upload(staged.ref, destination, { onProgress: (p) => progress.push(p.bytes) });
      expect(record.reused).toBe(false);
      expect(fakes.openai.requests("uploads.parts") - parts).toBe(4);
      expect(fakes.openai.requests("uploads.create")).toBe(1);
      expect(progress[0]).toBeGreaterThanOrEqual(2 * CHUNK);
      expect(progress.at(-1)).toBe(size);
      const completion = fakes.openai.completions.at(-1) as string[];
      expect(completion.slice(0, 2)).toEqual((kept?.resume as { partIds: string[] }).partIds.slice(0, 2));
      expect(sha256(fakes.openai.fileBytes(record.remoteId))).toBe(staged.checksum);
      expect(await probe.row(destination.key, staged.checksum)).toMatchObject({ remoteId: record.remoteId, resume: null, holder: null });
    } finally {
      await probe.close();
    }
  });

  it("Gemini: an abort keeps the session and offset; the next upload() asks the offset and sends only the rest", async () => {
    const size = 3 * CHUNK_GRANULARITY + 1_000;
    const staged = await stageBytes(testBytes(size, 12));
    const destination = fakes.geminiDestination({ chunkSize: CHUNK_GRANULARITY });
    fakes.gemini.faults.push("upload.chunk", { kind: "pass" }, delay(2_000));
    const probe = await ledgerProbe(dir);
    try {
      const controller = new AbortController();
      const running = store.upload(staged.ref, destination, { signal: controller.signal });
      const offsetOf = async () => ((await probe.row(destination.key, staged.checksum))?.resume as GeminiUploadCheckpoint | null)?.offset;
      await waitFor(async () => (await offsetOf()) === CHUNK_GRANULARITY, 10_000, "one chunk checkpointed");
      await waitFor(() => fakes.gemini.requests("upload.chunk") === 2, 10_000, "the second chunk");
      controller.abort();
      expect(await rejection(running)).toMatchObject({ code: "ABORTED" });
      expect(await offsetOf()).toBe(CHUNK_GRANULARITY);

      const record = await store.upload(staged.ref, destination);
      expect(sha256(fakes.gemini.fileBytes(record.remoteId))).toBe(staged.checksum);
      expect([fakes.gemini.requests("upload.start"), fakes.gemini.requests("upload.query"), fakes.gemini.requests("upload.chunk"), fakes.gemini.requests("upload.finalize")]).toEqual([1, 1, 4, 1]);
    } finally {
      await probe.close();
    }
  });
});

describe("upload(): pinned and verified", () => {
  it("a corrupt blob fails with INTEGRITY_ERROR and is never completed remotely, whichever the protocol", async () => {
    const cases = [
      { name: "OpenAI chunked", destination: fakes.openaiDestination({ chunkSize: CHUNK }), size: 4 * CHUNK + 5 },
      { name: "OpenAI one request", destination: fakes.openaiDestination({ purpose: "assistants" }), size: 40_000 },
      { name: "Gemini chunked", destination: fakes.geminiDestination({ chunkSize: CHUNK_GRANULARITY }), size: 2 * CHUNK_GRANULARITY + 7 },
      { name: "Gemini one chunk", destination: fakes.geminiDestination({ chunkSize: CHUNK_GRANULARITY }), size: 10_000 },
      { name: "Anthropic", destination: fakes.anthropicDestination(), size: 10_000 },
    ];
    for (const [i, c] of cases.entries()) {
      const staged = await stageBytes(testBytes(c.size, 100 + i), `${i}.bin`, "application/octet-stream");
      corruptBlob((await store.resolve(staged.ref)).path);
      const err = await rejection(store.upload(staged.ref, c.destination));
      expect(err, c.name).toMatchObject({ code: "INTEGRITY_ERROR" });
    }
    expect(fakes.openai.requests("uploads.parts")).toBe(5); // the chunked bytes went out; the upload was never completed
    expect(fakes.openai.requests("uploads.complete")).toBe(0);
    expect(fakes.openai.files.size).toBe(0);
    expect(fakes.gemini.requests("upload.finalize")).toBe(0);
    expect(fakes.gemini.files.size).toBe(0);
    expect(fakes.anthropic.requests("files.upload")).toBe(0);
    expect(await store.listUploads()).toEqual([]);
    expect((await store.metrics()).leases).toBe(0);
  });

  it("holds a lease while it uploads: a release and a sweep meanwhile do not take the bytes away", async () => {
    const staged = await stageBytes(testBytes(50_000, 21));
    fakes.openai.setLatency(300, "files.create");
    const running = store.upload(staged.ref, fakes.openaiDestination());
    await waitFor(() => fakes.openai.requests("files.create") === 1);
    expect((await store.metrics()).leases).toBe(1);
    expect(await store.release(staged.ref)).toBe(true);
    expect((await store.sweep()).blobsDeleted).toBe(0);

    const record = await running;
    expect(sha256(fakes.openai.fileBytes(record.remoteId))).toBe(staged.checksum);
    expect((await store.metrics()).leases).toBe(0);
    expect((await store.sweep()).blobsDeleted).toBe(1);
  });

  it("refuses a file over the destination's maxSize before any request (TOO_LARGE), and a released ref (NOT_FOUND)", async () => {
    const staged = await stageBytes(testBytes(2_000));
    expect(await rejection(store.upload(staged.ref, fakes.openaiDestination({ maxSize: 1_999 })))).toMatchObject({ code: "TOO_LARGE" });
    expect(await rejection(store.scope("elsewhere").upload(staged.ref, fakes.openaiDestination()))).toMatchObject({ code: "NOT_FOUND" });
    await store.release(staged.ref);
    expect(await rejection(store.upload(staged.ref, fakes.openaiDestination()))).toMatchObject({ code: "NOT_FOUND" });
    expect(await rejection(store.upload(staged.ref, { key: "openai:x" } as never))).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(fakes.requests()).toBe(0);
  });
});

describe("upload(): other backends and modes", () => {
  it("uploads a reference-mode attachment from its outside file; a changed file fails with INTEGRITY_ERROR before completing", async () => {
    const outside = path.join(freshDir("attache-outside-"), "scan.pdf");
    const bytes = testBytes(30_000, 71);
    fs.writeFileSync(outside, bytes);
    const staged = await store.stage(outside, { mode: "reference", persist: true });
    const destination = fakes.openaiDestination({ chunkSize: CHUNK });
    const record = await store.upload(staged.ref, destination);
    expect(sha256(fakes.openai.fileBytes(record.remoteId))).toBe(staged.checksum);
    expect(fakes.openai.files.get(record.remoteId)?.filename).toBe("scan.pdf");

    bytes[20_000] = (bytes[20_000] as number) ^ 1;
    fs.writeFileSync(outside, bytes);
    const err = await rejection(store.upload(staged.ref, destination, { force: true }));
    expect(err).toMatchObject({ code: "INTEGRITY_ERROR" });
    expect(fakes.openai.requests("uploads.complete")).toBe(1);
  });

  it("works on the memory manifest and blob store: ledger reuse with no request, single flight, remote counts", async () => {
    const memory = await openStore({ dir: freshDir("attache-memory-"), manifest: memoryManifest(), blobStore: memoryBlobStore(), sweepInterval: false });
    try {
      const staged = await memory.stage(testBytes(3 * CHUNK + 1, 72), { name: "m.pdf", persist: true });
      const destination = fakes.geminiDestination({ chunkSize: CHUNK_GRANULARITY });
      const records = await Promise.all([memory.upload(staged.ref, destination), memory.upload(staged.ref, destination)]);
      expect(records.map((r) => r.reused).sort()).toEqual([false, true]);
      expect(sha256(fakes.gemini.fileBytes(records[0]?.remoteId as string))).toBe(staged.checksum);
      const before = fakes.requests();
      expect((await memory.upload(staged.ref, destination)).reused).toBe(true);
      expect(fakes.requests()).toBe(before);
      expect((await memory.metrics()).remote).toEqual({ count: 1, bytes: 3 * CHUNK + 1, destinations: { [destination.key]: { count: 1, bytes: 3 * CHUNK + 1 } } });
    } finally {
      await memory.close();
    }
  });

  it("an abort that lands while the claim is being taken stops the upload before any byte is sent", async () => {
    const controller = new AbortController();
    const inner = memoryManifest();
    // A manifest whose claim lets the caller's signal fire while the claim is in progress.
    const uploads = new Proxy(inner.uploads, {
      get(target, property, receiver) {
        if (property !== "claim") return Reflect.get(target, property, receiver) as unknown;
        return async (...args: Parameters<Manifest["uploads"]["claim"]>) => {
          const claimed = await target.claim(...args);
          controller.abort();
          return claimed;
        };
      },
    });
    const manifest = new Proxy(inner, {
      get(target, property) {
        if (property === "uploads") return uploads;
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const aborting = await openStore({ dir: freshDir("attache-abort-"), manifest, sweepInterval: false });
    try {
      const staged = await aborting.stage(testBytes(2_000, 73), { name: "a.pdf", persist: true });
      const err = await rejection(aborting.upload(staged.ref, fakes.openaiDestination(), { signal: controller.signal }));
      expect(err).toMatchObject({ code: "ABORTED" });
      expect(fakes.requests()).toBe(0);
      expect(await aborting.listUploads()).toEqual([]);
    } finally {
      await aborting.close();
    }
  });
});

describe("upload(): metrics, listUploads and telemetry", () => {
  it("metrics().remote counts files and bytes per destination; listUploads() lists the entries, optionally one destination's", async () => {
    const a = await stageBytes(testBytes(1_000, 31));
    const b = await stageBytes(testBytes(2_000, 32));
    const openai = fakes.openaiDestination();
    const gemini = fakes.geminiDestination();
    const ra = await store.upload(a.ref, openai);
    const rb = await store.upload(b.ref, openai);
    const rg = await store.upload(b.ref, gemini);

    const { remote } = await store.metrics();
    expect(remote).toEqual({
      count: 3,
      bytes: 5_000,
      destinations: { [openai.key]: { count: 2, bytes: 3_000 }, [gemini.key]: { count: 1, bytes: 2_000 } },
    });
    const all = await store.listUploads();
    expect(all.map((e) => e.remoteId).sort()).toEqual([ra.remoteId, rb.remoteId, rg.remoteId].sort());
    for (const entry of all) expect(entry).not.toHaveProperty("reused");
    const geminiOnly = await store.listUploads({ destination: gemini.key });
    expect(geminiOnly).toEqual([{ destination: gemini.key, remoteId: rg.remoteId, uri: rg.uri, digest: b.digest, size: 2_000, uploadedAt: rg.uploadedAt, expiresAt: rg.expiresAt }]);
    expect(await store.listUploads({ limit: 1 })).toHaveLength(1);
    expect(await store.listUploads({ destination: "openai:nothing" })).toEqual([]);
  });

  it("uploadCounters() counts uploads, ledger hits and bytes sent per destination", async () => {
    const staged = await stageBytes(testBytes(7_000, 41));
    const destination = fakes.openaiDestination({ chunkSize: CHUNK });
    await store.upload(staged.ref, destination);
    await store.upload(staged.ref, destination);
    await store.upload(staged.ref, destination);
    expect(countersFor(destination.key)).toEqual({ uploads: 1, ledgerHits: 2, bytesSent: 7_000, retries: 0, failures: 0 });
  });

  it("the attache:upload tracing channel reports start and end of each call with its context, and errors", async () => {
    const staged = await stageBytes(testBytes(4_000, 51));
    const destination = fakes.openaiDestination();
    const events: { event: string; context: Record<string, unknown> }[] = [];
    const channel = diagnostics_channel.tracingChannel("attache:upload");
    const record = (event: string) => (context: unknown) => void events.push({ event, context: { ...(context as Record<string, unknown>) } });
    const handlers = { start: record("start"), end: record("end"), asyncStart: record("asyncStart"), asyncEnd: record("asyncEnd"), error: record("error") };
    channel.subscribe(handlers);
    try {
      const first = await store.upload(staged.ref, destination);
      await store.upload(staged.ref, destination);
      fakes.openai.faults.push("files.create", ...Array.from({ length: 4 }, () => serverError(500)));
      await rejection(store.upload(staged.ref, destination, { force: true }));

      const context = { destination: destination.key, digest: staged.digest, size: 4_000 };
      expect(events.filter((e) => e.event === "start").map((e) => e.context)).toEqual([context, context, context]);
      const ends = events.filter((e) => e.event === "asyncEnd");
      expect(ends).toHaveLength(3);
      expect(ends[0]?.context).toMatchObject({ ...context, result: first });
      expect(ends[1]?.context).toMatchObject({ result: { reused: true, remoteId: first.remoteId } });
      const errors = events.filter((e) => e.event === "error");
      expect(errors).toHaveLength(1);
      expect(errors[0]?.context).toMatchObject({ ...context, error: { code: "UPLOAD_FAILED" } });
    } finally {
      channel.unsubscribe(handlers);
    }
    expect(countersFor(destination.key)).toMatchObject({ uploads: 1, ledgerHits: 1, failures: 1, retries: 3 });
  });
});
