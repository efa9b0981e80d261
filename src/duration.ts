import { invalidArgument } from "./errors.js";

/**
 * A duration: milliseconds, `Infinity`, or a string such as `"500ms"`,
 * `"30s"`, `"15m"`, `"24h"`, `"7d"`. Decimals are allowed (`"1.5h"`).
 */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_PATTERN = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d|w)?\s*$/i;

/**
 * Parses a {@link Duration} into milliseconds (`Infinity` stays `Infinity`).
 * Negative, NaN or unparsable values fail with `INVALID_ARGUMENT`.
 */
export function parseDuration(value: Duration, what = "duration"): number {
  if (typeof value === "number") {
    if (Number.isNaN(value) || value < 0) {
      throw invalidArgument(`${what} must be a non-negative number of milliseconds or a string like "30s"; got ${value}.`);
    }
    return value === Infinity ? Infinity : Math.round(value);
  }
  if (typeof value === "string") {
    if (/^\s*infinity\s*$/i.test(value)) return Infinity;
    const match = DURATION_PATTERN.exec(value);
    if (match) {
      const unit = (match[2] ?? "ms").toLowerCase();
      return Math.round(Number(match[1]) * (UNIT_MS[unit] as number));
    }
  }
  throw invalidArgument(
    `${what} ${JSON.stringify(value)} is not a duration: use milliseconds, Infinity, or a string like "500ms", "30s", "15m", "24h" or "7d".`,
  );
}
