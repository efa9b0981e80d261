/**
 * Validates and normalises the options of one `stage` call, so the staging
 * pipeline only ever sees well-formed values.
 */
import { parseDuration } from "./duration.js";
import { AttacheError, invalidArgument } from "./errors.js";
import type { StageMode, StageOptions } from "./types.js";
import { resolveUrlFetchOptions, type ResolvedUrlFetchOptions } from "./url/fetch-options.js";

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
  /** How an http(s) URL source is fetched (defaults when the stage gave no `fetch`). */
  fetch: ResolvedUrlFetchOptions;
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
    fetch: resolveUrlFetchOptions(o.fetch),
  };
}

/**
 * Metadata is whatever `JSON.stringify` turns into a JSON object, stored as
 * that JSON: a `Date` becomes its ISO string, `toJSON` is honoured, undefined,
 * function and symbol members are dropped (null in arrays), NaN and Infinity
 * become null. What it cannot take — a BigInt, a cycle, anything that is not
 * an object at the top level — is refused, and so are a Map or a Set, whose
 * contents `JSON.stringify` would silently drop. At most 64 KiB as JSON.
 */
export function validateMetadata(metadata: unknown): Record<string, unknown> {
  if (metadata === undefined) return {};
  let json: string;
  try {
    json = JSON.stringify(metadata, metadataReplacer()) as string;
  } catch (err) {
    if (err instanceof AttacheError) throw err;
    // A getter or a Proxy trap that throws: the object cannot be read as JSON.
    throw invalidArgument(`metadata could not be read as JSON: ${(err as Error)?.message ?? String(err)}.`, { cause: err });
  }
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES) {
    throw invalidArgument(`metadata is larger than ${MAX_METADATA_BYTES} bytes as JSON: keep large data in an attachment of its own.`);
  }
  const parsed = JSON.parse(json) as unknown;
  // A boxed primitive at the top level (new String("x")) passes the replacer as an object but is written as a string.
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw invalidArgument(`metadata must be an object, such as { chatId: 42 } (as JSON.stringify sees it); got ${json.slice(0, 40)}.`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * A `JSON.stringify` replacer that changes nothing it accepts, and refuses,
 * naming the path (`metadata.list[1]`), what JSON.stringify would throw on
 * with a bare TypeError or silently empty. It sees each value after toJSON.
 */
function metadataReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  const pathOf = new WeakMap<object, string>();
  // The objects from the root down to the one whose member is being visited
  // (JSON.stringify goes depth first), as a stack and as a set for the cycle check.
  const ancestors: object[] = [];
  const isAncestor = new Set<object>();
  return function (this: unknown, key: string, value: unknown): unknown {
    const holder = this as object;
    const isRoot = ancestors.length === 0;
    // Leave the subtrees JSON.stringify has finished with.
    while (!isRoot && ancestors.length > 1 && ancestors[ancestors.length - 1] !== holder) isAncestor.delete(ancestors.pop() as object);
    const at = isRoot ? "metadata" : Array.isArray(holder) ? `${pathOf.get(holder)}[${key}]` : `${pathOf.get(holder)}.${key}`;
    if (isRoot && (value === null || typeof value !== "object" || Array.isArray(value))) {
      const got = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
      throw invalidArgument(`metadata must be an object, such as { chatId: 42 } (as JSON.stringify sees it); got ${got}.`);
    }
    if (typeof value === "bigint") {
      throw invalidArgument(`${at} is a BigInt, which JSON cannot hold: pass String(n), or Number(n) if it is small enough.`);
    }
    if (value !== null && typeof value === "object") {
      if (isAncestor.has(value)) {
        throw invalidArgument(`${at} refers back to an object that contains it; JSON cannot hold cycles.`);
      }
      if (value instanceof Map || value instanceof WeakMap) {
        throw invalidArgument(`${at} is a Map, which JSON.stringify turns into {} and loses its entries: pass Object.fromEntries(map).`);
      }
      if (value instanceof Set || value instanceof WeakSet) {
        throw invalidArgument(`${at} is a Set, which JSON.stringify turns into {} and loses its values: pass Array.from(set).`);
      }
      pathOf.set(value, at);
      ancestors.push(value);
      isAncestor.add(value);
    }
    return value;
  };
}
