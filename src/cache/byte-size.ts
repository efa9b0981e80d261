import { invalidArgument } from "../errors.js";

/**
 * A size in bytes: a number of bytes, `Infinity` (no limit), or a string
 * such as `"512MiB"`, `"10GiB"`, `"1.5GB"`, `"100kB"` or `"4096"`.
 *
 * Units follow IEC 80000-13, so both readings are available and neither is
 * guessed: `KiB`, `MiB`, `GiB`, `TiB`, `PiB` are binary (powers of 1024) and
 * `kB`, `MB`, `GB`, `TB`, `PB` are decimal (powers of 1000), as disks and
 * cloud providers count. `B` (or no unit) is bytes. Letter case is ignored
 * (`"10gib"`, `"10KB"`). A single letter (`"10G"`, `"10k"`) is refused: tools
 * disagree on whether it means 10⁹ or 2³⁰, and a cache size should not be a
 * 7 % surprise.
 */
export type ByteSize = number | string;

const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
};

/** A decimal number (`10`, `1.5`, `.5`), optional whitespace, an optional unit of letters. */
const BYTE_SIZE_PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i;

/**
 * Parses a {@link ByteSize} into a whole number of bytes. A fractional result
 * (`"1.5KiB"`, `"0.1kB"`) is rounded down; `Infinity` (the number or the
 * string) stays `Infinity`. A negative, fractional or NaN number, an unknown
 * unit, and anything past `Number.MAX_SAFE_INTEGER` fail with
 * `INVALID_ARGUMENT`.
 *
 * @param value the size to parse
 * @param what how the value is named in an error message, such as `"cacheSize"` (default `"size"`)
 */
export function parseByteSize(value: ByteSize, what = "size"): number {
  if (typeof value === "number") {
    if (value === Infinity || (Number.isSafeInteger(value) && value >= 0)) return value;
    throw invalidArgument(`${what} must be a whole, non-negative number of bytes, Infinity, or a string like "512MiB"; got ${value}.`);
  }
  if (typeof value === "string") {
    const text = value.trim();
    if (/^infinity$/i.test(text)) return Infinity;
    const match = BYTE_SIZE_PATTERN.exec(text);
    const unit = match === null ? undefined : UNIT_BYTES[(match[2] || "b").toLowerCase()];
    if (match !== null && unit !== undefined) {
      const bytes = Math.floor(Number(match[1]) * unit);
      if (Number.isSafeInteger(bytes)) return bytes;
      throw invalidArgument(`${what} ${JSON.stringify(value)} is too large; use Infinity for "no limit".`);
    }
  }
  throw invalidArgument(
    `${what} ${JSON.stringify(value)} is not a size: use a number of bytes, Infinity, or a string like "512MiB", "10GiB" (binary: KiB, MiB, GiB, TiB, PiB) or "1.5GB", "100kB" (decimal: kB, MB, GB, TB, PB).`,
  );
}
