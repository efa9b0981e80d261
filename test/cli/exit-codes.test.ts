import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, errorCodeOf, ROOT, runCli, tempDir } from "./cli-harness.js";

const { dir, cleanup } = tempDir();
const store = path.join(dir, "store");
const file = path.join(dir, "file.txt");
const attache = (args: string[], input?: string) => runCli(["--dir", store, ...args], input === undefined ? {} : { input });

beforeAll(() => {
  assertCliBuilt();
  writeFileSync(file, "some text\n");
});
afterAll(cleanup);

describe.concurrent("help and version", () => {
  it("prints help listing every command, exit 0", async () => {
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    for (const command of ["stage", "ls", "show", "cat", "path", "rm", "release", "sweep", "verify", "metrics", "reset"]) {
      expect(help.stdout).toMatch(new RegExp(`\\n  ${command} `));
    }
    expect(help.stdout).toContain("ATTACHE_DIR");
  });

  it("prints each command's help with the global options, exit 0", async () => {
    const help = await runCli(["stage", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: attache stage \[options\] <sources\.\.\.>/);
    expect(help.stdout).toContain("--mode <mode>");
    expect(help.stdout).toContain("--dir <path>");
    expect(help.stdout).toContain("--json");
  });

  it("prints the package version", async () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    const result = await runCli(["--version"]);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});

describe.concurrent("usage errors exit 2", () => {
  const cases: [string, string[], RegExp][] = [
    ["no command", [], /Usage: attache/],
    ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["an unknown option", ["ls", "--frob"], /unknown option '--frob'/],
    ["a missing argument", ["show"], /missing required argument 'ref'/],
    ["malformed --metadata JSON", ["stage", file, "--metadata", "{nope"], /--metadata must be JSON/],
    ["--metadata that is not an object", ["stage", file, "--metadata", "[1,2]"], /--metadata must be a JSON object/],
    ["a bad --ttl", ["stage", file, "--ttl", "soon"], /--ttl "soon" is not a duration/],
    ["a negative --ttl", ["stage", file, "--ttl", "-5m"], /--ttl/],
    ["an unknown --mode", ["stage", file, "--mode", "steal"], /Allowed choices are copy, move, reference/],
    ["stdin twice", ["stage", "-", "-"], /stdin \(-\) can be staged only once/],
    ["--name with several sources", ["stage", file, file, "--name", "x"], /--name applies to one source/],
    ["--checksum with several sources", ["stage", file, file, "--checksum", "0".repeat(64)], /--checksum applies to one source/],
    ["moving stdin", ["stage", "-", "--mode", "move"], /stdin can only be copied/],
    ["a bad --limit", ["ls", "--limit", "ten"], /expected a whole number/],
    ["--json with --prometheus", ["metrics", "--json", "--prometheus"], /pick one/],
    ["reset without --yes", ["reset"], /pass --yes to confirm/],
  ];
  it.each(cases)("for %s", async (_what, args, message) => {
    const result = await attache(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    if (args.length > 0) expect(result.stderr).toMatch(/^attache: USAGE: /);
    expect(result.stdout).toBe("");
  });
});

describe.concurrent("store failures exit 1 with one line on stderr", () => {
  const cases: [string, string[], string, string?][] = [
    ["an unknown ref", ["show", "attache://01m7yjx2b6ch4fe7a0x0zfv5zd"], "NOT_FOUND"],
    ["a malformed ref", ["cat", "not-a-ref"], "INVALID_ARGUMENT"],
    ["a missing file", ["stage", "/definitely/not/here.txt"], "INVALID_SOURCE"],
    ["a directory", ["stage", "/"], "INVALID_SOURCE"],
    ["a malformed checksum", ["stage", "-", "--checksum", "xyz"], "INVALID_ARGUMENT", "bytes"],
    ["a wrong checksum", ["stage", "-", "--checksum", "0".repeat(64)], "CHECKSUM_MISMATCH", "bytes"],
    ["a bad content type", ["stage", "-", "--type", "not a type"], "INVALID_ARGUMENT", "bytes"],
    ["an empty scope", ["release", ""], "INVALID_ARGUMENT"],
  ];
  it.each(cases)("for %s", async (_what, args, code, input) => {
    const result = await attache(args, input);
    expect(result.code).toBe(1);
    expect(errorCodeOf(result)).toBe(code);
    expect(result.stdout).toBe("");
  });

  it("prints what was staged before a failing source, then fails", async () => {
    const result = await attache(["stage", file, "/definitely/not/here.txt", file, "--json"]);
    expect(result.code).toBe(1);
    expect(errorCodeOf(result)).toBe("INVALID_SOURCE");
    expect((JSON.parse(result.stdout) as { name: string }[]).map((a) => a.name)).toEqual(["file.txt"]);
  });
});
