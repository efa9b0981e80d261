import Anthropic from "@anthropic-ai/sdk";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isAttacheError } from "../../src/errors.js";
import { anthropicFiles, type AnthropicFilesOptions } from "../../src/providers/anthropic.js";
import type { Destination } from "../../src/providers/destination.js";
import { FakeAnthropic } from "../support/fake-providers/anthropic.js";
import { dropMidBody, failWith, rateLimited, serverError } from "../support/fake-providers/faults.js";
import { bufferUpload, corrupted, sha256, testBytes } from "../support/fake-providers/upload-input.js";

let fake: FakeAnthropic;
let client: Anthropic;

beforeEach(async () => {
  fake = new FakeAnthropic({ apiKeys: ["sk-ant-test", "sk-ant-other"], maxFileBytes: 50_000 });
  await fake.start();
  client = new Anthropic({ apiKey: "sk-ant-test", baseURL: fake.url });
});
afterEach(async () => {
  expect(fake.unexpected).toEqual([]);
  await fake.close();
});

function destination(options: Partial<AnthropicFilesOptions> = {}): Destination {
  return anthropicFiles({ client, retry: { retries: 3, minDelay: 1, maxDelay: 20 }, ...options });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (err: unknown) => err,
  );
}

describe("anthropicFiles", () => {
  it("uploads in one request with the files beta: bytes, filename and declared type arrive", async () => {
    const input = bufferUpload(testBytes(30_000), { name: "scan.png", contentType: "image/png" });
    const remote = await destination({ expiresAfter: "2d" }).upload(input);
    const stored = fake.files.get(remote.remoteId);
    expect(remote.remoteId).toMatch(/^file_/);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(input.digest);
    expect(stored).toMatchObject({ filename: "scan.png", mimeType: "image/png" });
    expect(remote.expiresAt).toBe(stored?.expiresAt?.getTime());
    expect(fake.requests("files.upload")).toBe(1);
    expect(input.progress.at(-1)).toBe(30_000);
  });

  it("gives expiresAt null for a file that does not expire", async () => {
    expect((await destination().upload(bufferUpload(testBytes(10)))).expiresAt).toBeNull();
  });

  it("retries a 429 (honouring retry-after-ms), a 529 and a dropped connection, re-reading the bytes each time", async () => {
    fake.faults.push("files.upload", rateLimited({ retryAfterMs: 15 }), serverError(529), dropMidBody());
    const input = bufferUpload(testBytes(20_000));
    const remote = await destination().upload(input);
    expect(sha256(fake.fileBytes(remote.remoteId))).toBe(input.digest);
    expect(fake.requests("files.upload")).toBe(4);
    expect(input.opened).toHaveLength(4);
    expect(input.retries[0]).toMatchObject({ status: 429, delayMs: 15 });
  });

  it("fails at once on a 400", async () => {
    fake.faults.push("files.upload", failWith(400));
    const err = await rejection(destination().upload(bufferUpload(testBytes(100))));
    expect(err).toMatchObject({ code: "UPLOAD_FAILED", status: 400, retryable: false });
    expect(fake.requests("files.upload")).toBe(1);
  });

  it("turns the provider's 413 into TOO_LARGE, and refuses over maxSize without a request", async () => {
    expect(await rejection(destination().upload(bufferUpload(testBytes(60_000))))).toMatchObject({ code: "TOO_LARGE", status: 413 });
    expect(await rejection(destination({ maxSize: 100 }).upload(bufferUpload(testBytes(101))))).toMatchObject({ code: "TOO_LARGE" });
    expect(fake.requests("files.upload")).toBe(1);
  });

  it("never sends bad bytes: INTEGRITY_ERROR before the request", async () => {
    const bytes = testBytes(10_000);
    const err = await rejection(destination().upload(bufferUpload(bytes, { stored: corrupted(bytes) })));
    expect(isAttacheError(err, "INTEGRITY_ERROR")).toBe(true);
    expect(fake.requests()).toBe(0);
  });

  it("aborts: ABORTED, nothing stored", async () => {
    fake.setLatency(200, "files.upload");
    const controller = new AbortController();
    const pending = destination().upload(bufferUpload(testBytes(1_000), { signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    expect(await rejection(pending)).toMatchObject({ code: "ABORTED" });
  });

  it("stats and deletes; a deleted file is null, a second delete is fine", async () => {
    const dest = destination();
    const remote = await dest.upload(bufferUpload(testBytes(100)));
    expect(await dest.stat(remote.remoteId)).toEqual(remote);
    await dest.delete(remote.remoteId);
    expect(await dest.stat(remote.remoteId)).toBeNull();
    await dest.delete(remote.remoteId);
  });

  it("keys the account, not the credential", () => {
    const a = destination();
    const b = anthropicFiles({ client: new Anthropic({ apiKey: "sk-ant-other", baseURL: fake.url }) });
    expect(a.key).toMatch(/^anthropic:[0-9a-f]{24}$/);
    expect(b.key).not.toBe(a.key);
    expect(destination({ chunkSize: 5 }).key).toBe(a.key);
    expect(a.settings.maxSize).toBe(500 * 1000 ** 2);
  });

  it.each([[{ expiresAfter: "30m" }], [{ expiresAfter: "91d" }], [{ maxSize: 600 * 1000 ** 2 }], [{ client: { beta: {} } }]])(
    "refuses %j with INVALID_ARGUMENT",
    (bad) => {
      expect(() => anthropicFiles({ client, ...(bad as object) } as AnthropicFilesOptions)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    },
  );
});
