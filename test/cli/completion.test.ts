/**
 * `attache completion bash|zsh|fish`: each script is produced, parses in its
 * shell, registers itself, and lists every command and flag that `--help`
 * lists (the script is derived from the program, so it cannot drift).
 */
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, runCli, runProcess, tempDir } from "./cli-harness.js";

const { dir, cleanup } = tempDir();
const SHELLS = ["bash", "zsh", "fish"] as const;

/** The absolute path of a shell, or null when it is not installed. */
function which(shell: string): string | null {
  try {
    return execFileSync("/bin/sh", ["-c", `command -v ${shell}`], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}
const bash = which("bash");
const zsh = which("zsh");
const fish = which("fish");

const scripts = new Map<string, string>();
let commands: string[] = [];
let stageFlags: string[] = [];

beforeAll(async () => {
  assertCliBuilt();
  for (const shell of SHELLS) {
    const result = await runCli(["completion", shell]);
    expect(result.code, result.stderr).toBe(0);
    scripts.set(shell, result.stdout);
    writeFileSync(path.join(dir, `attache.${shell}`), result.stdout);
  }
  // What --help lists: the commands, and stage's long flags.
  const help = (await runCli(["--help"])).stdout;
  commands = [...(help.split("\nCommands:\n")[1] ?? "").matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1] as string);
  const stageHelp = (await runCli(["stage", "--help"])).stdout;
  stageFlags = [...stageHelp.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1] as string);
});
afterAll(cleanup);

/** Runs `script` in bash after sourcing the bash completion, and returns its stdout. */
async function inBash(script: string): Promise<string> {
  const result = await runProcess(bash as string, ["--norc", "--noprofile", "-c", `source ${JSON.stringify(path.join(dir, "attache.bash"))}\n${script}`]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

/** What the bash completion offers for the words typed so far (the last one is being completed). */
function bashComplete(...words: string[]): Promise<string> {
  const array = words.map((w) => `'${w}'`).join(" ");
  return inBash(`COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _attache_completion; printf '%s\\n' "\${COMPREPLY[@]}"`);
}

describe("attache completion", () => {
  it.each(SHELLS)("prints a %s script that names every command and stage's flags", (shell) => {
    const script = scripts.get(shell) ?? "";
    expect(script).toContain(`attache completion ${shell}`);
    expect(commands).toContain("stage");
    expect(commands).toContain("completion");
    for (const command of commands) expect(script, command).toMatch(new RegExp(`\\b${command}\\b`));
    expect(stageFlags).toContain("--mode");
    for (const flag of stageFlags) {
      // fish spells long flags as `-l mode`.
      expect(script, flag).toContain(shell === "fish" ? `-l ${flag.slice(2)}` : flag);
    }
  });

  it("refuses an unknown shell as a usage error, exit 2", async () => {
    const result = await runCli(["completion", "tcsh"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^attache: USAGE: .*Allowed choices are bash, zsh, fish/);
  });

  it.skipIf(bash === null)("bash: bash -n accepts the script", async () => {
    const result = await runProcess(bash as string, ["-n", path.join(dir, "attache.bash")]);
    expect(result.code, result.stderr).toBe(0);
  });

  it.skipIf(bash === null)("bash: sourcing it registers complete -F … attache", async () => {
    expect(await inBash("complete -p attache")).toMatch(/^complete -o default -F _attache_completion attache\n$/);
  });

  it.skipIf(bash === null)("bash: completes commands, flags, choices and help's command names", async () => {
    expect((await bashComplete("attache", "st")).split("\n")).toContain("stage");
    expect((await bashComplete("attache", "--dir", "/tmp", "v")).trim()).toBe("verify");
    expect((await bashComplete("attache", "stage", "--mo")).trim()).toBe("--mode");
    expect((await bashComplete("attache", "stage", "--mode", "")).trim().split("\n")).toEqual(["copy", "move", "reference"]);
    expect((await bashComplete("attache", "ls", "--d")).trim()).toBe("--dir");
    expect((await bashComplete("attache", "completion", "")).trim().split("\n")).toEqual(["bash", "zsh", "fish"]);
    expect((await bashComplete("attache", "help", "ve")).trim()).toBe("verify");
  });

  it.skipIf(zsh === null)("zsh: zsh -n accepts the script, and sourcing it after compinit registers _attache", async () => {
    const file = path.join(dir, "attache.zsh");
    expect((await runProcess(zsh as string, ["-n", file])).code).toBe(0);
    const result = await runProcess(zsh as string, ["-fc", `autoload -Uz compinit && compinit -u -D; source ${JSON.stringify(file)}; print -r -- $_comps[attache]`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("_attache\n");
  });

  it.skipIf(fish === null)("fish: the script parses and completes commands, flags and choices", async () => {
    const file = path.join(dir, "attache.fish");
    expect((await runProcess(fish as string, ["--no-execute", file])).code).toBe(0);
    const complete = async (line: string) => {
      const result = await runProcess(fish as string, ["--no-config", "-c", `source ${JSON.stringify(file)}; complete -C${JSON.stringify(line)}`]);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout.split("\n").map((entry) => entry.split("\t")[0]);
    };
    expect(await complete("attache st")).toContain("stage");
    expect(await complete("attache stage --mode ")).toEqual(expect.arrayContaining(["copy", "move", "reference"]));
    expect(await complete("attache ls --li")).toContain("--limit");
    expect(await complete("attache completion ")).toEqual(expect.arrayContaining(["bash", "zsh", "fish"]));
  });

  it("is listed in attache --help", async () => {
    expect(existsSync(path.join(dir, "attache.bash"))).toBe(true);
    expect((await runCli(["--help"])).stdout).toMatch(/\n {2}completion <shell>/);
  });
});
