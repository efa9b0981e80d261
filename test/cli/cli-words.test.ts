/**
 * Issue 9, item 8: the CLI speaks CLI. Errors name flags and commands rather
 * than library calls, a ttl beyond any date is a usage error, a checksum
 * mismatch shows both digests, an uncreatable --dir fails at once, and Ctrl-C
 * erases the progress bar before the message.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFailure } from "../../src/cli/error-text.js";
import { aborted, AttacheError, integrityError, ioError, notFound, storeClosed, tooLarge } from "../../src/errors.js";
import { parseRef } from "../../src/ids.js";
import { assertCliBuilt, BIN, cleanEnv, errorCodeOf, ROOT, runCli, tempDir } from "./cli-harness.js";

const { dir, cleanup } = tempDir();
const file = path.join(dir, "file.txt");
const aFile = path.join(dir, "a-file");

beforeAll(() => {
  assertCliBuilt();
  writeFileSync(file, "some text\n");
  writeFileSync(aFile, "not a directory\n");
});
afterAll(cleanup);

/** A library call in a message: `verify()`, `openStore()`, `persist: true`, `store.verify({ … })`. */
const LIBRARY_WORDS = /\b[a-zA-Z]+\((\{[^)]*\})?\)|persist: true|\bmaxSize\b|\bcontentType\b/;

describe("errors in CLI words (unit: the one translation table)", () => {
  const withCause = (code: string) => Object.assign(new Error(`${code}: something failed`), { code });
  const thrown = (fn: () => unknown): AttacheError => {
    try {
      fn();
    } catch (err) {
      return err as AttacheError;
    }
    throw new Error("did not throw");
  };
  const errors: [string, AttacheError][] = [
    ["an I/O failure with no known cause", ioError("open the store in /x", withCause("EIO"))],
    ["a full disk", ioError("write the blob", withCause("ENOSPC"))],
    ["a permission problem", ioError("open the store in /x", withCause("EACCES"))],
    ["a held lock", ioError("write the manifest", withCause("SQLITE_BUSY"))],
    ["a missing attachment", notFound("attache://01m7yjx2b6ch4fe7a0x0zfv5zd")],
    ["damaged bytes", integrityError("attache://01m7yjx2b6ch4fe7a0x0zfv5zd", "/x/blob", "The bytes changed on disk.")],
    ["a source over the size limit", tooLarge(10)],
    ["a closed store", storeClosed()],
    ["an abort", aborted(new Error("interrupted by SIGINT"))],
    ["a malformed ref", thrown(() => parseRef("nope"))],
    ["a ttl beyond any date", new AttacheError("INVALID_ARGUMENT", 'ttl of 8640000000000000 ms is beyond any date; use persist: true (or Infinity) for "never expires".')],
    ["a bad content type", new AttacheError("INVALID_ARGUMENT", 'contentType "x y" is not a media type such as "image/png".')],
  ];
  it.each(errors)("names no library call for %s", (_what, err) => {
    const { message } = describeFailure(err);
    expect(message).not.toMatch(LIBRARY_WORDS);
  });

  it("says attache verify where the library says verify()", () => {
    const err = ioError("open the store in /x", withCause("EIO"));
    expect(err.message).toContain("run verify()");
    expect(describeFailure(err)).toEqual({ usage: false, code: "IO_ERROR", message: expect.stringContaining("run attache verify.") as unknown });
  });

  it("says attache verify --repair, not store.verify({ repair: true })", () => {
    const { message } = describeFailure(integrityError("attache://x", "/x/blob", "The bytes changed on disk."));
    expect(message).toContain("(attache verify --repair)");
  });

  it("says Ctrl-C for an abort on SIGINT, and names SIGTERM", () => {
    expect(describeFailure(aborted(new Error("interrupted by SIGINT"))).message).toBe("Interrupted (Ctrl-C); nothing was kept.");
    expect(describeFailure(aborted(new Error("interrupted by SIGTERM"))).message).toBe("Interrupted by SIGTERM; nothing was kept.");
  });

  it("names the flag, not the option field", () => {
    const err = new AttacheError("INVALID_ARGUMENT", 'checksum "xyz" is not a SHA-256: pass 64 hex characters, optionally prefixed "sha256:".');
    expect(describeFailure(err).message).toMatch(/^--checksum "xyz" is not a SHA-256/);
  });

  it("adds the digests to an error that carries them but does not show them", () => {
    const err = new AttacheError("CHECKSUM_MISMATCH", "The bytes do not match the expected checksum; nothing was kept.", {
      expected: `sha256:${"0".repeat(64)}`,
      actual: `sha256:${"a".repeat(64)}`,
    });
    expect(describeFailure(err).message).toBe(
      `The bytes do not match the expected checksum; nothing was kept. Expected sha256:${"0".repeat(64)}, got sha256:${"a".repeat(64)}.`,
    );
    // Not twice, when the message already shows them.
    const shown = new AttacheError("INTEGRITY_ERROR", `hashing to sha256:${"b".repeat(64)}, where sha256:${"c".repeat(64)} was staged.`, {
      expected: `sha256:${"c".repeat(64)}`,
      actual: `sha256:${"b".repeat(64)}`,
    });
    expect(describeFailure(shown).message).toBe(shown.message);
  });
});

describe.concurrent("errors in CLI words (end to end)", () => {
  it("a --dir that names a file: IO_ERROR naming --dir, no library call, exit 1", async () => {
    const result = await runCli(["--dir", aFile, "ls"]);
    expect(result.code).toBe(1);
    expect(errorCodeOf(result)).toBe("IO_ERROR");
    expect(result.stderr).toContain(`The store directory ${aFile} (from --dir) is not a directory.`);
    expect(result.stderr).toContain("Pass --dir");
    expect(result.stderr).not.toMatch(LIBRARY_WORDS);
  });

  it("ATTACHE_DIR naming a file is named as ATTACHE_DIR", async () => {
    const result = await runCli(["ls"], { env: { ATTACHE_DIR: aFile } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("(from ATTACHE_DIR) is not a directory");
  });

  it("a --dir below a file: names the file in the way, exit 1", async () => {
    const result = await runCli(["--dir", path.join(aFile, "store"), "ls"]);
    expect(result.code).toBe(1);
    expect(errorCodeOf(result)).toBe("IO_ERROR");
    expect(result.stderr).toContain(`cannot be created: ${aFile} is not a directory`);
  });

  it("an I/O failure opening the store says run attache verify, not verify()", async () => {
    // A directory where the manifest file should be: SQLite cannot open it.
    const store = path.join(dir, "manifest-is-a-dir");
    mkdirSync(path.join(store, "manifest.db"), { recursive: true });
    const result = await runCli(["--dir", store, "ls"]);
    expect(result.code).toBe(1);
    expect(errorCodeOf(result)).toBe("IO_ERROR");
    expect(result.stderr).toContain("run attache verify.");
    expect(result.stderr).not.toMatch(LIBRARY_WORDS);
  });

  it("--ttl 100000000d is a usage error naming --persist, exit 2", async () => {
    const result = await runCli(["--dir", path.join(dir, "ttl"), "stage", file, "--ttl", "100000000d"]);
    expect(result.code).toBe(2);
    expect(errorCodeOf(result)).toBe("USAGE");
    expect(result.stderr).toMatch(/--ttl .* is beyond any date; use --persist/);
    expect(result.stderr).not.toContain("persist: true");
    expect(result.stdout).toBe("");
  });

  it("a malformed ref points at attache stage, not stage()", async () => {
    const result = await runCli(["--dir", path.join(dir, "ref"), "cat", "nope"]);
    expect(result.code).toBe(1);
    expect(errorCodeOf(result)).toBe("INVALID_ARGUMENT");
    expect(result.stderr).toContain("as printed by attache stage");
    expect(result.stderr).not.toMatch(LIBRARY_WORDS);
  });

  it("a bad --type names --type, not contentType", async () => {
    const result = await runCli(["--dir", path.join(dir, "type"), "stage", "-", "--type", "not a type"], { input: "bytes" });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^attache: INVALID_ARGUMENT: --type "not a type" is not a media type/);
  });

  it("CHECKSUM_MISMATCH prints the expected and the actual digest", async () => {
    const expected = "0".repeat(64);
    const actual = createHash("sha256").update("bytes").digest("hex");
    const result = await runCli(["--dir", path.join(dir, "sum"), "stage", "-", "--checksum", expected], { input: "bytes" });
    expect(result.code).toBe(1);
    expect(errorCodeOf(result)).toBe("CHECKSUM_MISMATCH");
    expect(result.stderr).toContain(`Expected sha256:${expected}, got sha256:${actual}.`);
  });
});

describe.concurrent("a --dir that cannot be created", () => {
  it.skipIf(!existsSync("/proc/self"))("fails at once under /proc/self (Node's recursive mkdir loops there), exit 1", async () => {
    // Killed after 30 s, so a regression fails here instead of leaving a spinning process behind.
    const result = await new Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, "--dir", "/proc/self/nope", "ls"], { env: cleanEnv(), stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
      child.on("error", reject);
      child.on("close", (status, signal) => resolve({ status, signal, stderr }));
    });
    expect(result.signal).toBeNull();
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^attache: IO_ERROR: Could not create the store directory \/proc\/self\/nope \(from --dir\): .*\n$/);
  }, 40_000);

  it("still creates missing parents of a --dir that can be created", async () => {
    const store = path.join(dir, "deep", "er", "store");
    const result = await runCli(["--dir", store, "stage", "-q", file]);
    expect(result.code).toBe(0);
    expect(existsSync(path.join(store, "manifest.db"))).toBe(true);
  });
});

/** Larger than the CLI's 8 MiB threshold for drawing a bar on a stream. */
const CHUNK = Buffer.alloc(1024 * 1024, 7);
const SCRIPT = "/usr/bin/script";

/**
 * Starts `attache stage -` on a stream without end (fed here, or read from
 * /dev/zero), waits until the progress bar is drawn, sends SIGINT and
 * returns what the process printed.
 */
function interruptStage(
  { file: program, args, env, feed }: { file: string; args: string[]; env: NodeJS.ProcessEnv; feed: boolean },
  output: "stdout" | "stderr",
  pidOf: (child: ReturnType<typeof spawn>) => number | undefined,
): Promise<{ code: number | null; text: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: ROOT, env, stdio: "pipe" });
    let text = "";
    let sent = false;
    let done = false;
    child[output].on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const pid = pidOf(child);
      if (!sent && /MiB/.test(text) && pid !== undefined) {
        sent = true;
        process.kill(pid, "SIGINT");
      }
    });
    const pump = () => {
      while (!done && child.stdin.write(CHUNK));
      if (!done) child.stdin.once("drain", pump);
    };
    child.stdin.on("error", () => undefined);
    if (feed) pump();
    else child.stdin.end();
    child.on("error", reject);
    child.on("close", (code) => {
      done = true;
      resolve({ code, text });
    });
  });
}

describe.concurrent("Ctrl-C while the progress bar is drawn", () => {
  it("on a pipe (ATTACHE_FORCE_TTY=1): the message starts a line of its own after the last frame", async () => {
    const store = path.join(dir, "ctrl-c-pipe");
    const { code, text } = await interruptStage(
      { file: process.execPath, args: [BIN, "--dir", store, "stage", "-", "--name", "big.bin"], env: cleanEnv({ ATTACHE_FORCE_TTY: "1" }), feed: true },
      "stderr",
      (child) => child.pid,
    );
    expect(code).toBe(1);
    expect(text).toMatch(/stdin\s+\d+\.\d MiB/);
    // Every frame is a whole line, and the error is the last line, whole.
    expect(text).toMatch(/MiB\/s\nattache: ABORTED: Interrupted \(Ctrl-C\); nothing was kept\.\n$/);
  });

  it.skipIf(!existsSync(SCRIPT))("on a terminal: the bar's line is erased and the message written in its place", async () => {
    const store = path.join(dir, "ctrl-c-tty");
    const pidFile = path.join(dir, "ctrl-c-tty.pid");
    const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;
    // exec keeps the pid the shell wrote down; /dev/zero never ends.
    const inner = `echo $$ > ${quote(pidFile)}; exec ${[process.execPath, BIN, "--dir", store, "stage", "-", "--name", "big.bin"].map(quote).join(" ")} < /dev/zero`;
    const { code, text } = await interruptStage(
      { file: SCRIPT, args: ["-qfec", inner, "/dev/null"], env: cleanEnv({ COLUMNS: "120" }), feed: false },
      "stdout",
      () => (existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "" ? Number(readFileSync(pidFile, "utf8")) : undefined),
    );
    expect(code).toBe(1);
    expect(text).toMatch(/stdin\s+\d+\.\d MiB/);
    // Back up to the bar's line, to its first column, erase it: then the message, alone on its line.
    const esc = String.fromCharCode(27);
    const erased = new RegExp(`\\r?\\n${esc}\\[1A(?:\\r|${esc}\\[1G)${esc}\\[2K(attache: [^\\r\\n]*)\\r?\\n$`).exec(text);
    expect(erased, JSON.stringify(text.slice(-300))).not.toBeNull();
    expect(erased?.[1]).toBe("attache: ABORTED: Interrupted (Ctrl-C); nothing was kept.");
  });
});
