/**
 * Issue 9, item 9 at the command line: `--ttl` takes durations as people
 * write them (`1h30m`, `2d12h`, `1y`), through the library's parser, and a
 * malformed one is still a usage error.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, json, runCli, tempDir } from "./cli-harness.js";

const { dir, cleanup } = tempDir();
const file = path.join(dir, "x");
beforeAll(() => {
  assertCliBuilt();
  writeFileSync(file, "x\n");
});
afterAll(cleanup);

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe.concurrent("attache stage --ttl", () => {
  it.each([
    ["1h30m", HOUR + 30 * MINUTE],
    ["2d12h", 2 * DAY + 12 * HOUR],
    ["1y", 365 * DAY],
  ])("--ttl %s lives %d ms", async (ttl, ms) => {
    const result = await runCli(["--dir", path.join(dir, `store-${ttl}`), "stage", file, "--ttl", ttl, "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const [staged] = json<{ ttlMs: number; expiresAt: string }[]>(result);
    expect(staged?.ttlMs).toBe(ms);
    const left = Date.parse(staged?.expiresAt as string) - Date.now();
    expect(left).toBeGreaterThan(ms - MINUTE);
    expect(left).toBeLessThanOrEqual(ms);
  });

  it("--ttl '1h 30m' is a usage error showing the form without spaces, exit 2", async () => {
    const result = await runCli(["--dir", path.join(dir, "store-bad"), "stage", file, "--ttl", "1h 30m"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^attache: USAGE: .*--ttl "1h 30m" is not a duration/);
    expect(result.stderr).toContain('"1h30m"');
    expect(result.stdout).toBe("");
  });
});
