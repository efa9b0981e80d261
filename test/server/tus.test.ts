/** tus 1.0 at /v1/uploads/ with a real client (tus-js-client) and raw requests for each status. */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import * as tus from "tus-js-client";
import { describe, expect, it } from "vitest";
import { tusRoutes } from "../../src/server/tus/index.js";
import { sha256 } from "../support/fixtures.js";
import { startTestServer, type TestServer } from "./support-server.js";

const MiB = 1 << 20;

function b64(text: string): string {
  return Buffer.from(text).toString("base64");
}

function metadata(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key} ${b64(value)}`)
    .join(",");
}

function headers(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, "tus-resumable": "1.0.0", ...extra };
}

async function create(server: TestServer, length: number, fields: Record<string, string>, token = "alice-token"): Promise<string> {
  const res = await fetch(`${server.url}/v1/uploads/`, {
    method: "POST",
    headers: headers(token, { "upload-length": String(length), "upload-metadata": metadata(fields) }),
  });
  expect(res.status).toBe(201);
  return new URL(res.headers.get("location") as string, server.url).href;
}

function patch(url: string, offset: number, body: Uint8Array, extra: Record<string, string> = {}, token = "alice-token"): Promise<Response> {
  return fetch(url, {
    method: "PATCH",
    headers: headers(token, { "upload-offset": String(offset), "content-type": "application/offset+octet-stream", ...extra }),
    body,
  });
}

function sha256Base64(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64");
}

/** Runs a tus-js-client upload until it succeeds, fails, or `stopAfterChunks` chunks are accepted (then aborts it). */
function runClientUpload(
  server: TestServer,
  bytes: Buffer,
  options: { uploadUrl?: string; stopAfterChunks?: number },
): Promise<{ url: string; ref: string | undefined; completed: boolean }> {
  return new Promise((resolve, reject) => {
    let chunks = 0;
    let ref: string | undefined;
    const upload = new tus.Upload(bytes, {
      endpoint: `${server.url}/v1/uploads/`,
      uploadUrl: options.uploadUrl ?? null,
      chunkSize: MiB,
      retryDelays: [],
      metadata: { scope: "alice:photos", name: "big.bin", contentType: "application/octet-stream" },
      headers: { authorization: "Bearer alice-token" },
      onAfterResponse(_req, res) {
        ref = res.getHeader("Attache-Ref") ?? ref;
      },
      onChunkComplete() {
        chunks++;
        if (chunks === options.stopAfterChunks) {
          void upload.abort().then(() => resolve({ url: upload.url as string, ref, completed: false }), reject);
        }
      },
      onSuccess: () => resolve({ url: upload.url as string, ref, completed: true }),
      onError: reject,
    });
    upload.start();
  });
}

describe("tus uploads", () => {
  it("an upload interrupted after 2 of 5 chunks resumes from its offset and is staged with its ref", async () => {
    const server = await startTestServer({ plugins: [tusRoutes] });
    const bytes = randomBytes(5 * MiB);
    const first = await runClientUpload(server, bytes, { stopAfterChunks: 2 });
    expect(first.completed).toBe(false);
    const head = await fetch(first.url, { method: "HEAD", headers: headers("alice-token") });
    expect(head.status).toBe(200);
    const offset = Number(head.headers.get("upload-offset"));
    expect(offset).toBeGreaterThanOrEqual(2 * MiB);
    expect(offset).toBeLessThan(5 * MiB);
    expect(Date.parse(head.headers.get("upload-expires") as string)).toBeGreaterThan(Date.now());
    const partInode = fs.statSync(path.join(server.ctx.options.uploadDir, `${path.basename(first.url)}.part`)).ino;

    const second = await runClientUpload(server, bytes, { uploadUrl: first.url });
    expect(second.completed).toBe(true);
    expect(second.url).toBe(first.url);
    expect(second.ref).toMatch(/^attache:\/\//);
    const attachment = await server.store.get(second.ref as string);
    expect(attachment).toMatchObject({ scope: "alice:photos", name: "big.bin", size: 5 * MiB, checksum: sha256(bytes) });
    expect((await server.store.read(attachment.ref)).equals(bytes)).toBe(true);

    const status = await fetch(first.url, { headers: { authorization: "Bearer alice-token" } });
    expect(await status.json()).toEqual({ id: path.basename(first.url), offset: 5 * MiB, length: 5 * MiB, ref: second.ref });
    // Moved into the store, not copied: the blob is the very file the PATCHes wrote, and the upload directory keeps only the record.
    expect(fs.statSync((await server.store.resolve(attachment.ref)).path).ino).toBe(partInode);
    expect(fs.readdirSync(server.ctx.options.uploadDir)).toEqual([`${path.basename(first.url)}.json`]);
    expect(server.uploads.inFlight).toBe(0);
  });

  it("OPTIONS announces the version, extensions, checksum algorithm and max size", async () => {
    const server = await startTestServer({ plugins: [tusRoutes], options: { maxSize: 1000 } });
    const res = await fetch(`${server.url}/v1/uploads/`, { method: "OPTIONS", headers: { authorization: "Bearer alice-token" } });
    expect(res.status).toBe(204);
    expect(res.headers.get("tus-resumable")).toBe("1.0.0");
    expect(res.headers.get("tus-version")).toBe("1.0.0");
    expect(res.headers.get("tus-extension")?.split(",")).toEqual(["creation", "creation-with-upload", "termination", "expiration", "checksum"]);
    expect(res.headers.get("tus-checksum-algorithm")).toBe("sha256");
    expect(res.headers.get("tus-max-size")).toBe("1000");
  });

  it("creation-with-upload stages a complete body at once and answers its ref; HEAD then says so too", async () => {
    const server = await startTestServer({ plugins: [tusRoutes] });
    const body = Buffer.from("hello, tus");
    const res = await fetch(`${server.url}/v1/uploads`, {
      method: "POST",
      headers: headers("alice-token", {
        "upload-length": String(body.length),
        "upload-metadata": metadata({ scope: "alice:notes", name: "hello.txt", ttl: "1h" }),
        "content-type": "application/offset+octet-stream",
        "upload-checksum": `sha256 ${sha256Base64(body)}`,
      }),
      body,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("upload-offset")).toBe(String(body.length));
    const ref = res.headers.get("attache-ref") as string;
    const attachment = await server.store.get(ref);
    expect(attachment).toMatchObject({ scope: "alice:notes", name: "hello.txt", contentType: "text/plain", ttlMs: 3_600_000, source: "tus" });
    const head = await fetch(new URL(res.headers.get("location") as string, server.url), { method: "HEAD", headers: headers("alice-token") });
    expect(head.headers.get("attache-ref")).toBe(ref);
    expect(head.headers.get("upload-offset")).toBe(String(body.length));
    expect(head.headers.get("upload-metadata")).toContain(`scope ${b64("alice:notes")}`);
  });

  it("an empty upload is staged at creation", async () => {
    const server = await startTestServer({ plugins: [tusRoutes] });
    const res = await fetch(`${server.url}/v1/uploads/`, {
      method: "POST",
      headers: headers("alice-token", { "upload-length": "0", "upload-metadata": metadata({ scope: "alice:x" }) }),
    });
    expect(res.status).toBe(201);
    expect((await server.store.get(res.headers.get("attache-ref") as string)).size).toBe(0);
  });

  it("a checksummed PATCH is kept when it matches and refused with 460 (nothing kept) when not", async () => {
    const server = await startTestServer({ plugins: [tusRoutes] });
    const url = await create(server, 8, { scope: "alice:sums" });
    const good = Buffer.from("abcd");
    const ok = await patch(url, 0, good, { "upload-checksum": `sha256 ${sha256Base64(good)}` });
    expect(ok.status).toBe(204);
    expect(ok.headers.get("upload-offset")).toBe("4");
    const bad = await patch(url, 4, Buffer.from("efgh"), { "upload-checksum": `sha256 ${sha256Base64(Buffer.from("EFGH"))}` });
    expect(bad.status).toBe(460);
    expect(await bad.json()).toMatchObject({ error: { code: "CHECKSUM_MISMATCH" } });
    const head = await fetch(url, { method: "HEAD", headers: headers("alice-token") });
    expect(head.headers.get("upload-offset")).toBe("4");
    const unknown = await patch(url, 4, Buffer.from("efgh"), { "upload-checksum": "md5 AAAA" });
    expect(unknown.status).toBe(400);
    const last = await patch(url, 4, Buffer.from("efgh"));
    expect(last.status).toBe(204);
    expect((await server.store.read(last.headers.get("attache-ref") as string)).toString()).toBe("abcdefgh");
  });

  it("answers 409 for a wrong offset, 412 for another tus version, 415 for another body type, 413 past the length", async () => {
    const server = await startTestServer({ plugins: [tusRoutes], options: { maxSize: 100 } });
    const url = await create(server, 10, { scope: "alice:codes" });
    const conflict = await patch(url, 3, Buffer.from("xyz"));
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get("tus-resumable")).toBe("1.0.0");
    const version = await fetch(url, { method: "HEAD", headers: { authorization: "Bearer alice-token", "tus-resumable": "0.2.2" } });
    expect(version.status).toBe(412);
    expect(version.headers.get("tus-version")).toBe("1.0.0");
    const type = await fetch(url, { method: "PATCH", headers: headers("alice-token", { "upload-offset": "0", "content-type": "application/json" }), body: "{}" });
    expect(type.status).toBe(415);
    const past = await patch(url, 0, Buffer.alloc(11));
    expect(past.status).toBe(413);
    const huge = await fetch(`${server.url}/v1/uploads/`, {
      method: "POST",
      headers: headers("alice-token", { "upload-length": "101", "upload-metadata": metadata({ scope: "alice:codes" }) }),
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: "TOO_LARGE" } });
    const noScope = await fetch(`${server.url}/v1/uploads/`, { method: "POST", headers: headers("alice-token", { "upload-length": "1" }) });
    expect(noScope.status).toBe(400);
    const noToken = await fetch(url, { method: "HEAD", headers: { "tus-resumable": "1.0.0" } });
    expect(noToken.status).toBe(401);
    // Nothing of the refused requests was written.
    expect((await fetch(url, { method: "HEAD", headers: headers("alice-token") })).headers.get("upload-offset")).toBe("0");
  });

  it("another scope's token gets 404 for every request on the upload, and cannot create in a scope it does not reach", async () => {
    const server = await startTestServer({ plugins: [tusRoutes] });
    const url = await create(server, 4, { scope: "alice:private" });
    for (const method of ["HEAD", "GET", "DELETE"]) {
      const res = await fetch(url, { method, headers: headers("bob-token") });
      expect(res.status, method).toBe(404);
    }
    expect((await patch(url, 0, Buffer.from("evil"), {}, "bob-token")).status).toBe(404);
    const elsewhere = await fetch(`${server.url}/v1/uploads/`, {
      method: "POST",
      headers: headers("bob-token", { "upload-length": "1", "upload-metadata": metadata({ scope: "alice:private" }) }),
    });
    expect(elsewhere.status).toBe(404);
    expect((await fetch(url, { method: "HEAD", headers: headers("admin-token") })).headers.get("upload-offset")).toBe("0");
  });

  it("DELETE terminates an upload: its bytes go and it answers 404 afterwards", async () => {
    const server = await startTestServer({ plugins: [tusRoutes] });
    const url = await create(server, 10, { scope: "alice:gone" });
    expect((await patch(url, 0, Buffer.from("12345"))).status).toBe(204);
    const res = await fetch(url, { method: "DELETE", headers: headers("alice-token") });
    expect(res.status).toBe(204);
    expect((await fetch(url, { method: "HEAD", headers: headers("alice-token") })).status).toBe(404);
    expect(fs.readdirSync(server.ctx.options.uploadDir)).toEqual([]);
  });

  it("an expired upload answers 410, and is deleted by the next server on the same directory (then 404)", async () => {
    const server = await startTestServer({ plugins: [tusRoutes], options: { uploadExpiryMs: 300 } });
    const url = await create(server, 10, { scope: "alice:late" });
    const res = await patch(url, 0, Buffer.from("12345"));
    expect(Date.parse(res.headers.get("upload-expires") as string)).toBeLessThanOrEqual(Date.now() + 1_000);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await fetch(url, { method: "HEAD", headers: headers("alice-token") })).status).toBe(410);
    expect((await patch(url, 5, Buffer.from("67890"))).status).toBe(410);
    const next = await startTestServer({ plugins: [tusRoutes], store: server.store, options: { uploadDir: server.ctx.options.uploadDir } });
    expect(fs.readdirSync(server.ctx.options.uploadDir)).toEqual([]);
    expect((await fetch(url.replace(server.url, next.url), { method: "HEAD", headers: headers("alice-token") })).status).toBe(404);
  });

  it("a PATCH cut off mid-body keeps what arrived, and the upload resumes from there", async () => {
    const server = await startTestServer({ plugins: [tusRoutes] });
    const bytes = randomBytes(3 * MiB);
    const url = await create(server, bytes.length, { scope: "alice:cut", name: "cut.bin" });
    await new Promise<void>((resolve) => {
      const req = http.request(url, {
        method: "PATCH",
        headers: headers("alice-token", { "upload-offset": "0", "content-type": "application/offset+octet-stream", "content-length": String(bytes.length) }),
      });
      req.on("error", () => resolve());
      req.write(bytes.subarray(0, MiB), () => setTimeout(() => req.destroy(), 200));
    });
    let offset = 0;
    for (let i = 0; i < 50 && offset === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      offset = Number((await fetch(url, { method: "HEAD", headers: headers("alice-token") })).headers.get("upload-offset"));
    }
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(MiB);
    const rest = await patch(url, offset, bytes.subarray(offset));
    expect(rest.status).toBe(204);
    expect((await server.store.read(rest.headers.get("attache-ref") as string)).equals(bytes)).toBe(true);
  });

  it("on shutdown an in-flight PATCH stops with 503; nothing is staged and the bytes stay resumable", async () => {
    const server = await startTestServer({ plugins: [tusRoutes] });
    const url = await create(server, 2 * MiB, { scope: "alice:drain" });
    const answer = new Promise<number>((resolve) => {
      const req = http.request(url, {
        method: "PATCH",
        headers: headers("alice-token", { "upload-offset": "0", "content-type": "application/offset+octet-stream", "content-length": String(2 * MiB) }),
      });
      req.on("response", (res) => resolve(res.statusCode as number));
      req.on("error", () => resolve(-1));
      req.write(Buffer.alloc(MiB, 7), () => setTimeout(() => server.shutdown.abort(), 200));
    });
    expect(await answer).toBe(503);
    expect(await server.store.list()).toEqual([]);
    expect(server.uploads.inFlight).toBe(0);
    const part = path.join(server.ctx.options.uploadDir, `${path.basename(url)}.part`);
    expect(fs.statSync(part).size).toBeGreaterThan(0);
  });

  it("with the upload directory inside the store's, a finished upload is copied in and its bytes file removed", async () => {
    const first = await startTestServer({ plugins: [] });
    const server = await startTestServer({ plugins: [tusRoutes], store: first.store, options: { uploadDir: path.join(first.store.dir, "tus") } });
    const url = await create(server, 3, { scope: "alice:in" });
    const res = await patch(url, 0, Buffer.from("abc"));
    expect((await server.store.read(res.headers.get("attache-ref") as string)).toString()).toBe("abc");
    expect(fs.readdirSync(server.ctx.options.uploadDir)).toEqual([`${path.basename(url)}.json`]);
  });
});
