import { describe, expect, it } from "vitest";
import { formatBytes, formatExpiry, formatRelative, formatSpan, printable, renderTable } from "../../src/cli/format.js";

describe("human formats", () => {
  it("prints sizes in IEC units with one decimal", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1.0 KiB");
    expect(formatBytes(12.3 * 1024 * 1024)).toBe("12.3 MiB");
    // Never "1024.0 KiB": the unit steps up before rounding would reach it.
    expect(formatBytes(1024 * 1024 - 1)).toBe("1.0 MiB");
    expect(formatBytes(5 * 1024 ** 4)).toBe("5.0 TiB");
  });

  it("prints spans floored to two units", () => {
    expect(formatSpan(450)).toBe("450ms");
    expect(formatSpan(59_999)).toBe("59s");
    expect(formatSpan(29 * 60_000 + 59_000)).toBe("29m");
    expect(formatSpan(3 * 3_600_000)).toBe("3h");
    expect(formatSpan(24 * 3_600_000 - 1)).toBe("23h 59m");
    expect(formatSpan(7 * 86_400_000 + 5 * 3_600_000)).toBe("7d 5h");
  });

  it("prints times relative to now", () => {
    const now = Date.UTC(2025, 0, 1);
    expect(formatRelative(new Date(now + 30 * 60_000 - 500), now)).toBe("in 29m");
    expect(formatRelative(new Date(now - 3 * 60_000), now)).toBe("3m ago");
    expect(formatRelative(new Date(now + 200), now)).toBe("now");
    expect(formatExpiry(null, now)).toBe("never");
    expect(formatExpiry(new Date(now - 90_000), now)).toBe("expired 1m ago");
  });

  it("aligns tables, right-aligns numbers, and neutralises control characters", () => {
    const table = renderTable(
      [{ header: "name" }, { header: "size", align: "right" }],
      [
        ["a", "1 B"],
        ["long\x1b[31mname", "12.3 MiB"],
      ],
    );
    expect(table.split("\n")).toEqual([
      // "long\x1b[31mname" is 16 characters once made printable; "12.3 MiB" is 8.
      `NAME${" ".repeat(12)}  ${" ".repeat(4)}SIZE`,
      `a${" ".repeat(15)}  ${" ".repeat(5)}1 B`,
      "long\\x1b[31mname  12.3 MiB",
      "",
    ]);
    expect(printable("a\nb")).toBe("a\\x0ab");
  });
});
