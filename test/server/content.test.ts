/**
 * GET /v1/attachments/{id}/content: ETag, conditional requests, ranges,
 * Content-Disposition for hostile names, and the cut connection when the
 * stored bytes no longer match their digest.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmod, open } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentDisposition } from "../../src/server/content-disposition.js";
import { parseRange } from "../../src/server/routes/content.js";
import { stageBytes, startTestServer, type TestServer } from "./harness.js";

let server: TestServer;
let id: string;
const bytes = Buffer.from("0123456789abcdefghij");
const etag = `"${createHash("sha256").update(bytes).digest("hex")}"`;

beforeAll(async () => {
  server = await startTestServer();
  id = (await stageBytes(server, "content", bytes, "?name=digits.txt&contentType=text/plain")).id;
});
afterAll(() => server.close());

const get = (headers: Record<string, string> = {}) => server.request(`/v1/attachments/${id}/content`, { headers });

describe("the bytes", () => {
  it("answers 200 with the bytes, ETag, type, length and an attachment disposition", async () => {
    const response = await get();
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes);
    expect(response.headers.get("etag")).toBe(etag);
    expect(response.headers.get("content-type")).toBe("text/plain");
    expect(response.headers.get("content-length")).toBe("20");
    expect(response.headers.get("accept-ranges")).toBe("bytes");
    expect(response.headers.get("content-disposition")).toBe(`attachment; filename="digits.txt"; filename*=UTF-8''digits.txt`);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("answers 304 for a matching If-None-Match (also in a list, weak, or *), 200 otherwise", async () => {
    for (const header of [etag, `"nope", ${etag}`, `W/${etag}`, "*"]) {
      const response = await get({ "if-none-match": header });
      expect(response.status, header).toBe(304);
      expect(response.headers.get("etag")).toBe(etag);
      expect(await response.text()).toBe("");
    }
    expect((await get({ "if-none-match": '"other"' })).status).toBe(200);
  });

  it("answers 206 for one range, in each of its three forms", async () => {
    const cases: [string, string, string][] = [
      ["bytes=2-5", "2345", "bytes 2-5/20"],
      ["bytes=15-", "fghij", "bytes 15-19/20"],
      ["bytes=-3", "hij", "bytes 17-19/20"],
      ["bytes=18-1000", "ij", "bytes 18-19/20"],
    ];
    for (const [range, body, contentRange] of cases) {
      const response = await get({ range });
      expect(response.status, range).toBe(206);
      expect(await response.text()).toBe(body);
      expect(response.headers.get("content-range")).toBe(contentRange);
      expect(response.headers.get("content-length")).toBe(String(body.length));
    }
  });

  it("answers 416 with Content-Range bytes */size for a range past the end", async () => {
    const response = await get({ range: "bytes=20-" });
    expect(response.status).toBe(416);
    expect(response.headers.get("content-range")).toBe("bytes */20");
    expect(await response.json()).toMatchObject({ error: { code: "INVALID_ARGUMENT" } });
  });

  it("answers the whole body (200) for several ranges, a malformed range, or an If-Range that does not match", async () => {
    for (const headers of [{ range: "bytes=0-1,4-5" }, { range: "lines=1-2" }, { range: "bytes=5-2" }, { range: "bytes=0-1", "if-range": '"stale"' }] as Record<string, string>[]) {
      const response = await get(headers);
      expect(response.status, JSON.stringify(headers)).toBe(200);
      expect(await response.text()).toBe(bytes.toString());
    }
    expect((await get({ range: "bytes=0-1", "if-range": etag })).status).toBe(206);
  });

  it("parses ranges as documented", () => {
    expect(parseRange(undefined, 10)).toBeNull();
    expect(parseRange("bytes=0-0", 10)).toEqual({ start: 0, end: 0 });
    expect(parseRange("bytes=-0", 10)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-", 0)).toBe("unsatisfiable");
    expect(parseRange("bytes=-20", 10)).toEqual({ start: 0, end: 9 });
  });

  it("answers HEAD with the headers and no body", async () => {
    const response = await server.request(`/v1/attachments/${id}/content`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe(etag);
    expect(await response.text()).toBe("");
  });
});

describe("Content-Disposition", () => {
  const hostile = ['evil"; filename="x.exe', "line\r\nSet-Cookie: a=b", "../../etc/passwd", "résumé 📄.pdf", "a\\b.txt", "%41%42.txt", "..", ""];

  it("never lets a name break the header, and keeps the exact name in filename*", () => {
    for (const name of hostile) {
      const header = contentDisposition(name);
      expect(header, name).toMatch(/^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[A-Za-z0-9!#$&+.^_`|~%-]+$/);
      const fallback = /filename="([^"]*)"/.exec(header)?.[1] ?? "";
      expect(fallback).not.toMatch(/["\\/]|^\./);
      expect(fallback).not.toBe("");
    }
    expect(contentDisposition("résumé 📄.pdf")).toBe(`attachment; filename="resume _.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%F0%9F%93%84.pdf`);
    expect(decodeURIComponent(/filename\*=UTF-8''(.*)$/.exec(contentDisposition("../../etc/passwd"))?.[1] ?? "")).toBe("passwd");
  });

  it("serves staged hostile names with a header Node accepts and a client can parse", async () => {
    for (const name of hostile) {
      const staged = await stageBytes(server, "names", `bytes of ${name}`, `?name=${encodeURIComponent(name)}`);
      const response = await server.request(`/v1/attachments/${staged.id}/content`);
      expect(response.status, name).toBe(200);
      const header = response.headers.get("content-disposition") ?? "";
      expect(header).not.toMatch(/[\r\n]/);
      expect(response.headers.get("set-cookie")).toBeNull();
      const exact = decodeURIComponent(/filename\*=UTF-8''(.*)$/.exec(header)?.[1] ?? "");
      expect(exact).toBe(((await (await server.request(`/v1/attachments/${staged.id}`)).json()) as { name: string }).name.split(/[/\\]/).at(-1));
    }
  });
});

describe("verified as it streams", () => {
  it("cuts the connection before the last byte when the stored bytes changed on disk", async () => {
    const big = randomBytes(3 * 1024 * 1024);
    const staged = (await stageBytes(server, "corrupt", big)) as unknown as { id: string; path: string | null };
    expect(staged.path).not.toBeNull();
    await chmod(staged.path as string, 0o600);
    const file = await open(staged.path as string, "r+");
    await file.write(Buffer.from("X"), 0, 1, big.length - 10);
    await file.close();

    const response = await server.request(`/v1/attachments/${staged.id}/content`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBe(String(big.length));
    let received = 0;
    const reading = (async () => {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) received += chunk.byteLength;
    })();
    await expect(reading).rejects.toThrow();
    expect(received).toBeLessThan(big.length);

    // A range is served from the file as is (documented: GET the whole body to verify).
    const range = await server.request(`/v1/attachments/${staged.id}/content`, { headers: { range: "bytes=0-9" } });
    expect(range.status).toBe(206);
    // And the server still answers.
    expect((await server.request("/healthz")).status).toBe(200);
  });
});
