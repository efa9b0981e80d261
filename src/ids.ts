import { randomBytes } from "node:crypto";
import { invalidArgument } from "./errors.js";

/**
 * Attachment ids are ULID-shaped: 10 characters of wall-clock milliseconds and
 * 16 random ones, in lowercase Crockford base32. They sort by creation, so a
 * released id still works as a `list({ after })` cursor, and they are
 * monotonic within a process even when two are made in the same millisecond.
 */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const ID_PATTERN = /^[0-9a-hjkmnp-tv-z]{26}$/;
const REF_PREFIX = "attache://";

let lastTime = -1;
let lastRandom: number[] = [];

function encodeTime(time: number): string {
  let out = "";
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[time % 32] + out;
    time = Math.floor(time / 32);
  }
  return out;
}

/** A new, creation-ordered, unguessable id (80 random bits). */
export function newId(): string {
  const now = Date.now();
  if (now <= lastTime) {
    // Same millisecond (or the wall clock stepped back): increment the random part.
    let i = lastRandom.length - 1;
    while (i >= 0 && lastRandom[i] === 31) lastRandom[i--] = 0;
    if (i >= 0) lastRandom[i] = (lastRandom[i] as number) + 1;
  } else {
    lastTime = now;
    lastRandom = [...randomBytes(16)].map((byte) => byte & 31);
  }
  return encodeTime(lastTime) + lastRandom.map((digit) => ALPHABET[digit]).join("");
}

export function refOf(id: string): string {
  return REF_PREFIX + id;
}

/**
 * The id behind a ref. Accepts `attache://<id>` or the bare id, in any case;
 * anything else fails with `INVALID_ARGUMENT`.
 */
export function parseRef(ref: unknown): string {
  if (typeof ref === "string") {
    const lower = ref.trim().toLowerCase();
    const id = lower.startsWith(REF_PREFIX) ? lower.slice(REF_PREFIX.length) : lower;
    if (ID_PATTERN.test(id)) return id;
  }
  throw invalidArgument(
    `${JSON.stringify(ref)} is not an attachment ref: expected "attache://" followed by a 26-character id, as returned by stage().`,
  );
}

/** True for a syntactically valid attachment id. */
export function isId(value: string): boolean {
  return ID_PATTERN.test(value);
}
