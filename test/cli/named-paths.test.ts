/** `attache path --named` and `attache exec`: named, read-only paths for tools, from the command line. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, errorCodeOf, runCli, tempDir } from "./cli-harness.js";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
beforeAll(() => assertCliBuilt());

function freshStore() {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const store = path.join(dir, "store");
  const attache = (args: string[]) => runCli(["--dir", store, ...args]);
  return { dir, store, attache };
}

async function stageNamed(attache: (args: string[]) => ReturnType<typeof runCli>, dir: string, name: string, text: string): Promise<string> {
  writeFileSync(path.join(dir, name), text);
  const staged = await attache(["stage", "-q", path.join(dir, name)]);
  expect(staged.code, staged.stderr).toBe(0);
  return staged.stdout.trim();
}

describe("named paths on the command line", () => {
  it("path --named prints a path ending in the display name that outlives the command", async () => {
    const { dir, store, attache } = freshStore();
    const ref = await stageNamed(attache, dir, "main.py", "print('hi')\n");
    const printed = await attache(["path", ref, "--named", "--ttl", "10m"]);
    expect(printed.code, printed.stderr).toBe(0);
    const file = printed.stdout.trim();
    expect(path.basename(file)).toBe("main.py");
    expect(file.startsWith(path.join(store, "leases"))).toBe(true);
    // The command has exited; the path is still there, held by its lease.
    expect(readFileSync(file, "utf8")).toBe("print('hi')\n");
    expect((await attache(["path", ref, "--ttl", "10m"])).code).toBe(2);
  });

  it("exec runs a command with the named paths ({} or appended), passes its exit code on, and releases them", async () => {
    const { dir, store, attache } = freshStore();
    const a = await stageNamed(attache, dir, "index.ts", "export {};\n");
    const b = await stageNamed(attache, dir, "notes.md", "# notes\n");
    const listed = await attache(["exec", a, b, "--", "sh", "-c", 'for f in "$@"; do basename "$f"; cat "$f"; done', "sh", "{}"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toBe("index.ts\nexport {};\nnotes.md\n# notes\n");
    const appended = await attache(["exec", a, "--", "sh", "-c", 'basename "$0"']);
    expect(appended.stdout.trim()).toBe("index.ts");
    expect((await attache(["exec", a, "--", "sh", "-c", "exit 7"])).code).toBe(7);
    // Every lease exec took is released: no named path is left.
    expect(existsSync(path.join(store, "leases")) ? readdirSync(path.join(store, "leases")) : []).toEqual([]);
  });

  it("exec without a command is a usage error; an unknown command or ref fails cleanly", async () => {
    const { dir, attache } = freshStore();
    const a = await stageNamed(attache, dir, "a.txt", "a\n");
    expect((await attache(["exec", a])).code).toBe(2);
    const missing = await attache(["exec", a, "--", path.join(dir, "no-such-program")]);
    expect(missing.code).toBe(1);
    expect(errorCodeOf(missing)).toBe("INVALID_ARGUMENT");
    const unknown = await attache(["exec", "attache://01zzzzzzzzzzzzzzzzzzzzzzzz", "--", "true"]);
    expect(errorCodeOf(unknown)).toBe("NOT_FOUND");
  });
});
