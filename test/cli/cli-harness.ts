/**
 * Runs the real `attache` binary (bin/attache.js → dist/cli.js) as a child
 * process against throwaway store directories. The build is not this
 * harness's job: CI runs `npm run build` before the tests, and a missing or
 * stale dist/cli.js fails loudly here instead of testing old code.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = path.join(ROOT, "bin", "attache.js");
const BUILT_CLI = path.join(ROOT, "dist", "cli.js");
const CLI_SOURCES = path.join(ROOT, "src", "cli");

/** Fails with instructions when dist/cli.js is missing or older than src/cli. */
export function assertCliBuilt(): void {
  if (!existsSync(BUILT_CLI)) {
    throw new Error("dist/cli.js is missing: run `npm run build` before `vitest run test/cli`.");
  }
  const built = statSync(BUILT_CLI).mtimeMs;
  const stale = readdirSync(CLI_SOURCES).filter((file) => statSync(path.join(CLI_SOURCES, file)).mtimeMs > built);
  if (stale.length > 0) {
    throw new Error(`dist/cli.js is older than src/cli/${stale[0]}: run \`npm run build\` before \`vitest run test/cli\`.`);
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface RunOptions {
  /** Bytes for stdin; stdin is closed (empty) when absent. */
  input?: string | Uint8Array;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** An environment without the variables that change the CLI's behaviour, so tests state them explicitly. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.ATTACHE_DIR;
  delete env.ATTACHE_FORCE_TTY;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs `node bin/attache.js ...args` and collects its output and exit code. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, [BIN, ...args], options);
}

/** Runs any program the same way (used for `script` and shell pipelines). */
export function runProcess(file: string, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd ?? ROOT, env: cleanEnv(options.env), stdio: "pipe" });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", reject);
    // A child that exits without reading stdin (bash -n) closes the pipe: EPIPE there is not the test's failure.
    child.stdin.on("error", () => undefined);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), stdoutBytes });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = "attache-cli-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Parses stdout as JSON, with the output in the message when it is not JSON. */
export function json<T = unknown>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}

/** The keys of an attachment in `--json` output, as documented in docs/cli.md. */
export const ATTACHMENT_KEYS = [
  "ref",
  "id",
  "scope",
  "name",
  "size",
  "contentType",
  "digest",
  "checksum",
  "path",
  "mode",
  "persist",
  "ttlMs",
  "createdAt",
  "updatedAt",
  "expiresAt",
  "source",
  "metadata",
];

/** Exactly one line on stderr, `attache: <CODE>: <message>`; returns the code. */
export function errorCodeOf(result: CliResult): string {
  const match = /^attache: ([A-Z_]+): \S.*\n$/.exec(result.stderr);
  if (match === null) throw new Error(`stderr is not one "attache: <CODE>: <message>" line:\n${result.stderr}`);
  return match[1] as string;
}
