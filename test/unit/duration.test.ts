import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/index.js";

describe("parseDuration", () => {
  it.each([
    ["500ms", 500], ["30s", 30_000], ["15m", 900_000], ["24h", 86_400_000], ["7d", 604_800_000],
    ["1.5h", 5_400_000], [" 2 s ", 2_000], ["10", 10], [0, 0], [1234, 1234], [Infinity, Infinity], ["Infinity", Infinity],
  ])("%j is %d ms", (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([[-1], [Number.NaN], ["-5s"], ["soon"], ["5 parsecs"], [""], [null], [{}]])("refuses %j", (input) => {
    expect(() => parseDuration(input as never, "ttl")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});
