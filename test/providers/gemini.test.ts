import { GoogleGenAI } from "@google/genai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isAttacheError } from "../../src/errors.js";
import type { Destination } from "../../src/providers/destination.js";
import { geminiFiles, type GeminiFilesOptions } from "../../src/providers/gemini.js";
import type { GeminiUploadCheckpoint } from "../../src/providers/gemini-resumable.js";
import { dropAfterBody, dropMidBody, failWith, rateLimited, serverError } from "../support/fake-providers/faults.js";
import { CHUNK_GRANULARITY, FakeGemini } from "../support/fake-providers/gemini.js";
import { bufferUpload, corrupted, sha256, testBytes } from "../support/fake-providers/upload-input.js";

const CHUNK = CHUNK_GRANULARITY;

let fake: FakeGemini;
let client: GoogleGenAI;

beforeEach(async () => {
  fake = new FakeGemini({ apiKeys: ["gemini-test-key", "gemini-other-key"] });
  await fake.start();
  client = new GoogleGenAI({ apiKey: "gemini-test-key", httpOptions: { baseUrl: fake.url } });
});
afterEach(async () => {
  expect(fake.unexpected).toEqual([]);
  await fake.close();
});

function destination(options: Partial<GeminiFilesOptions> = {}): Destination {
  return geminiFiles({ client, chunkSize: CHUNK, retry: { retries: 3, minDelay: 1, maxDelay: 20 }, ...options });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (err: unknown) => err,
  );
}

describe("geminiFiles: the resumable protocol", () => {
  it("uploads a small file as one finalizing chunk, and returns its name, uri and expiry", async () => {
    const input = bufferUpload(testBytes(5_000), { name: "diagram.png", contentType: "image/png" });
    const remote = await destination().upload(input);
    const stored = fake.files.get(remote.remoteId);
    expect(remote.remoteId).toMatch(/^files\//);
    expect(remote.uri).toBe(`${fake.url}/v1beta/${remote.remoteId}`);
    expect(remote.expiresAt).toBe(stored?.expirationTime.getTime());
    expect(stored).toMatchObject({ displayName: "diagram.png", mimeType: "image/png" });
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(input.digest);
    expect([fake.requests("upload.start"), fake.requests("upload.chunk"), fake.requests("upload.finalize")]).toEqual([1, 0, 1]);
    expect(input.beforeCompleteCalls).toBe(1);
  });

  it("sends a larger file in chunkSize chunks, recording the offset after each", async () => {
    const input = bufferUpload(testBytes(CHUNK * 3 + 1_000));
    const remote = await destination().upload(input);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(input.digest);
    expect([fake.requests("upload.chunk"), fake.requests("upload.finalize")]).toEqual([3, 1]);
    expect((input.checkpoints as GeminiUploadCheckpoint[]).map((c) => c.offset)).toEqual([0, CHUNK, 2 * CHUNK, 3 * CHUNK]);
    expect(input.progress.at(-1)).toBe(CHUNK * 3 + 1_000);
  });

  it("takes an empty file", async () => {
    const remote = await destination().upload(bufferUpload(Buffer.alloc(0), { contentType: "text/plain" }));
    expect(fake.fileBytes(remote.remoteId).length).toBe(0);
  });

  it("after a failed chunk asks the server for its offset, so a chunk that arrived is not sent twice", async () => {
    fake.faults.push("upload.chunk", dropAfterBody(), serverError(503), dropMidBody(), rateLimited({ retryAfterMs: 5 }));
    const input = bufferUpload(testBytes(CHUNK * 3 + 10), { streamChunk: 64 * 1024 });
    const remote = await destination({ retry: { retries: 5, minDelay: 1, maxDelay: 20 } }).upload(input);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(input.digest);
    expect(fake.requests("upload.query")).toBe(4);
    // The first chunk arrived (its answer was lost): the retry moved on to the second.
    expect(input.opened.filter(([start]) => start === 0)).toHaveLength(1);
    expect(fake.requests("upload.chunk")).toBe(3 + 3);
  });

  it("returns the file when the finalizing chunk's answer was lost", async () => {
    fake.faults.push("upload.finalize", dropAfterBody());
    const input = bufferUpload(testBytes(1_000));
    const remote = await destination().upload(input);
    expect(fake.files.size).toBe(1);
    expect(remote.remoteId).toBe([...fake.files.keys()][0]);
    expect(fake.requests("upload.finalize")).toBe(1);
  });

  it("resumes after an abort from the offset the server reports, sending only the rest", async () => {
    const bytes = testBytes(CHUNK * 4 + 7);
    const controller = new AbortController();
    const first = bufferUpload(bytes, { signal: controller.signal, onCheckpoint: (state) => void ((state as GeminiUploadCheckpoint).offset === 2 * CHUNK && controller.abort()) });
    const dest = destination();
    expect(await rejection(dest.upload(first))).toMatchObject({ code: "ABORTED" });
    expect(fake.requests("upload.chunk")).toBe(2);

    const second = bufferUpload(bytes, { resume: first.checkpoints.at(-1) });
    const remote = await dest.upload(second);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(second.digest);
    expect(fake.requests("upload.start")).toBe(1);
    expect(fake.requests("upload.query")).toBe(1);
    expect(second.opened).toEqual([
      [2 * CHUNK, 3 * CHUNK],
      [3 * CHUNK, 4 * CHUNK],
      [4 * CHUNK, 4 * CHUNK + 7],
    ]);
    expect(second.progress[0]).toBe(2 * CHUNK);
  });

  it("trusts the server's offset over the checkpoint's", async () => {
    const bytes = testBytes(CHUNK * 3);
    const controller = new AbortController();
    const first = bufferUpload(bytes, { signal: controller.signal, onCheckpoint: (state) => void ((state as GeminiUploadCheckpoint).offset === CHUNK && controller.abort()) });
    await rejection(destination().upload(first));
    const stale = { ...(first.checkpoints.at(-1) as GeminiUploadCheckpoint), offset: 0 };
    const second = bufferUpload(bytes, { resume: stale });
    await destination().upload(second);
    expect(second.opened[0]).toEqual([CHUNK, 2 * CHUNK]);
  });

  it("starts over when the session is gone", async () => {
    const bytes = testBytes(CHUNK * 2 + 1);
    const controller = new AbortController();
    const first = bufferUpload(bytes, { signal: controller.signal, onCheckpoint: (state) => void ((state as GeminiUploadCheckpoint).offset === CHUNK && controller.abort()) });
    await rejection(destination().upload(first));
    const saved = first.checkpoints.at(-1) as GeminiUploadCheckpoint;
    fake.dropSession(new URL(saved.uploadUrl).searchParams.get("upload_id") as string);
    const second = bufferUpload(bytes, { resume: saved });
    const remote = await destination().upload(second);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(second.digest);
    expect(fake.requests("upload.start")).toBe(2);
    expect(second.opened[0]).toEqual([0, CHUNK]);
  });

  it("never finalizes bad bytes: INTEGRITY_ERROR, and the finalizing chunk is never sent", async () => {
    const bytes = testBytes(CHUNK * 2 + 100);
    const input = bufferUpload(bytes, { stored: corrupted(bytes, 5) });
    const err = await rejection(destination().upload(input));
    expect(isAttacheError(err, "INTEGRITY_ERROR")).toBe(true);
    expect(fake.requests("upload.finalize")).toBe(0);
    expect(fake.files.size).toBe(0);
  });

  it("fails at once on a 400, retryable: false; TOO_LARGE on a 413", async () => {
    fake.faults.push("upload.start", failWith(400), failWith(413));
    expect(await rejection(destination().upload(bufferUpload(testBytes(10))))).toMatchObject({ code: "UPLOAD_FAILED", status: 400, retryable: false });
    expect(await rejection(destination().upload(bufferUpload(testBytes(10))))).toMatchObject({ code: "TOO_LARGE", status: 413 });
    expect(fake.requests("upload.start")).toBe(2);
  });

  it("gives up after the retries with UPLOAD_FAILED, retryable", async () => {
    fake.faults.push("upload.start", ...Array.from({ length: 4 }, () => serverError(500)));
    expect(await rejection(destination().upload(bufferUpload(testBytes(10))))).toMatchObject({ code: "UPLOAD_FAILED", status: 500, retryable: true });
  });
});

describe("geminiFiles: stat, delete, keys, options", () => {
  it("stats through files.get; a gone file (403) is null; delete, then delete again", async () => {
    const dest = destination();
    const remote = await dest.upload(bufferUpload(testBytes(100)));
    expect(await dest.stat(remote.remoteId)).toEqual(remote);
    await dest.delete(remote.remoteId);
    expect(await dest.stat(remote.remoteId)).toBeNull();
    await dest.delete(remote.remoteId);
    expect(fake.requests("files.delete")).toBe(2);
  });

  it("retries files.get on a 503", async () => {
    const dest = destination();
    const remote = await dest.upload(bufferUpload(testBytes(100)));
    fake.faults.push("files.get", serverError(503));
    expect(await dest.stat(remote.remoteId)).toEqual(remote);
    expect(fake.requests("files.get")).toBe(2);
  });

  it("keys the account", () => {
    const other = geminiFiles({ client: new GoogleGenAI({ apiKey: "gemini-other-key", httpOptions: { baseUrl: fake.url } }) });
    expect(destination().key).toMatch(/^gemini:[0-9a-f]{24}$/);
    expect(other.key).not.toBe(destination().key);
    expect(other.settings.chunkSize).toBe(8 * 1024 * 1024);
  });

  it("refuses a chunkSize that is not a multiple of 256 KiB, and a Vertex AI client", () => {
    expect(() => destination({ chunkSize: CHUNK + 1 })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => geminiFiles({ client: { vertexai: true, files: client.files } })).toThrow(expect.objectContaining({ code: "UNSUPPORTED" }));
    expect(() => geminiFiles({ client: { files: client.files } })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});
