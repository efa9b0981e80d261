/**
 * The S3 blob store on s3rver (see test/support/s3.ts for its quirks and
 * the harness's workarounds): both conformance suites, then what only S3
 * has — multipart uploads in bounded memory, server-side copies, batched
 * deletes, temp objects a dead writer left mid-upload — and faults (500s,
 * SlowDown, dropped connections) injected inside the SDK's retry loop.
 */
import { randomBytes } from "node:crypto";
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttacheError } from "../../src/index.js";
import { newId } from "../../src/ids.js";
import { s3BlobStore, type S3BlobStoreOptions } from "../../src/backends/s3/index.js";
import { describeBlobStore, describeStore } from "../../src/testing/index.js";
import { sha256 } from "../support/fixtures.js";
import { startS3Server, type S3TestServer } from "../support/s3.js";
import { Gate, INTERNAL_ERROR, SLOW_DOWN, type Fault } from "./s3-clients.js";
import { all, deleteMany, MiB, PART, pendingAfter, readAll, S3Fixtures, until, write } from "./s3-fixtures.js";

let server: S3TestServer;
beforeAll(async () => {
  // Deletes leave empty folders: s3rver 3.7.1 removes them under a concurrent PUT into the same folder and crashes.
  server = await startS3Server({ keepEmptyDirectories: true });
});
afterAll(() => server.stop());
const s3 = new S3Fixtures(() => server);

describeBlobStore("s3 (s3rver)", {
  rounds: 10,
  async open() {
    const client = server.client();
    const prefix = s3.freshPrefix();
    const opened = async () => {
      const store = s3BlobStore({ client, bucket: server.bucket, prefix });
      await store.open();
      return store;
    };
    return { first: await opened(), second: opened };
  },
});

describeStore("s3 (s3rver) + memory manifest", {
  rounds: 10,
  create: () => s3.fleet(server.client(), s3.freshPrefix()),
});

describe("s3 blob store: layout and options", () => {
  it("files blobs under <prefix>blobs/sha256/ab/cd/<hex> and temp objects under <prefix>tmp/<writer>.<random>.tmp", async () => {
    const { client, recorder } = s3.instrumented();
    const prefix = s3.freshPrefix();
    const store = await s3.openedBlobStore(client, prefix);
    const writer = newId();
    const temp = await store.createWriter(writer);
    expect(temp.tempName).toMatch(new RegExp(`^${writer}\\.[0-9a-f]+\\.tmp$`));
    expect(await store.listTemp()).toMatchObject([{ name: temp.tempName, writer, location: `${prefix}tmp/${temp.tempName}`, size: 0 }]);
    await temp.write(Buffer.from("layout"));
    await temp.finish();
    const digest = sha256("layout");
    expect(await store.commit(temp.tempName, digest, 6)).toBe(true);
    expect(recorder.ok("CopyObject").map((call) => call.input)).toMatchObject([
      { Key: `${prefix}blobs/sha256/${digest.slice(0, 2)}/${digest.slice(2, 4)}/${digest}`, CopySource: `${server.bucket}/${prefix}tmp/${temp.tempName}` },
    ]);
    // A stranger's objects: listed without a digest (or writer), removable as strays; nothing outside blobs/ is.
    await client.send(new PutObjectCommand({ Bucket: server.bucket, Key: `${prefix}blobs/sha256/zz/not-a-digest`, Body: "x" }));
    await client.send(new PutObjectCommand({ Bucket: server.bucket, Key: `${prefix}tmp/legacy-upload.tmp`, Body: "old" }));
    const listed = [];
    for await (const object of store.list()) listed.push(object);
    expect(listed.sort((a, b) => (a.location < b.location ? -1 : 1))).toEqual([
      { digest, location: `${prefix}blobs/sha256/${digest.slice(0, 2)}/${digest.slice(2, 4)}/${digest}`, size: 6 },
      { digest: null, location: `${prefix}blobs/sha256/zz/not-a-digest`, size: 1 },
    ]);
    expect(await store.listTemp()).toMatchObject([{ name: "legacy-upload.tmp", writer: null, size: 3 }]);
    await store.removeStray(`${prefix}tmp/legacy-upload.tmp`);
    await store.removeStray(`${prefix}blobs/sha256/zz/../../../tmp/legacy-upload.tmp`);
    await store.removeTemp("../blobs/sha256");
    expect(await store.listTemp()).toHaveLength(1);
    await store.removeStray(`${prefix}blobs/sha256/zz/not-a-digest`);
    await store.removeTemp("legacy-upload.tmp");
    expect(await store.listTemp()).toEqual([]);
    expect((await all(store.list())).map((object) => object.digest)).toEqual([digest]);
  });

  it("reads ranges, an empty range, and a range past the end", async () => {
    const store = await s3.openedBlobStore(server.client(), s3.freshPrefix());
    const { tempName, digest } = await write(store, Buffer.from("0123456789"));
    await store.commit(tempName, digest, 10);
    const text = async (range?: { start: number; end: number }) => (await readAll(await store.openRead(digest, range))).toString();
    expect(await text({ start: 2, end: 5 })).toBe("234");
    expect(await text({ start: 4, end: 4 })).toBe("");
    expect(await text({ start: 8, end: 20 })).toBe("89");
    expect(await text({ start: 12, end: 20 })).toBe("");
    await expect(store.openRead(sha256("missing"), { start: 0, end: 0 })).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses options S3 would refuse later", () => {
    const client = server.client();
    const invalid = (options: Partial<S3BlobStoreOptions>) => expect(() => s3BlobStore({ client, bucket: "b", ...options })).toThrow(AttacheError);
    invalid({ partSize: MiB });
    invalid({ partSize: 6 * 1024 * MiB });
    invalid({ queueSize: 0 });
    invalid({ multipartCopyThreshold: 6 * 1024 * MiB });
    invalid({ bucket: "" });
    invalid({ prefix: "/abs/" });
    invalid({ prefix: "a/../b/" });
    invalid({ prefix: "a//b/" });
  });

  it("fails to open on a bucket that does not exist, with a typed error", async () => {
    const store = s3BlobStore({ client: server.client(), bucket: "no-such-bucket" });
    await expect(store.open()).rejects.toMatchObject({ code: "IO_ERROR", retryable: false });
  });
});

describe("s3 blob store: multipart uploads and copies", () => {
  it("sends a stream of more than two parts as a multipart upload, holding at most queueSize parts", async () => {
    const { client, recorder, faults } = s3.instrumented();
    const gate = new Gate();
    faults.setPlan(async (command) => (command === "UploadPart" ? void (await gate.wait()) : undefined));
    const store = await s3.openedBlobStore(client, s3.freshPrefix(), { queueSize: 2 });
    const bytes = randomBytes(3 * PART + 12_345);
    const writer = await store.createWriter(newId());
    let at = 0;
    let blocked: Promise<void> | undefined;
    while (at < bytes.length) {
      const written = writer.write(bytes.subarray(at, at + MiB));
      at += MiB;
      if (await pendingAfter(written, 20)) {
        blocked = written;
        break;
      }
    }
    // Two parts sealed and at the server (held at the gate): the writer takes no more until one is done.
    expect(at).toBe(2 * PART);
    await until(() => gate.waiting === 2, "two parts in flight");
    expect(await pendingAfter(blocked as Promise<void>, 50)).toBe(true);
    gate.open();
    await blocked;
    for (; at < bytes.length; at += MiB) await writer.write(bytes.subarray(at, at + MiB));
    await writer.finish();
    expect(faults.maxConcurrent("UploadPart")).toBeLessThanOrEqual(2);
    expect(recorder.ok("UploadPart").map((call) => call.input.ContentLength)).toEqual(expect.arrayContaining([PART, PART, PART, 12_345]));
    expect(recorder.ok("CompleteMultipartUpload")).toHaveLength(1);
    // The temp object recorded its upload's id while the upload was in progress.
    expect(recorder.ok("PutObject").some((call) => (call.input.Metadata as Record<string, string> | undefined)?.["upload-id"] !== undefined)).toBe(true);
    expect(await store.commit(writer.tempName, sha256(bytes), bytes.length)).toBe(true);
    expect((await readAll(await store.openRead(sha256(bytes)))).equals(bytes)).toBe(true);
    expect(await store.listTemp()).toEqual([]);
    s3.expectNoUploadLeft(recorder);
  });

  it("stages a multi-part file through the store; another host reads it back verified", async () => {
    const { client, recorder } = s3.instrumented();
    const { here, there } = await s3.openedStores(client);
    const bytes = randomBytes(2 * PART + 777);
    const staged = await here.stage(bytes, { scope: "fleet" });
    expect((await there.read(staged.ref)).equals(bytes)).toBe(true);
    expect(recorder.ok("UploadPart")).toHaveLength(3);
    // Staged again: the blob is there; nothing is copied a second time.
    expect((await there.stage(bytes, { scope: "elsewhere" })).deduplicated).toBe(true);
    expect(recorder.ok("CopyObject")).toHaveLength(1);
    s3.expectNoUploadLeft(recorder);
  });

  it("copies a blob above multipartCopyThreshold part by part (UploadPartCopy)", async () => {
    const { client, recorder } = s3.instrumented();
    const store = await s3.openedBlobStore(client, s3.freshPrefix(), { multipartCopyThreshold: PART, queueSize: 2 });
    const bytes = randomBytes(2 * PART + 99);
    const { tempName, digest } = await write(store, bytes);
    expect(await store.commit(tempName, digest, bytes.length)).toBe(true);
    expect(recorder.ok("CopyObject")).toEqual([]);
    expect(recorder.ok("UploadPartCopy").map((call) => call.input.CopySourceRange).sort()).toEqual([
      `bytes=0-${PART - 1}`,
      `bytes=${2 * PART}-${2 * PART + 98}`,
      `bytes=${PART}-${2 * PART - 1}`,
    ]);
    expect((await readAll(await store.openRead(digest))).equals(bytes)).toBe(true);
    expect(await store.listTemp()).toEqual([]);
    s3.expectNoUploadLeft(recorder);
  });

  it("takes parts written without awaiting each write, in order; a commit of a temp object that is gone fails ENOENT", async () => {
    const { client, recorder } = s3.instrumented();
    const store = await s3.openedBlobStore(client, s3.freshPrefix(), { queueSize: 1 });
    const bytes = randomBytes(3 * PART + 5);
    const writer = await store.createWriter(newId());
    const writes = [];
    for (let at = 0; at < bytes.length; at += 3 * MiB) writes.push(writer.write(bytes.subarray(at, at + 3 * MiB)));
    await Promise.all(writes);
    await writer.finish();
    expect(await store.commit(writer.tempName, sha256(bytes), bytes.length)).toBe(true);
    expect((await readAll(await store.openRead(sha256(bytes)))).equals(bytes)).toBe(true);
    const gone = await write(store, Buffer.from("removed before its commit"));
    await store.removeTemp(gone.tempName);
    await expect(store.commit(gone.tempName, gone.digest, 25)).rejects.toMatchObject({ code: "ENOENT" });
    s3.expectNoUploadLeft(recorder);
  });

  it("commits onto a blob already there by discarding the temp object: false, nothing copied", async () => {
    const { client, recorder } = s3.instrumented();
    const prefix = s3.freshPrefix();
    const [a, b] = [await s3.openedBlobStore(client, prefix), await s3.openedBlobStore(client, prefix)];
    const bytes = Buffer.from("already there");
    const first = await write(a, bytes);
    const second = await write(b, bytes);
    expect(await a.commit(first.tempName, first.digest, bytes.length)).toBe(true);
    expect(await b.commit(second.tempName, second.digest, bytes.length)).toBe(false);
    expect(recorder.ok("CopyObject")).toHaveLength(1);
    expect(await a.listTemp()).toEqual([]);
    expect(await all(b.list())).toHaveLength(1);
  });

  it("aborts its multipart upload on abort, and deletes the temp object", async () => {
    const { client, recorder } = s3.instrumented();
    const store = await s3.openedBlobStore(client, s3.freshPrefix());
    const writer = await store.createWriter(newId());
    await writer.write(randomBytes(2 * PART + 1));
    await writer.abort();
    await writer.abort();
    expect(recorder.ok("AbortMultipartUpload")).toHaveLength(1);
    expect(await store.listTemp()).toEqual([]);
    s3.expectNoUploadLeft(recorder);
  });

  it("removeTemp aborts the upload of a writer that died mid-upload: found by the id its temp object records, or listed", async () => {
    for (const markerLost of [false, true]) {
      const prefix = s3.freshPrefix();
      const { client, recorder } = s3.instrumented();
      const dying = await s3.openedBlobStore(client, prefix);
      const sweeper = await s3.openedBlobStore(server.client(), prefix);
      const writer = newId();
      const temp = await dying.createWriter(writer);
      await temp.write(randomBytes(PART + 10));
      await until(() => recorder.ok("UploadPart").length === 1 && recorder.ok("PutObject").length === 2, "the first part and the upload's record");
      // The writer's process dies here: its upload is neither completed nor aborted.
      expect(server.pendingUploads()).toHaveLength(1);
      if (markerLost) await client.send(new DeleteObjectCommand({ Bucket: server.bucket, Key: `${prefix}tmp/${temp.tempName}` }));
      expect(await sweeper.listTemp()).toMatchObject([{ name: temp.tempName, writer, size: 0 }]);
      await sweeper.removeTemp(temp.tempName);
      expect(server.pendingUploads()).toEqual([]);
      expect(await sweeper.listTemp()).toEqual([]);
    }
  });

  it("deletes many blobs in batches of 1000, and surfaces per-key errors", async () => {
    const { client, recorder, faults } = s3.instrumented();
    const store = await s3.openedBlobStore(client, s3.freshPrefix());
    const stored = [];
    for (const text of ["one", "two", "kept"]) {
      const { tempName, digest } = await write(store, Buffer.from(text));
      await store.commit(tempName, digest, text.length);
      stored.push(digest);
    }
    const missing = Array.from({ length: 2498 }, (_, i) => sha256(`never stored ${i}`));
    await deleteMany(store, [stored[0] as string, ...missing, stored[1] as string, stored[0] as string]);
    const batches = recorder.ok("DeleteObjects").map((call) => (call.input.Delete as { Objects: unknown[] }).Objects.length);
    expect(batches).toEqual([1000, 1000, 500]);
    expect((await all(store.list())).map((object) => object.digest)).toEqual([stored[2]]);

    const errorBody = (code: string) =>
      `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult><Error><Key>some/key</Key><Code>${code}</Code><Message>${code} for this key</Message></Error></DeleteResult>`;
    for (const [code, retryable] of [["AccessDenied", false], ["InternalError", true]] as const) {
      faults.setPlan((command) => (command === "DeleteObjects" ? { respond: 200, body: errorBody(code) } : undefined));
      const failure = await deleteMany(store, [stored[2] as string]).then(() => undefined, (err: unknown) => err);
      expect(failure).toBeInstanceOf(AttacheError);
      expect(failure).toMatchObject({ code: "IO_ERROR", retryable });
      expect((failure as Error).message).toContain(`some/key: ${code}`);
    }
  });
});

describe("s3 blob store: faults", () => {
  /** Fails the first attempt of every other request, going round the kinds of fault. */
  function everyOtherFirstAttempt(kinds: Fault[]) {
    let requests = 0;
    return (_command: string, attempt: number): Fault | undefined => {
      if (attempt > 1 || requests++ % 2 === 1) return undefined;
      return kinds[(requests >> 1) % kinds.length];
    };
  }

  it("rides out 500s, SlowDown and dropped connections through the client's retries: nothing lost, no upload left", async () => {
    const { client, recorder, faults } = s3.instrumented();
    const { here, there } = await s3.openedStores(client, { queueSize: 2 });
    faults.setPlan(everyOtherFirstAttempt([INTERNAL_ERROR, SLOW_DOWN, "reset-before", "reset-after"]));
    const sources = [Buffer.from("small one"), Buffer.from("small two"), randomBytes(PART + 4321)];
    const staged = [];
    for (const bytes of sources) staged.push(await here.stage(bytes, { scope: "faults" }));
    for (const [i, attachment] of staged.entries()) expect((await there.read(attachment.ref)).equals(sources[i] as Buffer)).toBe(true);
    await here.release(staged[0]?.ref as string);
    await here.sweep();
    const kinds = new Set(faults.injected.map(({ fault }) => (typeof fault === "string" ? fault : "code" in fault ? fault.code : "respond")));
    expect([...kinds].sort()).toEqual(["InternalError", "SlowDown", "reset-after", "reset-before"]);
    faults.setPlan(() => undefined);
    for (const [i, attachment] of staged.entries()) if (i > 0) expect((await here.read(attachment.ref)).equals(sources[i] as Buffer)).toBe(true);
    s3.expectNoUploadLeft(recorder);
  });

  it("takes a multipart upload whose Create or Complete answer was lost as what the server did: no upload left, the bytes right", async () => {
    const { client, recorder, faults } = s3.instrumented();
    const store = await s3.openedBlobStore(client, s3.freshPrefix());
    // The server starts an upload whose id never arrives (the client retries and starts another),
    // then completes the upload but the answer is lost (the retry finds no such upload).
    faults.setPlan((command, attempt) => ((command === "CreateMultipartUpload" || command === "CompleteMultipartUpload") && attempt === 1 ? "reset-after" : undefined));
    const bytes = randomBytes(PART + 2024);
    const { tempName, digest } = await write(store, bytes);
    expect(faults.injected.map(({ command }) => command)).toEqual(["CreateMultipartUpload", "CompleteMultipartUpload"]);
    expect(await store.commit(tempName, digest, bytes.length)).toBe(true);
    expect((await readAll(await store.openRead(digest))).equals(bytes)).toBe(true);
    // The retried Complete failed in the client (s3rver answers 500 for an upload it completed): the
    // store found the object in place. The upload started by the lost Create was aborted.
    const completes = recorder.calls.filter((call) => call.command === "CompleteMultipartUpload");
    expect(completes.map((call) => call.input.UploadId)).toEqual(recorder.startedUploads());
    expect(recorder.ok("AbortMultipartUpload")).toHaveLength(1);
    expect(server.pendingUploads()).toEqual([]);
  });

  it("fails with a retryable IO_ERROR when the retries run out, aborting the upload and keeping what was staged", async () => {
    const { client, recorder, faults } = s3.instrumented({ maxAttempts: 2 });
    const { here, there, blobs } = await s3.openedStores(client);
    // Above the default inlineMaxSize: these bytes live in S3, not in the manifest.
    const keptBytes = Buffer.alloc(100_000, "staged before the storm");
    const kept = await here.stage(keptBytes, { scope: "faults" });
    const attempts: [string, Fault][] = [
      ["UploadPart", INTERNAL_ERROR],
      ["PutObject", "reset-before"],
      ["CompleteMultipartUpload", SLOW_DOWN],
    ];
    for (const [failing, fault] of attempts) {
      faults.setPlan((command) => (command === failing ? fault : undefined));
      // Above the default inlineMaxSize, so the bytes go to S3 even where the manifest could hold them.
      const bytes = failing === "PutObject" ? randomBytes(100_000) : randomBytes(PART + 1);
      const failure = await here.stage(bytes, { scope: "faults" }).then(() => undefined, (err: unknown) => err);
      expect(failure, failing).toBeInstanceOf(AttacheError);
      expect(failure, failing).toMatchObject({ code: "IO_ERROR", retryable: true });
    }
    faults.setPlan((command) => (command === "GetObject" ? SLOW_DOWN : undefined));
    await expect(there.read(kept.ref)).rejects.toMatchObject({ code: "IO_ERROR", retryable: true });
    faults.setPlan(() => undefined);
    expect((await there.read(kept.ref)).equals(keptBytes)).toBe(true);
    expect((await here.list()).map((attachment) => attachment.ref)).toEqual([kept.ref]);
    expect(await blobs.listTemp()).toEqual([]);
    s3.expectNoUploadLeft(recorder);
  });
});

describe("s3 blob store on plain s3rver (no AbortMultipartUpload, no ListMultipartUploads)", () => {
  let plain: S3TestServer;
  beforeAll(async () => {
    plain = await startS3Server({ emulateMultipart: false, keepEmptyDirectories: true });
  });
  afterAll(() => plain.stop());

  it("still stages, lists and removes temp objects; a failed abort is a typed error and leaves no temp object", async () => {
    const { client, recorder } = s3.instrumented({}, plain);
    const prefix = s3.freshPrefix();
    const store = s3BlobStore({ client, bucket: plain.bucket, prefix, partSize: PART });
    await store.open();
    const { tempName, digest } = await write(store, Buffer.from("plain"));
    expect(await store.commit(tempName, digest, 5)).toBe(true);
    const aborted = await store.createWriter(newId());
    await aborted.write(randomBytes(PART + 1));
    await expect(aborted.abort()).rejects.toMatchObject({ code: "IO_ERROR", retryable: false, status: 405 });
    expect(await store.listTemp()).toEqual([]);
    const dead = await store.createWriter(newId());
    await dead.write(randomBytes(PART + 1));
    await until(() => recorder.ok("PutObject").filter((call) => call.input.Key === `${prefix}tmp/${dead.tempName}`).length === 2, "the upload's record");
    expect((await store.listTemp()).map((temp) => temp.name)).toEqual([dead.tempName]);
    await store.removeTemp(dead.tempName);
    expect(await store.listTemp()).toEqual([]);
    // Only ever asked once whether uploads can be listed.
    expect(recorder.calls.filter((call) => call.command === "ListMultipartUploads")).toHaveLength(1);
  });
});
