import { invalidArgument } from "./errors.js";

/**
 * A duration: milliseconds, `Infinity`, or a string such as `"500ms"`,
 * `"30s"`, `"15m"`, `"24h"`, `"7d"`, `"2w"` or `"1y"` (365 days). Units
 * combine without spaces, as people write them: `"1h30m"`, `"2d12h"`.
 * Decimals are allowed (`"1.5h"`); a bare number string is milliseconds.
 */
export type Duration = number | string;

const DAY_MS = 86_400_000;
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: DAY_MS,
  w: 7 * DAY_MS,
  // A calendar year varies; a ttl needs a fixed length, and 365 days is what "1y" means to most people.
  y: 365 * DAY_MS,
};

const NUMBER = String.raw`(?:\d+(?:\.\d+)?|\.\d+)`;
// "ms" before "m" and "s", so that "500ms" is not read as 500 minutes and a stray "s".
const UNIT = "(?:ms|s|m|h|d|w|y)";
/** One number with an optional unit; a space before the unit is tolerated, as it always was (`"2 s"`). */
const SINGLE_PATTERN = new RegExp(`^(${NUMBER})\\s*(${UNIT})?$`, "i");
/** Several parts, each with its unit and no whitespace between them: `"1h30m"`, `"2d12h"`. */
const COMBINED_PATTERN = new RegExp(`^(?:${NUMBER}${UNIT})+$`, "i");
const PART_PATTERN = new RegExp(`(${NUMBER})(${UNIT})`, "gi");

/**
 * Parses a {@link Duration} into milliseconds (`Infinity` stays `Infinity`),
 * rounded to a whole millisecond. A string may combine units (`"1h30m"`,
 * `"2d12h"`); its parts are added up. Surrounding whitespace is ignored, but
 * not whitespace between the parts (`"1h 30m"`). Negative, NaN, unparsable
 * values, and strings too large to be a finite number, fail with
 * `INVALID_ARGUMENT`: only `Infinity` itself means "for ever".
 *
 * @param value the duration to parse
 * @param what how the value is named in an error message, such as `"ttl"` (default `"duration"`)
 */
export function parseDuration(value: Duration, what = "duration"): number {
  if (typeof value === "number") {
    if (Number.isNaN(value) || value < 0) {
      throw invalidArgument(`${what} must be a non-negative number of milliseconds or a string like "30s"; got ${value}.`);
    }
    return value === Infinity ? Infinity : Math.round(value);
  }
  if (typeof value === "string") {
    const text = value.trim();
    if (/^infinity$/i.test(text)) return Infinity;
    const ms = parseDurationText(text);
    if (ms !== undefined) {
      if (!Number.isFinite(ms)) {
        throw invalidArgument(`${what} ${JSON.stringify(value)} is too large to be a number of milliseconds; use Infinity for "for ever".`);
      }
      return Math.round(ms);
    }
  }
  throw invalidArgument(
    `${what} ${JSON.stringify(value)} is not a duration: use milliseconds, Infinity, or a string like "500ms", "30s", "15m", "24h", "7d", "1y", or units combined without spaces such as "1h30m".`,
  );
}

/** The milliseconds a duration string spells, unrounded; undefined when it is not one. */
function parseDurationText(text: string): number | undefined {
  const single = SINGLE_PATTERN.exec(text);
  if (single) return Number(single[1]) * unitMs(single[2] ?? "ms");
  if (!COMBINED_PATTERN.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART_PATTERN)) total += Number(amount) * unitMs(unit as string);
  return total;
}

function unitMs(unit: string): number {
  return UNIT_MS[unit.toLowerCase()] as number;
}
