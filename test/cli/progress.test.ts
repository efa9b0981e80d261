/**
 * The progress bar appears on a terminal and only there. A real
 * pseudo-terminal comes from util-linux `script`; ATTACHE_FORCE_TTY covers
 * the documented override on a plain pipe.
 */
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, BIN, runCli, runProcess, tempDir } from "./cli-harness.js";

const SCRIPT = "/usr/bin/script";
const hasScript = existsSync(SCRIPT);
/** Larger than the CLI's 8 MiB threshold for drawing a bar. */
const BIG_BYTES = 12 * 1024 * 1024;
/** The bar at completion: 100%, bytes done of total, a rate, an ETA. */
const FINISHED_BAR = /big\.bin\s+\[█+\] 100%\s+12\.0 MiB \/ 12\.0 MiB\s+[\d.]+ [KMG]?i?B\/s\s+ETA \d/;

const { dir, cleanup } = tempDir();
const big = path.join(dir, "big.bin");
const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

/** Runs the CLI inside a pseudo-terminal; stdout and stderr arrive merged, as a terminal shows them. */
function onTerminal(args: string[], env: Record<string, string> = {}) {
  const command = [process.execPath, BIN, ...args].map(quote).join(" ");
  return runProcess(SCRIPT, ["-qfec", command, "/dev/null"], { env: { COLUMNS: "120", ...env } });
}

beforeAll(() => {
  assertCliBuilt();
  writeFileSync(big, Buffer.alloc(BIG_BYTES, 1));
});
afterAll(cleanup);

describe.concurrent("progress", () => {
  it.skipIf(!hasScript)("draws a byte bar with rate and ETA when staging a large file on a terminal", async () => {
    const result = await onTerminal(["--dir", path.join(dir, "s1"), "stage", big]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(FINISHED_BAR);
    expect(result.stdout).toMatch(/attache:\/\/\w{26}\s+default\s+big\.bin\s+12\.0 MiB/);
  });

  it.skipIf(!hasScript)("draws a bar for verify on a terminal", async () => {
    const store = path.join(dir, "s2");
    expect((await runCli(["--dir", store, "stage", "-q", big])).code).toBe(0);
    const result = await onTerminal(["--dir", store, "verify"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/verify\s+\[█+\] 100%\s+12\.0 MiB \/ 12\.0 MiB/);
  });

  it.skipIf(!hasScript)("never draws with --quiet or ATTACHE_FORCE_TTY=0, even on a terminal", async () => {
    const quiet = await onTerminal(["--dir", path.join(dir, "s3"), "stage", "--quiet", big]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toMatch(/^attache:\/\/\w{26}\r?\n$/);
    const forcedOff = await onTerminal(["--dir", path.join(dir, "s3"), "verify"], { ATTACHE_FORCE_TTY: "0" });
    expect(forcedOff.stdout).not.toContain("%");
  });

  it("never draws when stderr is not a terminal", async () => {
    const result = await runCli(["--dir", path.join(dir, "s4"), "stage", big]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
  });

  it("draws on a pipe when ATTACHE_FORCE_TTY=1, one line per frame, without escape codes", async () => {
    const result = await runCli(["--dir", path.join(dir, "s5"), "stage", big, "--json"], { env: { ATTACHE_FORCE_TTY: "1" } });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(FINISHED_BAR);
    expect(result.stderr).not.toContain("\x1b");
    // stdout stays clean JSON.
    expect((JSON.parse(result.stdout) as { name: string }[])[0]?.name).toBe("big.bin");
  });

  it("shows bytes and rate for stdin of unknown size, and keeps the name from --name", async () => {
    const result = await runCli(["--dir", path.join(dir, "s6"), "stage", "-", "--name", "piped.bin", "--json"], {
      env: { ATTACHE_FORCE_TTY: "1" },
      input: Buffer.alloc(BIG_BYTES, 2),
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/stdin\s+12\.0 MiB\s+[\d.]+ [KMG]?i?B\/s/);
    expect((JSON.parse(result.stdout) as { name: string; size: number }[])[0]).toMatchObject({ name: "piped.bin", size: BIG_BYTES });
  });

  it("draws the bar for --mode move, and the store still moves the file in", async () => {
    const moved = path.join(dir, "moved.bin");
    copyFileSync(big, moved);
    const result = await runCli(["--dir", path.join(dir, "s7"), "stage", moved, "--mode", "move", "--json"], {
      env: { ATTACHE_FORCE_TTY: "1" },
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/moved\.bin\s+\[█+\] 100%\s+12\.0 MiB \/ 12\.0 MiB/);
    const [attachment] = JSON.parse(result.stdout) as { name: string; mode: string; size: number; path: string }[];
    expect(attachment).toMatchObject({ name: "moved.bin", mode: "move", size: BIG_BYTES });
    expect(existsSync(moved)).toBe(false);
    expect(existsSync(attachment?.path ?? "")).toBe(true);
  });

  it("draws the bar for --mode reference, and the attachment points at the file", async () => {
    const kept = path.join(dir, "kept.bin");
    writeFileSync(kept, Buffer.alloc(BIG_BYTES, 3));
    const result = await runCli(["--dir", path.join(dir, "s8"), "stage", kept, "--mode", "reference", "--json"], {
      env: { ATTACHE_FORCE_TTY: "1" },
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/kept\.bin\s+\[█+\] 100%\s+12\.0 MiB \/ 12\.0 MiB/);
    expect((JSON.parse(result.stdout) as { mode: string; path: string }[])[0]).toMatchObject({ mode: "reference", path: kept });
    expect(existsSync(kept)).toBe(true);
  });

  it("draws no bar for a file under 8 MiB, even when forced", async () => {
    const small = path.join(dir, "small.bin");
    writeFileSync(small, Buffer.alloc(2 * 1024 * 1024, 4));
    const result = await runCli(["--dir", path.join(dir, "s9"), "stage", small], { env: { ATTACHE_FORCE_TTY: "1" } });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
  });

  it("shows percent and total for stdin redirected from a large file", async () => {
    const command = `${quote(process.execPath)} ${quote(BIN)} --dir ${quote(path.join(dir, "s10"))} stage - --name big.bin < ${quote(big)}`;
    const result = await runProcess("/bin/sh", ["-c", command], { env: { ATTACHE_FORCE_TTY: "1" } });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/stdin\s+\[█+\] 100%\s+12\.0 MiB \/ 12\.0 MiB/);
  });

  it("counts reference files in verify's bar, whose total grows past the managed blobs' size", async () => {
    const store = path.join(dir, "s11");
    const outside = path.join(dir, "outside.bin");
    writeFileSync(outside, Buffer.alloc(BIG_BYTES, 5));
    expect((await runCli(["--dir", store, "stage", "-q", big])).code).toBe(0);
    expect((await runCli(["--dir", store, "stage", "-q", outside, "--mode", "reference"])).code).toBe(0);
    const result = await runCli(["--dir", store, "verify", "--json"], { env: { ATTACHE_FORCE_TTY: "1" } });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ blobsChecked: 2, bytesChecked: 2 * BIG_BYTES });
    expect(result.stderr).toMatch(/verify\s+\[█+\] 100%\s+24\.0 MiB \/ 24\.0 MiB/);
    // Never more done than the total shown, never past 100%.
    expect(result.stderr).not.toContain("24.0 MiB / 12.0 MiB");
    expect(Math.max(...[...result.stderr.matchAll(/(\d+)%/g)].map((m) => Number(m[1])))).toBe(100);
  });
});
