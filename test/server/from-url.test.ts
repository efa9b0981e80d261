/** POST /v1/scopes/{scope}/attachments/from-url against a real origin server on loopback. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

let origin: http.Server;
let originUrl: string;
let open: TestServer;
let guarded: TestServer;

beforeAll(async () => {
  origin = http.createServer((request, response) => {
    if (request.url === "/big") return response.end(Buffer.alloc(4096, 1));
    response.setHeader("content-type", "text/plain");
    response.end(`fetched with ${request.headers["x-token"] ?? "no token"}\n`);
  });
  await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  open = await startTestServer({ allowPrivateNetwork: true, maxSize: 1024 });
  guarded = await startTestServer();
});
afterAll(async () => {
  await open.close();
  await guarded.close();
  origin.close();
});

const fromUrl = (server: TestServer, body: unknown) =>
  server.request("/v1/scopes/web/attachments/from-url", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("from-url", () => {
  it("fetches and stages (201), with the request headers given", async () => {
    const response = await fromUrl(open, { url: `${originUrl}/notes.txt`, headers: { "x-token": "abc" }, ttl: "1h" });
    expect(response.status, await response.clone().text()).toBe(201);
    const staged = (await response.json()) as { id: string; name: string; size: number };
    expect(staged.name).toBe("notes.txt");
    const bytes = await (await open.request(`/v1/attachments/${staged.id}/content`)).text();
    expect(bytes).toBe("fetched with abc\n");
  });

  it("answers 400 INVALID_SOURCE for a private address without --allow-private-network, and for other schemes", async () => {
    for (const [server, url] of [[guarded, `${originUrl}/x`], [open, "ftp://example.com/x"], [open, "not a url"]] as const) {
      const response = await fromUrl(server, { url });
      expect(response.status, url).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: "INVALID_SOURCE" } });
    }
  });

  it("answers 413 past --max-size and 400 for a body without url", async () => {
    const response = await fromUrl(open, { url: `${originUrl}/big` });
    expect(response.status).toBe(413);
    expect((await fromUrl(open, { name: "x" })).status).toBe(400);
  });
});
