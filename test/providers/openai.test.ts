import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isAttacheError } from "../../src/errors.js";
import type { Destination } from "../../src/providers/destination.js";
import { openaiFiles, type OpenAIFilesOptions } from "../../src/providers/openai.js";
import type { OpenAIUploadCheckpoint } from "../../src/providers/openai-uploads.js";
import { delay, dropAfterBody, dropMidBody, failWith, pass, rateLimited, serverError } from "../support/fake-providers/faults.js";
import { FakeOpenAI } from "../support/fake-providers/openai.js";
import { bufferUpload, corrupted, sha256, testBytes } from "../support/fake-providers/upload-input.js";

const FAST_RETRY = { retries: 3, minDelay: 1, maxDelay: 20 };
const CHUNK = 16 * 1024;

let fake: FakeOpenAI;
let client: OpenAI;

beforeEach(async () => {
  fake = new FakeOpenAI({ apiKeys: ["sk-test", "sk-other"] });
  await fake.start();
  client = new OpenAI({ apiKey: "sk-test", baseURL: `${fake.url}/v1` });
});
afterEach(async () => {
  expect(fake.unexpected).toEqual([]);
  await fake.close();
});

function destination(options: Partial<OpenAIFilesOptions> = {}): Destination {
  return openaiFiles({ client, purpose: "user_data", chunkSize: CHUNK, retry: FAST_RETRY, ...options });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (err: unknown) => err,
  );
}

describe("openaiFiles: one request at or below chunkSize", () => {
  it("sends the bytes with files.create: the file hashes to the digest, named and purposed as asked", async () => {
    const bytes = testBytes(10_000);
    const input = bufferUpload(bytes, { name: "notes.txt", contentType: "text/plain" });
    const remote = await destination({ expiresAfter: "2h" }).upload(input);

    const stored = fake.files.get(remote.remoteId);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(input.digest);
    expect(stored).toMatchObject({ filename: "notes.txt", purpose: "user_data" });
    expect(remote.expiresAt).toBe((stored?.expiresAt as number) * 1000);
    expect(stored?.expiresAt).toBe((stored?.createdAt as number) + 7200);
    expect(fake.requests("files.create")).toBe(1);
    expect(fake.requests("uploads.create")).toBe(0);
    expect(input.progress.at(-1)).toBe(bytes.length);
  });

  it("gives expiresAt null for a file that does not expire, and takes an empty file", async () => {
    const remote = await destination().upload(bufferUpload(Buffer.alloc(0)));
    expect(remote.expiresAt).toBeNull();
    expect(fake.fileBytes(remote.remoteId).length).toBe(0);
  });

  it("retries a 500, a 503 and a dropped connection, with a fresh body for every attempt", async () => {
    fake.faults.push("files.create", serverError(500), serverError(503), dropMidBody());
    const input = bufferUpload(testBytes(8_000));
    const remote = await destination().upload(input);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(input.digest);
    expect(fake.requests("files.create")).toBe(4);
    expect(input.opened).toEqual([
      [0, 8_000],
      [0, 8_000],
      [0, 8_000],
      [0, 8_000],
    ]);
    expect(input.retries.map((r) => r.status)).toEqual([500, 503, undefined]);
  });

  it("waits exactly what retry-after-ms and Retry-After ask for", async () => {
    fake.faults.push("files.create", rateLimited({ retryAfterMs: 40 }), rateLimited({ retryAfter: "1" }));
    const input = bufferUpload(testBytes(1_000));
    const started = Date.now();
    await destination({ retry: { retries: 3, minDelay: 1, maxDelay: 2_000 } }).upload(input);
    expect(input.retries.map((r) => [r.status, r.delayMs])).toEqual([
      [429, 40],
      [429, 1_000],
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_035);
  });

  it("does not retry a 400: UPLOAD_FAILED, not retryable, with the status and the destination", async () => {
    fake.faults.push("files.create", failWith(400, undefined, "Invalid file format."));
    const dest = destination();
    const err = await rejection(dest.upload(bufferUpload(testBytes(1_000))));
    expect(err).toMatchObject({ code: "UPLOAD_FAILED", retryable: false, status: 400, destination: dest.key });
    expect(fake.requests("files.create")).toBe(1);
  });

  it("gives up after `retries` retries with UPLOAD_FAILED, retryable", async () => {
    fake.faults.push("files.create", ...Array.from({ length: 4 }, () => serverError(503)));
    const err = await rejection(destination().upload(bufferUpload(testBytes(1_000))));
    expect(err).toMatchObject({ code: "UPLOAD_FAILED", retryable: true, status: 503 });
    expect(fake.requests("files.create")).toBe(4);
  });

  it("turns the provider's 413 into TOO_LARGE", async () => {
    await fake.close();
    fake = new FakeOpenAI({ maxFileBytes: 4_000 });
    await fake.start();
    client = new OpenAI({ apiKey: "sk-test", baseURL: `${fake.url}/v1` });
    const err = await rejection(destination().upload(bufferUpload(testBytes(5_000))));
    expect(err).toMatchObject({ code: "TOO_LARGE", status: 413, retryable: false });
    expect(fake.requests("files.create")).toBe(1);
  });

  it("refuses a file over maxSize before any request", async () => {
    const err = await rejection(destination({ maxSize: 1_000 }).upload(bufferUpload(testBytes(1_001))));
    expect(err).toMatchObject({ code: "TOO_LARGE" });
    expect(fake.requests()).toBe(0);
  });

  it("never creates a file from bad bytes: the stream errors with INTEGRITY_ERROR and the request is cut", async () => {
    const bytes = testBytes(40_000);
    const err = await rejection(destination({ chunkSize: 64 * 1024 }).upload(bufferUpload(bytes, { stored: corrupted(bytes) })));
    expect(isAttacheError(err, "INTEGRITY_ERROR")).toBe(true);
    expect(fake.files.size).toBe(0);
  });

  it("retries a request slower than timeout", async () => {
    fake.faults.push("files.create", delay(2_000));
    const input = bufferUpload(testBytes(1_000));
    await destination({ timeout: 150 }).upload(input);
    expect(fake.requests("files.create")).toBe(2);
    expect(input.retries).toHaveLength(1);
  });
});

describe("openaiFiles: the Uploads API above chunkSize", () => {
  it("sends ceil(size / chunkSize) parts and completes with their ids in order", async () => {
    const bytes = testBytes(CHUNK * 6 + 123);
    const input = bufferUpload(bytes, { name: "big.bin", contentType: "application/octet-stream" });
    const remote = await destination().upload(input);

    expect(fake.requests("uploads.create")).toBe(1);
    expect(fake.requests("uploads.parts")).toBe(7);
    expect(fake.requests("uploads.complete")).toBe(1);
    expect(fake.requests("files.create")).toBe(0);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(input.digest);
    const upload = [...fake.uploads.values()][0];
    expect(upload).toMatchObject({ filename: "big.bin", mimeType: "application/octet-stream", purpose: "user_data", bytes: bytes.length, status: "completed" });
    const last = input.checkpoints.at(-1) as OpenAIUploadCheckpoint;
    expect(fake.completions).toEqual([last.partIds]);
    expect(input.beforeCompleteCalls).toBe(1);
    expect(input.progress.at(-1)).toBe(bytes.length);
    expect(input.progress).toEqual([...input.progress].sort((a, b) => a - b));
  });

  it("keeps `concurrency` parts in flight at once, and no more", async () => {
    fake.setLatency(40, "uploads.parts");
    await destination({ concurrency: 3 }).upload(bufferUpload(testBytes(CHUNK * 9)));
    expect(fake.maxConcurrent("uploads.parts")).toBeGreaterThanOrEqual(2);
    expect(fake.maxConcurrent("uploads.parts")).toBeLessThanOrEqual(3);
  });

  it("sends one part at a time with concurrency 1", async () => {
    fake.setLatency(10, "uploads.parts");
    await destination({ concurrency: 1 }).upload(bufferUpload(testBytes(CHUNK * 4)));
    expect(fake.maxConcurrent("uploads.parts")).toBe(1);
  });

  it("retries only the part that failed (429, 500, a dropped connection, a lost answer)", async () => {
    fake.faults.push("uploads.parts", pass(), rateLimited({ retryAfterMs: 5 }), serverError(500), dropMidBody(), dropAfterBody());
    fake.faults.push("uploads.complete", serverError(502));
    const input = bufferUpload(testBytes(CHUNK * 5));
    const remote = await destination({ concurrency: 1, retry: { ...FAST_RETRY, retries: 5 } }).upload(input);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(input.digest);
    expect(fake.requests("uploads.parts")).toBe(5 + 4);
    expect(fake.requests("uploads.complete")).toBe(2);
    expect(fake.requests("uploads.create")).toBe(1);
    // Part 2 was opened five times: once per attempt.
    expect(input.opened.filter(([start]) => start === CHUNK)).toHaveLength(5);
  });

  it("resumes after an abort: only the missing parts are sent, to the same upload", async () => {
    const bytes = testBytes(CHUNK * 8);
    const controller = new AbortController();
    fake.setLatency(15, "uploads.parts");
    const first = bufferUpload(bytes, {
      signal: controller.signal,
      onCheckpoint: (state) => {
        const done = (state as OpenAIUploadCheckpoint).partIds.filter((id) => id !== null).length;
        if (done === 3) controller.abort();
      },
    });
    const dest = destination({ concurrency: 2 });
    const err = await rejection(dest.upload(first));
    expect(err).toMatchObject({ code: "ABORTED" });
    // A request sent just before the abort may still reach the server; after that, nothing more comes.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const partsBefore = fake.requests("uploads.parts");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fake.requests("uploads.parts")).toBe(partsBefore); // the part work stopped
    expect(fake.requests("uploads.complete")).toBe(0);

    const saved = first.checkpoints.at(-1) as OpenAIUploadCheckpoint;
    const done = saved.partIds.filter((id) => id !== null).length;
    expect(done).toBeGreaterThanOrEqual(3);
    expect(partsBefore).toBeLessThanOrEqual(done + 2); // at most `concurrency` parts were cut short
    const second = bufferUpload(bytes, { resume: saved });
    const remote = await dest.upload(second);
    expect(fake.requests("uploads.create")).toBe(1);
    expect(fake.requests("uploads.parts") - partsBefore).toBe(8 - done);
    expect(second.opened.every(([start]) => saved.partIds[start / CHUNK] === null)).toBe(true);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(second.digest);
    expect(second.progress[0]).toBe(done * CHUNK);
  });

  it("resumes with every part done by completing at once", async () => {
    const bytes = testBytes(CHUNK * 3);
    fake.faults.push("uploads.complete", failWith(400, undefined, "stop here"));
    const first = bufferUpload(bytes);
    await rejection(destination().upload(first));
    const second = bufferUpload(bytes, { resume: first.checkpoints.at(-1) });
    // The 400 did not end the fake's upload, so the resume completes it.
    const remote = await destination().upload(second);
    expect(fake.requests("uploads.parts")).toBe(3);
    expect(second.opened).toEqual([]);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(second.digest);
  });

  it("starts over when the remote upload has expired or was cancelled", async () => {
    const bytes = testBytes(CHUNK * 4);
    for (const end of ["expire", "cancel"] as const) {
      const controller = new AbortController();
      const first = bufferUpload(bytes, { signal: controller.signal, onCheckpoint: (_state, count) => void (count === 2 && controller.abort()) });
      await rejection(destination({ concurrency: 1 }).upload(first));
      const saved = first.checkpoints.at(-1) as OpenAIUploadCheckpoint;
      if (end === "expire") fake.expireUpload(saved.uploadId);
      else await client.uploads.cancel(saved.uploadId);
      const second = bufferUpload(bytes, { resume: saved });
      const remote = await destination().upload(second);
      expect(sha256(fake.fileBytes(remote.remoteId))).toBe(second.digest);
      expect((second.checkpoints[0] as OpenAIUploadCheckpoint).uploadId).not.toBe(saved.uploadId);
    }
    expect(fake.requests("uploads.create")).toBe(4);
  });

  it("ignores a checkpoint of other bytes, or one whose upload is about to expire", async () => {
    const bytes = testBytes(CHUNK * 2);
    const first = bufferUpload(bytes);
    await destination().upload(first);
    const saved = first.checkpoints[0] as OpenAIUploadCheckpoint;
    await destination().upload(bufferUpload(testBytes(CHUNK * 2, 7), { resume: saved }));
    await destination().upload(bufferUpload(bytes, { resume: { ...saved, expiresAt: Date.now() + 1_000 } }));
    expect(fake.requests("uploads.create")).toBe(3);
  });

  it("never completes an upload of bad bytes: INTEGRITY_ERROR, and complete is never called", async () => {
    const bytes = testBytes(CHUNK * 3);
    const input = bufferUpload(bytes, { stored: corrupted(bytes, 10) });
    const err = await rejection(destination().upload(input));
    expect(isAttacheError(err, "INTEGRITY_ERROR")).toBe(true);
    expect(fake.requests("uploads.complete")).toBe(0);
    expect(fake.files.size).toBe(0);
  });

  it("stops every part when one fails for good", async () => {
    fake.setLatency(20, "uploads.parts");
    fake.faults.push("uploads.parts", failWith(400, undefined, "bad part"));
    const err = await rejection(destination({ concurrency: 2 }).upload(bufferUpload(testBytes(CHUNK * 10))));
    expect(err).toMatchObject({ code: "UPLOAD_FAILED", status: 400 });
    expect(fake.requests("uploads.parts")).toBeLessThan(10);
    expect(fake.requests("uploads.complete")).toBe(0);
  });
});

describe("openaiFiles: stat and delete", () => {
  it("reads a file's metadata, null once it is deleted; deleting twice is fine", async () => {
    const dest = destination({ expiresAfter: "1d" });
    const remote = await dest.upload(bufferUpload(testBytes(500)));
    expect(await dest.stat(remote.remoteId)).toEqual(remote);
    await dest.delete(remote.remoteId);
    expect(await dest.stat(remote.remoteId)).toBeNull();
    await dest.delete(remote.remoteId);
    expect(fake.requests("files.delete")).toBe(2);
  });

  it("retries a stat that meets a 503", async () => {
    const dest = destination();
    const remote = await dest.upload(bufferUpload(testBytes(500)));
    fake.faults.push("files.retrieve", serverError(503));
    expect(await dest.stat(remote.remoteId)).toEqual(remote);
    expect(fake.requests("files.retrieve")).toBe(2);
  });

  it("does not see another account's file", async () => {
    const remote = await destination().upload(bufferUpload(testBytes(500)));
    const other = openaiFiles({ client: new OpenAI({ apiKey: "sk-other", baseURL: `${fake.url}/v1` }), purpose: "user_data" });
    expect(await other.stat(remote.remoteId)).toBeNull();
  });
});

describe("openaiFiles: keys and options", () => {
  it("keys the account and the purpose, never the credential", () => {
    const a = openaiFiles({ client, purpose: "user_data" });
    const same = openaiFiles({ client: new OpenAI({ apiKey: "sk-test", baseURL: `${fake.url}/v1` }), purpose: "user_data", chunkSize: 1_000 });
    const otherKey = openaiFiles({ client: new OpenAI({ apiKey: "sk-other", baseURL: `${fake.url}/v1` }), purpose: "user_data" });
    const otherUrl = openaiFiles({ client: new OpenAI({ apiKey: "sk-test", baseURL: "http://127.0.0.1:1/v1" }), purpose: "user_data" });
    const batch = openaiFiles({ client, purpose: "batch" });
    expect(a.key).toMatch(/^openai:[0-9a-f]{24}$/);
    expect(same.key).toBe(a.key);
    expect(new Set([a.key, otherKey.key, otherUrl.key, batch.key]).size).toBe(4);
    expect(a.key).not.toContain("sk-test");
  });

  it("needs `account` when the client holds no API key string (an apiKey function)", async () => {
    const rotating = new OpenAI({ apiKey: async () => "sk-test", baseURL: `${fake.url}/v1` });
    expect(() => openaiFiles({ client: rotating, purpose: "user_data" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    const named = openaiFiles({ client: rotating, purpose: "user_data", account: "team-a" });
    const other = openaiFiles({ client: rotating, purpose: "user_data", account: "team-b" });
    expect(named.key).not.toBe(other.key);
    const remote = await named.upload(bufferUpload(testBytes(100)));
    expect(fake.files.get(remote.remoteId)?.account).toBe("sk-test");
  });

  it("resolves the defaults", () => {
    expect(openaiFiles({ client, purpose: "vision" }).settings).toEqual({
      chunkSize: 64 * 1024 * 1024,
      concurrency: 4,
      retry: { retries: 5, minDelayMs: 500, maxDelayMs: 30_000 },
      timeoutMs: 600_000,
      minRemainingMs: 3_600_000,
      maxSize: 8 * 1000 ** 3,
      deleteWhenUnused: false,
    });
  });

  it.each([
    [{ purpose: "pictures" }],
    [{ chunkSize: 0 }],
    [{ chunkSize: 64 * 1024 * 1024 + 1 }],
    [{ concurrency: 0 }],
    [{ retry: { retries: -1 } }],
    [{ retry: { minDelay: "2s", maxDelay: "1s" } }],
    [{ timeout: "soon" }],
    [{ maxSize: 9 * 1000 ** 3 }],
    [{ expiresAfter: "10m" }],
    [{ expiresAfter: "31d" }],
    [{ deleteWhenUnused: "yes" }],
    [{ client: {} }],
  ])("refuses %j with INVALID_ARGUMENT", (bad) => {
    expect(() => openaiFiles({ client, purpose: "user_data", ...(bad as object) } as OpenAIFilesOptions)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
