/**
 * Issue 8, finding 13, through the real binary: `attache stage -` refuses a
 * closed stdin or a terminal (exit 2) instead of storing an empty attachment,
 * and `attache verify` fails on a damaged manifest.db even with --repair.
 */
import { existsSync, closeSync, openSync, statSync, writeSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, BIN, errorCodeOf, json, runCli, runProcess, tempDir } from "./cli-harness.js";

const SCRIPT = "/usr/bin/script";
const hasScript = existsSync(SCRIPT);
const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

const { dir, cleanup } = tempDir();
beforeAll(assertCliBuilt);
afterAll(cleanup);

describe.concurrent("attache stage - without bytes to read", () => {
  it("refuses a closed stdin (<&-) with a usage error and stores nothing", async () => {
    const store = path.join(dir, "closed");
    const command = [process.execPath, BIN, "--dir", store, "stage", "-"].map(quote).join(" ");
    const result = await runProcess("/bin/bash", ["-c", `${command} <&-`]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/stdin is closed/);
    expect(result.stdout).toBe("");
    expect(json<unknown[]>(await runCli(["--dir", store, "ls", "--json"]))).toEqual([]);
  });

  it.skipIf(!hasScript)("refuses a terminal as stdin with a usage error", async () => {
    const store = path.join(dir, "tty");
    const command = [process.execPath, BIN, "--dir", store, "stage", "-"].map(quote).join(" ");
    // `script` gives the command a pseudo-terminal as stdin; a hang here would mean it waited to read one.
    const result = await runProcess(SCRIPT, ["-qfec", command, "/dev/null"]);
    expect(result.code, result.stdout).toBe(2);
    expect(result.stdout).toMatch(/stdin is a terminal/);
    expect(json<unknown[]>(await runCli(["--dir", store, "ls", "--json"]))).toEqual([]);
  });

  it("still stages an empty pipe, and bytes from a pipe", async () => {
    const store = path.join(dir, "pipe");
    expect((await runCli(["--dir", store, "stage", "-", "-q"], { input: "" })).code).toBe(0);
    expect((await runCli(["--dir", store, "stage", "-", "-q"], { input: "piped" })).code).toBe(0);
    expect(json<unknown[]>(await runCli(["--dir", store, "ls", "--json"]))).toHaveLength(2);
  });
});

describe("attache verify on a damaged manifest.db", () => {
  it("reports the damage and fails with INTEGRITY_ERROR, with or without --repair", async () => {
    const store = path.join(dir, "damaged");
    const lines = Array.from({ length: 300 }, (_, i) => `file number ${i} `.repeat(4));
    for (let i = 0; i < lines.length; i += 100) {
      const batch = lines.slice(i, i + 100).map((line, j) => {
        const file = path.join(dir, `src-${i + j}.txt`);
        return { file, line };
      });
      for (const { file, line } of batch) {
        const fd = openSync(file, "w");
        writeSync(fd, line);
        closeSync(fd);
      }
      const staged = await runCli(["--dir", store, "stage", "-q", "--metadata", `{"note":"${"x".repeat(60)}"}`, ...batch.map((b) => b.file)]);
      expect(staged.code, staged.stderr).toBe(0);
    }
    const clean = await runCli(["--dir", store, "verify", "--json"]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(json<{ manifestProblems: string[] }>(clean).manifestProblems).toEqual([]);

    const file = path.join(store, "manifest.db");
    const pages = Math.floor(statSync(file).size / 4096);
    expect(pages).toBeGreaterThan(8);
    const fd = openSync(file, "r+");
    writeSync(fd, Buffer.alloc(2 * 4096, 0xa5), 0, 2 * 4096, Math.floor(pages / 2) * 4096);
    closeSync(fd);

    const text = await runCli(["--dir", store, "verify"]);
    expect(text.code).toBe(1);
    expect(errorCodeOf(text)).toBe("INTEGRITY_ERROR");
    expect(text.stderr).toMatch(/manifest \(manifest\.db\) damaged/);
    expect(text.stdout).toMatch(/\nmanifest\s+\d+ problems?\n/);
    const repair = await runCli(["--dir", store, "verify", "--repair", "--json"]);
    expect(repair.code).toBe(1);
    expect(errorCodeOf(repair)).toBe("INTEGRITY_ERROR");
    const report = json<{ manifestProblems: string[]; repaired: number }>(repair);
    expect(report.manifestProblems.length).toBeGreaterThan(0);
    expect(report.repaired).toBe(0);
  });
});
