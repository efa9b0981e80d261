/**
 * A real `attache serve` for the tests: a real store in a temp directory,
 * the Fastify service from `startServer()` listening on 127.0.0.1 (a free
 * port), spoken to through `fetch`. Each test file gets its own server.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, type RunningServer, type ServeSettings } from "../../src/server/serve.js";
import type { TokenEntry } from "../../src/server/auth.js";

/** Tokens every server started with `tokens: true` knows. */
export const TOKENS = {
  admin: "admin-token-0123456789abcdef",
  telegram: "telegram-token-0123456789abcdef",
  session: "session-token-0123456789abcdef",
} as const;

export const TOKEN_FILE: TokenEntry[] = [
  { token: TOKENS.admin, admin: true },
  { token: TOKENS.telegram, scopes: ["telegram:*"] },
  // Stored as a hash only: the file need not hold the secret.
  { tokenSha256: "", scopes: ["session:abc", "session:shared*"] },
];

export interface TestServer extends RunningServer {
  dir: string;
  /** fetch against the server, with `Authorization: Bearer <token>` when a token is given. */
  request(pathname: string, init?: RequestInit & { token?: string }): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestServer(overrides: Partial<ServeSettings> & { tokens?: boolean } = {}): Promise<TestServer> {
  const dir = mkdtempSync(path.join(tmpdir(), "attache-serve-"));
  const { tokens, ...rest } = overrides;
  let tokensFile: string | undefined;
  if (tokens === true) {
    const { createHash } = await import("node:crypto");
    const entries = TOKEN_FILE.map((entry) =>
      "tokenSha256" in entry ? { ...entry, tokenSha256: createHash("sha256").update(TOKENS.session).digest("hex") } : entry,
    );
    tokensFile = path.join(dir, "tokens.json");
    await writeFile(tokensFile, JSON.stringify(entries));
  }
  const server = await startServer({
    dir: path.join(dir, "store"),
    listen: "127.0.0.1:0",
    maxSize: Infinity,
    uploadExpiryMs: 86_400_000,
    maxConcurrentUploads: 16,
    allowPrivateNetwork: false,
    fetchTimeoutMs: 30_000,
    drainTimeoutMs: 2_000,
    logLevel: "silent",
    ...(tokensFile === undefined ? {} : { tokensFile }),
    ...rest,
  });
  return {
    ...server,
    dir,
    request(pathname, init = {}) {
      const { token, headers, ...restInit } = init;
      const merged = new Headers(headers);
      if (token !== undefined) merged.set("authorization", `Bearer ${token}`);
      return fetch(server.url + pathname, { ...restInit, headers: merged });
    },
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Stages `body` into `scope` and returns the parsed StageResult. */
export async function stageBytes(server: TestServer, scope: string, body: string | Uint8Array, query = "", token?: string): Promise<Record<string, unknown> & { id: string; ref: string }> {
  const response = await server.request(`/v1/scopes/${encodeURIComponent(scope)}/attachments${query}`, { method: "POST", body, ...(token === undefined ? {} : { token }) });
  if (response.status !== 201 && response.status !== 200) throw new Error(`stage answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Record<string, unknown> & { id: string; ref: string };
}
