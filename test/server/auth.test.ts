/**
 * Tokens: 401 without a known one, 404 (never 403) for another scope's
 * attachments even by id, 403 for admin-only routes, loopback only without
 * a tokens file, and a malformed tokens file refused at start.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTokens } from "../../src/server/auth.js";
import { startServer } from "../../src/server/serve.js";
import { stageBytes, startTestServer, TOKENS, type TestServer } from "./harness.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ tokens: true });
});
afterAll(() => server.close());

describe("bearer tokens", () => {
  it("answers 401 UNAUTHORIZED without a token, with an unknown one, or a malformed header", async () => {
    for (const authorization of [undefined, "Bearer nope-nope-nope-nope-nope", "Basic dXNlcjpwYXNz", `Bearer ${TOKENS.admin}x`]) {
      const response = await server.request("/v1/scopes", authorization === undefined ? {} : { headers: { authorization } });
      expect(response.status, authorization).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="attache"');
      expect(await response.json()).toMatchObject({ error: { code: "UNAUTHORIZED" } });
    }
    // Before any body is read: a stage without a token is refused too.
    expect((await server.request("/v1/scopes/telegram:1/attachments", { method: "POST", body: "x" })).status).toBe(401);
  });

  it("needs no token for /healthz and /openapi.json", async () => {
    expect((await server.request("/healthz")).status).toBe(200);
    expect((await server.request("/openapi.json")).status).toBe(200);
  });

  it("confines a token to its scope patterns: 404 for another scope, by name or by a real id", async () => {
    const mine = await stageBytes(server, "telegram:chat1", "telegram bytes", "", TOKENS.telegram);
    const theirs = await stageBytes(server, "session:abc", "session bytes", "", TOKENS.session);
    const other = await stageBytes(server, "billing", "admin only", "", TOKENS.admin);

    expect((await server.request(`/v1/attachments/${mine.id}`, { token: TOKENS.telegram })).status).toBe(200);
    for (const id of [theirs.id, other.id]) {
      for (const suffix of ["", "/content", "/render?target=anthropic"]) {
        const response = await server.request(`/v1/attachments/${id}${suffix}`, { token: TOKENS.telegram });
        expect(response.status, suffix).toBe(404);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
      }
      expect((await server.request(`/v1/attachments/${id}`, { method: "DELETE", token: TOKENS.telegram })).status).toBe(404);
      expect((await server.request(`/v1/attachments/${id}`, { method: "PATCH", token: TOKENS.telegram, headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(404);
    }
    // The same answer as for an id that never existed.
    const unknown = await server.request("/v1/attachments/01hzzzzzzzzzzzzzzzzzzzzzzz", { token: TOKENS.telegram });
    const guessed = await server.request(`/v1/attachments/${theirs.id}`, { token: TOKENS.telegram });
    expect(((await unknown.json()) as { error: { message: string } }).error.message.replace(/attache:\/\/\w+/, "")).toBe(
      ((await guessed.json()) as { error: { message: string } }).error.message.replace(/attache:\/\/\w+/, ""),
    );

    for (const [method, url] of [
      ["GET", "/v1/scopes/session:abc/attachments"],
      ["POST", "/v1/scopes/session:abc/attachments"],
      ["DELETE", "/v1/scopes/session:abc"],
    ] as const) {
      expect((await server.request(url, { method, token: TOKENS.telegram, ...(method === "POST" ? { body: "x" } : {}) })).status, url).toBe(404);
    }
    // Still there: nothing was released by the refused calls.
    expect((await server.request(`/v1/attachments/${theirs.id}`, { token: TOKENS.session })).status).toBe(200);

    // The cross-scope views show only the token's scopes.
    const scopes = (await (await server.request("/v1/scopes", { token: TOKENS.telegram })).json()) as { items: { scope: string }[] };
    expect(scopes.items.map((s) => s.scope)).toEqual(["telegram:chat1"]);
    const recent = (await (await server.request("/v1/attachments", { token: TOKENS.session })).json()) as { items: { id: string }[] };
    expect(recent.items.map((a) => a.id)).toEqual([theirs.id]);
    const all = (await (await server.request("/v1/attachments", { token: TOKENS.admin })).json()) as { items: { id: string }[] };
    expect(all.items.map((a) => a.id)).toEqual([other.id, theirs.id, mine.id]);
  });

  it("keeps sweep, verify and /metrics for admin tokens (403 FORBIDDEN for others)", async () => {
    for (const [method, url] of [["POST", "/v1/sweep"], ["POST", "/v1/verify"], ["GET", "/metrics"]] as const) {
      const refused = await server.request(url, { method, token: TOKENS.telegram });
      expect(refused.status, url).toBe(403);
      expect(await refused.json()).toMatchObject({ error: { code: "FORBIDDEN" } });
      expect((await server.request(url, { method, token: TOKENS.admin })).status, url).toBe(200);
      expect((await server.request(url, { method })).status, url).toBe(401);
    }
  });
});

describe("starting", () => {
  const base = { maxSize: Infinity, uploadExpiryMs: 1000, maxConcurrentUploads: 1, allowPrivateNetwork: false, fetchTimeoutMs: 1000, drainTimeoutMs: 1000, logLevel: "silent" };

  it("refuses a non-loopback --listen without tokens, and serves loopback without them", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "attache-serve-"));
    for (const listen of ["0.0.0.0:0", "[::]:0", "192.168.1.10:0"]) {
      await expect(startServer({ ...base, dir, listen }), listen).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("loopback") });
    }
    const local = await startServer({ ...base, dir, listen: "127.0.0.1:0" });
    expect((await fetch(`${local.url}/v1/scopes`)).status).toBe(200);
    await local.stop();
  });

  it("listens on any address with a tokens file", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "attache-serve-"));
    const tokensFile = path.join(dir, "tokens.json");
    writeFileSync(tokensFile, JSON.stringify([{ token: TOKENS.admin, admin: true }]));
    const open = await startServer({ ...base, dir, listen: "0.0.0.0:0", tokensFile });
    const port = new URL(open.url).port;
    expect((await fetch(`http://127.0.0.1:${port}/v1/scopes`)).status).toBe(401);
    await open.stop();
  });

  it("refuses a malformed tokens file", async () => {
    const bad: unknown[] = [
      {},
      [{ scopes: ["a"] }],
      [{ token: "short", scopes: ["a"] }],
      [{ tokenSha256: "ABC", scopes: ["a"] }],
      [{ token: TOKENS.admin }],
      [{ token: TOKENS.admin, scopes: "a" }],
      [{ token: TOKENS.admin, admin: true }, { token: TOKENS.admin, admin: true }],
    ];
    for (const value of bad) expect(() => parseTokens(value), JSON.stringify(value)).toThrow(/tokens file/);
    const dir = mkdtempSync(path.join(tmpdir(), "attache-serve-"));
    const tokensFile = path.join(dir, "tokens.json");
    writeFileSync(tokensFile, "[{");
    await expect(startServer({ ...base, dir, listen: "127.0.0.1:0", tokensFile })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("matches scope patterns exactly or by prefix", () => {
    const [token] = parseTokens([{ token: TOKENS.telegram, scopes: ["telegram:*", "session:abc"] }]);
    const allows = token?.principal.allows ?? (() => true);
    expect(["telegram:", "telegram:42", "session:abc"].map(allows)).toEqual([true, true, true]);
    expect(["telegram", "session:abcd", "xtelegram:1"].map(allows)).toEqual([false, false, false]);
  });
});
