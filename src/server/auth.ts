/**
 * Bearer tokens. The tokens file is a JSON array:
 *
 *   [ { "token": "s3cret", "scopes": ["telegram:*", "session:abc"] },
 *     { "tokenSha256": "9f86d0…", "admin": true } ]
 *
 * Each entry names its secret in clear (`token`) or as the lowercase hex
 * SHA-256 of it (`tokenSha256`, so the file need not hold the secret). A
 * presented token is hashed and compared with every entry's hash through
 * `crypto.timingSafeEqual`, all entries each time, so neither the comparison
 * nor the position of the match shows in the response time. Scope patterns
 * are exact names or end in `*` (any rest, including none); `"*"` alone is
 * every scope. An admin token sees every scope and may sweep, verify and
 * read /metrics.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { FastifyRequest } from "fastify";
import { AttacheError } from "../index.js";
import type { Principal } from "./context.js";
import { unauthorized } from "./service-errors.js";

/** One entry of the tokens file, as written. */
export type TokenEntry = ({ token: string } | { tokenSha256: string }) & { scopes?: string[]; admin?: boolean; name?: string };

/** A token ready to compare: its hash and what it may reach. */
interface KnownToken {
  hash: Buffer;
  principal: Principal;
}

/** Everything is allowed: the server without a tokens file (loopback only). */
export const LOOPBACK_PRINCIPAL: Principal = Object.freeze({ admin: true, allows: () => true });

function invalidTokens(where: string, message: string): AttacheError {
  return new AttacheError(
    "INVALID_ARGUMENT",
    `The tokens file ${where} ${message} Expected a JSON array of {"token": "…"} or {"tokenSha256": "<64 lowercase hex>"}, each with "scopes": ["telegram:*", …] and/or "admin": true.`,
  );
}

/** A matcher for one scope pattern: exact, or a prefix when it ends in `*`. */
function scopeMatcher(pattern: string): (scope: string) => boolean {
  if (pattern.endsWith("*")) {
    const prefix = pattern.slice(0, -1);
    return (scope) => scope.startsWith(prefix);
  }
  return (scope) => scope === pattern;
}

/** Checks the parsed tokens file and turns it into comparable tokens. */
export function parseTokens(value: unknown, where = "(inline)"): readonly KnownToken[] {
  if (!Array.isArray(value)) throw invalidTokens(where, "is not a JSON array.");
  const seen = new Set<string>();
  return value.map((entry: unknown, index) => {
    const at = `entry ${index}`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw invalidTokens(where, `has ${at} that is not an object.`);
    const { token, tokenSha256, scopes, admin } = entry as Record<string, unknown>;
    if ((token === undefined) === (tokenSha256 === undefined)) throw invalidTokens(where, `has ${at} with ${token === undefined ? "neither" : "both"} "token" and "tokenSha256".`);
    let hex: string;
    if (token !== undefined) {
      if (typeof token !== "string" || token.length < 16) throw invalidTokens(where, `has ${at} whose "token" is not a string of at least 16 characters.`);
      hex = createHash("sha256").update(token).digest("hex");
    } else {
      if (typeof tokenSha256 !== "string" || !/^[0-9a-f]{64}$/.test(tokenSha256)) throw invalidTokens(where, `has ${at} whose "tokenSha256" is not 64 lowercase hex characters.`);
      hex = tokenSha256;
    }
    if (seen.has(hex)) throw invalidTokens(where, `lists the same token twice (${at}).`);
    seen.add(hex);
    if (admin !== undefined && typeof admin !== "boolean") throw invalidTokens(where, `has ${at} whose "admin" is not true or false.`);
    if (scopes !== undefined && (!Array.isArray(scopes) || !scopes.every((s) => typeof s === "string" && s !== ""))) {
      throw invalidTokens(where, `has ${at} whose "scopes" is not an array of non-empty strings.`);
    }
    if (admin !== true && (scopes === undefined || scopes.length === 0)) throw invalidTokens(where, `has ${at} with no "scopes" and no "admin": it could reach nothing.`);
    const matchers = ((scopes ?? []) as string[]).map(scopeMatcher);
    const principal: Principal =
      admin === true ? LOOPBACK_PRINCIPAL : Object.freeze({ admin: false, allows: (scope: string) => matchers.some((match) => match(scope)) });
    return { hash: Buffer.from(hex, "hex"), principal };
  });
}

/** Reads and checks a tokens file: its entries, for `buildServer`. */
export async function loadTokens(file: string): Promise<readonly TokenEntry[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new AttacheError("INVALID_ARGUMENT", `Could not read the tokens file ${file}: ${(err as Error).message}. Pass --tokens a readable JSON file.`, { cause: err, path: file });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidTokens(file, `is not JSON (${(err as Error).message}).`);
  }
  parseTokens(parsed, file);
  return parsed as TokenEntry[];
}

/** The token of `Authorization: Bearer <token>`, or null. */
function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== "string") return null;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match === null ? null : (match[1] as string);
}

/**
 * The authenticate function of a ServerContext: `null` tokens (no tokens
 * file) make every request an admin; otherwise a request without a known
 * token fails with 401 UNAUTHORIZED.
 */
export function authenticator(tokens: readonly KnownToken[] | null): (request: FastifyRequest) => Principal {
  if (tokens === null) return () => LOOPBACK_PRINCIPAL;
  const cache = new WeakMap<FastifyRequest, Principal>();
  return (request) => {
    const known = cache.get(request);
    if (known !== undefined) return known;
    const presented = bearerOf(request);
    if (presented === null) throw unauthorized();
    const hash = createHash("sha256").update(presented).digest();
    let found: Principal | null = null;
    // Every entry is compared, match or not: the time taken does not say which one matched.
    for (const token of tokens) {
      if (timingSafeEqual(token.hash, hash) && found === null) found = token.principal;
    }
    if (found === null) throw unauthorized();
    cache.set(request, found);
    return found;
  };
}
