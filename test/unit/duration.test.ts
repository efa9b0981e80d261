import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/index.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe("parseDuration", () => {
  it.each([
    ["500ms", 500], ["30s", 30_000], ["15m", 900_000], ["24h", 86_400_000], ["7d", 604_800_000],
    ["1.5h", 5_400_000], [" 2 s ", 2_000], ["10", 10], [0, 0], [1234, 1234], [Infinity, Infinity], ["Infinity", Infinity],
  ])("%j is %d ms", (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([
    ["1h30m", HOUR + 30 * MINUTE],
    ["2d12h", 2 * DAY + 12 * HOUR],
    ["1m30s", MINUTE + 30 * SECOND],
    ["1s500ms", 1_500],
    ["1w2d", 9 * DAY],
    ["1d2h3m4s5ms", DAY + 2 * HOUR + 3 * MINUTE + 4 * SECOND + 5],
    ["1.5h30m", 2 * HOUR],
    ["1H30M", HOUR + 30 * MINUTE],
    [" 1h30m ", HOUR + 30 * MINUTE],
    ["1y", 365 * DAY],
    ["1y6h", 365 * DAY + 6 * HOUR],
    ["2y", 730 * DAY],
  ])("combines units as people write them: %j is %d ms", (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([[-1], [Number.NaN], ["-5s"], ["soon"], ["5 parsecs"], [""], [null], [{}]])("refuses %j", (input) => {
    expect(() => parseDuration(input as never, "ttl")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  it.each([
    ["whitespace between the parts", "1h 30m"],
    ["a bare number after a unit", "1h30"],
    ["a bare number at the end", "30m1"],
    ["a negative duration", "-1h30m"],
    ["a negative part", "1h-30m"],
    ["a sign inside", "1h+30m"],
    ["a unit without a number", "h"],
    ["a unit twice", "1hh"],
    ["an unknown unit", "1x"],
    ["months, which have no fixed length", "1mo"],
    ["an exponent", "1e3s"],
    ["NaN", "NaN"],
    ["Infinity with a unit", "Infinityms"],
    ["trailing words", "1h30mfoo"],
    ["a malformed number", "1..5h"],
    ["only whitespace", " "],
    ["a number too large for a double, which must not turn into Infinity", "9".repeat(400) + "d"],
  ])("refuses %s with INVALID_ARGUMENT", (_what, input) => {
    expect(() => parseDuration(input, "ttl")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  it("names the value and shows the combined form in its message", () => {
    expect(() => parseDuration("1h 30m", "ttl")).toThrow(/ttl "1h 30m" is not a duration.*"1h30m"/);
  });
});
