import { describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";

describe("openStore options", () => {
  it.each([
    [{ dir: "" }],
    [{ defaultTtl: "forever" }],
    [{ defaultTtl: -5 }],
    [{ sweepInterval: "often" }],
    [{ gracePeriod: Number.NaN }],
    [{ maxSize: -1 }],
    [{ clock: 5 }],
  ])("refuses %j with INVALID_ARGUMENT", async (options) => {
    await expect(openStore(options as never)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
