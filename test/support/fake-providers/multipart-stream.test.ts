/**
 * The fakes' hash-and-discard mode, which the delivery benchmark relies on:
 * the streaming multipart parser reads what the buffered one reads, however
 * the body is cut into chunks, and the OpenAI fake with `keepBytes: false`
 * keeps the sizes and digests of what arrives (not the bytes), still
 * refusing what the buffered fake refuses.
 */
import { createHash } from "node:crypto";
import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeHttpError, parseMultipart } from "./fake-server.js";
import { parseMultipartStream } from "./multipart-stream.js";
import { FakeOpenAI } from "./openai.js";
import { testBytes } from "./upload-input.js";

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

function form(boundary: string, fields: Array<{ name: string; filename?: string; data: Buffer }>): Buffer {
  const parts = fields.map(({ name, filename, data }) =>
    Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"\r\nContent-Type: application/pdf` : ""}\r\n\r\n`),
      data,
      Buffer.from("\r\n"),
    ]),
  );
  return Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
}

async function* chunked(body: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size);
}

async function refusal(promise: Promise<unknown>): Promise<FakeHttpError> {
  return promise.then(
    () => expect.fail("expected a refusal"),
    (err: unknown) => err as FakeHttpError,
  );
}

describe("parseMultipartStream", () => {
  const boundary = "b0undary";
  const type = `multipart/form-data; boundary=${boundary}`;
  // File bytes that contain most of a delimiter, to catch a split match.
  const file = Buffer.concat([testBytes(70_000), Buffer.from(`\r\n--${boundary.slice(0, 5)}`), testBytes(1000, 2)]);
  const body = form(boundary, [
    { name: "purpose", data: Buffer.from("user_data") },
    { name: "file", filename: "a.pdf", data: file },
  ]);

  it("reads what parseMultipart reads, whatever the chunks", async () => {
    const buffered = parseMultipart(type, body);
    for (const size of [1, 7, 64, 65_536, body.length]) {
      const streamed = await parseMultipartStream(type, chunked(body, size));
      expect(streamed.map((p) => [p.name, p.filename, p.contentType, p.size, p.sha256])).toEqual(
        buffered.map((p) => [p.name, p.filename, p.contentType, p.data.length, sha256(p.data)]),
      );
      expect(streamed[0]?.data.toString()).toBe("user_data");
      expect(streamed[1]?.data.length).toBe(0); // a file part's bytes are not kept
    }
  });

  it("refuses a body cut short, or not starting with its boundary", async () => {
    expect((await refusal(parseMultipartStream(type, chunked(body.subarray(0, body.length - 10), 1000)))).status).toBe(400);
    expect((await refusal(parseMultipartStream(type, chunked(Buffer.concat([Buffer.from("x"), body]), 1000)))).status).toBe(400);
    expect((await refusal(parseMultipartStream("application/json", chunked(body, 1000)))).status).toBe(400);
  });
});

describe("FakeOpenAI with keepBytes: false", () => {
  let fake: FakeOpenAI;
  let client: OpenAI;
  beforeEach(async () => {
    fake = new FakeOpenAI({ keepBytes: false, maxPartBytes: 100_000 });
    await fake.start();
    client = new OpenAI({ apiKey: "sk-test", baseURL: `${fake.url}/v1`, maxRetries: 0 });
  });
  afterEach(async () => {
    expect(fake.unexpected).toEqual([]);
    await fake.close();
  });

  it("keeps the size and SHA-256 of a files.create, not its bytes", async () => {
    const bytes = testBytes(300_000);
    const created = await client.files.create({ file: new File([bytes], "a.pdf", { type: "application/pdf" }), purpose: "user_data" });
    expect(created.bytes).toBe(bytes.length);
    expect(fake.files.get(created.id)).toMatchObject({ size: bytes.length, sha256: sha256(bytes), filename: "a.pdf" });
    expect(fake.files.get(created.id)?.bytes.length).toBe(0);
  });

  it("keeps each part's SHA-256 in part_ids order, and checks the byte count on complete", async () => {
    const bytes = testBytes(250_000, 3);
    const ranges = [
      [0, 100_000],
      [100_000, 200_000],
      [200_000, 250_000],
    ] as const;
    const upload = await client.uploads.create({ bytes: bytes.length, filename: "b.bin", mime_type: "application/octet-stream", purpose: "user_data" });
    // Sent last part first: the file is assembled in part_ids order, not arrival order.
    const ids: string[] = [];
    for (const index of [2, 0, 1]) {
      const [start, end] = ranges[index] as readonly [number, number];
      ids[index] = (await client.uploads.parts.create(upload.id, { data: new File([bytes.subarray(start, end)], "b.bin") })).id;
    }
    const short = await client.uploads.complete(upload.id, { part_ids: ids.slice(0, 2) }).catch((err: unknown) => err);
    expect(short).toMatchObject({ status: 400 });
    const done = await client.uploads.complete(upload.id, { part_ids: ids });
    const file = fake.files.get(done.file?.id as string);
    expect(file?.size).toBe(bytes.length);
    expect(file?.partSha256).toEqual(ranges.map(([start, end]) => sha256(bytes.subarray(start, end))));
  });

  it("refuses a part over the limit with a 400, answered after the body", async () => {
    const upload = await client.uploads.create({ bytes: 200_001, filename: "c.bin", mime_type: "application/octet-stream", purpose: "user_data" });
    const err = await client.uploads.parts.create(upload.id, { data: new File([testBytes(100_001)], "c.bin") }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    // The connection is still good for the next request.
    expect((await client.uploads.parts.create(upload.id, { data: new File([testBytes(1000)], "c.bin") })).id).toMatch(/^part_/);
  });
});
