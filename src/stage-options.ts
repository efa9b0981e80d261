/**
 * Validates and normalises the options of one `stage` call, so the staging
 * pipeline only ever sees well-formed values.
 */
import { parseDuration } from "./duration.js";
import { AttacheError, invalidArgument } from "./errors.js";
import type { StageMode, StageOptions } from "./types.js";

export const DEFAULT_SCOPE = "default";
const MAX_SCOPE_LENGTH = 1024;
const MAX_LABEL_LENGTH = 256;
const MAX_METADATA_BYTES = 64 * 1024;
const MODES: readonly StageMode[] = ["copy", "move", "reference"];
/** About 10,000 years: beyond it an expiry is not a date JavaScript can hold; use `persist`. */
export const MAX_TTL_MS = 3.15e14;

/** A parsed ttl, refused when it is finite but too far away to be a date. */
export function parseTtl(value: unknown, what: string): number {
  const ms = parseDuration(value as number | string, what);
  if (ms !== Infinity && ms > MAX_TTL_MS) {
    throw invalidArgument(`${what} of ${ms} ms is beyond any date; use persist: true (or Infinity) for "never expires".`);
  }
  return ms;
}

export interface ResolvedStageOptions {
  scope: string;
  name: string | undefined;
  contentType: string | undefined;
  /** `Infinity` = never expires. */
  ttlMs: number;
  persist: boolean;
  /** Lowercase hex, if a checksum was given. */
  checksum: string | undefined;
  metadata: Record<string, unknown>;
  source: string | null;
  mode: StageMode;
  signal: AbortSignal | undefined;
  onProgress: StageOptions["onProgress"];
}

export function validateScope(scope: unknown): string {
  if (typeof scope !== "string" || scope === "" || scope.length > MAX_SCOPE_LENGTH || scope.includes("\0")) {
    throw invalidArgument(
      `A scope is a non-empty string of at most ${MAX_SCOPE_LENGTH} characters without NUL, such as "telegram:chat42"; got ${JSON.stringify(scope)}.`,
    );
  }
  return scope;
}

/** `sha256:<hex>` or bare hex, any case → lowercase hex. */
export function parseChecksum(value: unknown): string {
  if (typeof value === "string") {
    const hex = value.trim().toLowerCase().replace(/^sha256:/, "");
    if (/^[0-9a-f]{64}$/.test(hex)) return hex;
  }
  throw invalidArgument(
    `checksum ${JSON.stringify(value)} is not a SHA-256: pass 64 hex characters, optionally prefixed "sha256:".`,
  );
}

export function resolveStageOptions(
  options: StageOptions | undefined,
  defaults: { defaultTtlMs: number },
): ResolvedStageOptions {
  const o = options ?? {};
  if (typeof o !== "object") throw invalidArgument("stage() options must be an object.");
  const mode = o.mode ?? "copy";
  if (!MODES.includes(mode)) {
    throw invalidArgument(`mode must be "copy", "move" or "reference"; got ${JSON.stringify(o.mode)}.`);
  }
  if (o.persist !== undefined && typeof o.persist !== "boolean") throw invalidArgument("persist must be true or false.");
  if (o.name !== undefined && typeof o.name !== "string") throw invalidArgument("name must be a string.");
  if (o.contentType !== undefined && (typeof o.contentType !== "string" || !/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/.test(o.contentType.trim()))) {
    throw invalidArgument(`contentType ${JSON.stringify(o.contentType)} is not a media type such as "image/png".`);
  }
  if (o.source !== undefined && (typeof o.source !== "string" || o.source.length > MAX_LABEL_LENGTH)) {
    throw invalidArgument(`source must be a label of at most ${MAX_LABEL_LENGTH} characters, such as "telegram".`);
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidArgument("signal must be an AbortSignal.");
  if (o.onProgress !== undefined && typeof o.onProgress !== "function") throw invalidArgument("onProgress must be a function.");
  return {
    // null is refused, not read as "default": a missing scope must not land in the shared one.
    scope: validateScope(o.scope === undefined ? DEFAULT_SCOPE : o.scope),
    name: o.name,
    contentType: o.contentType?.trim(),
    ttlMs: o.ttl === undefined ? defaults.defaultTtlMs : parseTtl(o.ttl, "ttl"),
    persist: o.persist ?? false,
    checksum: o.checksum === undefined ? undefined : parseChecksum(o.checksum),
    metadata: validateMetadata(o.metadata),
    source: o.source ?? null,
    mode,
    signal: o.signal,
    onProgress: o.onProgress,
  };
}

/** Metadata must be a plain JSON object (finite numbers, no functions, no cycles), at most 64 KiB as JSON. */
export function validateMetadata(metadata: unknown): Record<string, unknown> {
  if (metadata === undefined) return {};
  let json: string;
  try {
    if (!isPlainObject(metadata)) throw invalidArgument("metadata must be a plain JSON object, such as { chatId: 42 }.");
    assertJson(metadata, "metadata", new Set());
    json = JSON.stringify(metadata);
  } catch (err) {
    if (err instanceof AttacheError) throw err;
    // A getter or a Proxy trap that throws: the object cannot be read as JSON.
    throw invalidArgument(`metadata could not be read as JSON: ${(err as Error)?.message ?? String(err)}.`, { cause: err });
  }
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES) {
    throw invalidArgument(`metadata is larger than ${MAX_METADATA_BYTES} bytes as JSON: keep large data in an attachment of its own.`);
  }
  return JSON.parse(json) as Record<string, unknown>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function assertJson(value: unknown, at: string, seen: Set<object>): void {
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw invalidArgument(`metadata ${at} is ${value}, which JSON cannot hold.`);
    return;
  }
  if (typeof value === "object") {
    if (seen.has(value)) throw invalidArgument(`metadata ${at} refers back to itself; JSON cannot hold cycles.`);
    seen.add(value);
    if (Array.isArray(value)) value.forEach((item, i) => assertJson(item, `${at}[${i}]`, seen));
    else if (isPlainObject(value)) for (const [key, item] of Object.entries(value)) assertJson(item, `${at}.${key}`, seen);
    else throw invalidArgument(`metadata ${at} is a ${value.constructor?.name ?? "object"}, not plain JSON.`);
    seen.delete(value);
    return;
  }
  throw invalidArgument(`metadata ${at} is a ${typeof value}, which JSON cannot hold.`);
}
