import { describe, expect, it } from "vitest";
import { parseByteSize } from "../../src/cache/byte-size.js";

describe("parseByteSize", () => {
  it.each([
    [0, 0],
    [4096, 4096],
    [Infinity, Infinity],
    ["Infinity", Infinity],
    ["4096", 4096],
    ["10B", 10],
    ["100kB", 100_000],
    ["100KB", 100_000],
    ["1.5GB", 1_500_000_000],
    ["2TB", 2e12],
    ["512MiB", 512 * 2 ** 20],
    ["10GiB", 10 * 2 ** 30],
    ["1KiB", 1024],
    ["1.5KiB", 1536],
    ["0.1KiB", 102],
    [".5MB", 500_000],
    [" 10 gib ", 10 * 2 ** 30],
    ["1PiB", 2 ** 50],
  ])("%j is %d bytes", (input, expected) => {
    expect(parseByteSize(input)).toBe(expected);
  });

  it.each([[-1], [1.5], [Number.NaN], ["-5MB"], ["10G"], ["10k"], ["ten MB"], ["5 parsecs"], [""], ["1e3"], ["10 GiB extra"], ["99999999PB"], [null], [{}]])(
    "refuses %j",
    (input) => {
      expect(() => parseByteSize(input as never, "cacheSize")).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("cacheSize") }),
      );
    },
  );
});
