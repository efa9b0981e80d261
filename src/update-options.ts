/**
 * Validates the changes of one `update` call and turns them into what the
 * manifest applies: a display name, a metadata object, and a lifetime counted
 * from now (`ttlMs: null` = never expires).
 */
import { invalidArgument } from "./errors.js";
import { sanitizeName } from "./names.js";
import type { ResolvedOptions } from "./options.js";
import { parseTtl, validateMetadata } from "./stage-options.js";
import type { UpdateOptions } from "./types.js";

/** The changes `update` applies; an absent member leaves that field as it is. */
export interface AttachmentChanges {
  name?: string;
  metadata?: Record<string, unknown>;
  /** A new lifetime counted from the update: `ttlMs` from now, or `null` for "never expires". */
  lifetime?: { ttlMs: number | null };
}

const KEYS = new Set(["name", "metadata", "ttl", "persist"]);

export function resolveUpdateOptions(options: unknown, store: ResolvedOptions): AttachmentChanges {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalidArgument("update() takes an object: { name?, metadata?, ttl?, persist? }.");
  }
  const o = options as UpdateOptions;
  for (const key of Object.keys(o)) {
    if (!KEYS.has(key)) throw invalidArgument(`update() cannot change ${JSON.stringify(key)}: it changes name, metadata, ttl and persist.`);
  }
  const changes: AttachmentChanges = {};
  if (o.name !== undefined) {
    if (typeof o.name !== "string") throw invalidArgument(`name must be a string; got ${typeof o.name}.`);
    changes.name = sanitizeName(o.name);
  }
  if (o.metadata !== undefined) changes.metadata = validateMetadata(o.metadata);
  if (o.persist !== undefined && typeof o.persist !== "boolean") throw invalidArgument(`persist must be true or false; got ${String(o.persist)}.`);
  const ttlMs = o.ttl === undefined ? undefined : parseTtl(o.ttl, "ttl");
  if (o.persist === true) {
    if (ttlMs !== undefined && ttlMs !== Infinity) throw invalidArgument("persist: true means never expires; give it without a ttl (or with ttl: Infinity).");
    changes.lifetime = { ttlMs: null };
  } else if (ttlMs !== undefined) {
    changes.lifetime = { ttlMs: ttlMs === Infinity ? null : ttlMs };
  } else if (o.persist === false) {
    // Switching persistence off without a ttl: the store's default lifetime, from now.
    changes.lifetime = { ttlMs: store.defaultTtlMs === Infinity ? null : store.defaultTtlMs };
  }
  return changes;
}
