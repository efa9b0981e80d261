/**
 * Child processes for crash and concurrency tests. Workers are plain `.mjs`
 * files that import the built package (`dist/index.js`): no TypeScript
 * runner is installed, and a worker must be killable at any instant.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DIST_ENTRY = path.join(REPO_ROOT, "dist", "index.js");

/** Fails with a clear message when the package has not been built. */
export function requireDist(): string {
  if (!fs.existsSync(DIST_ENTRY)) {
    throw new Error(`${DIST_ENTRY} is missing: run "npm run build" before the crash and concurrency tests (their workers import the built package).`);
  }
  return DIST_ENTRY;
}

export interface Worker {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the worker wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when a stdout line satisfies `match`; rejects if the worker exits first. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
}

/** Starts `node <script>` with its JSON config in the ATTACHE_WORKER env var. */
export function startWorker(script: string, config: unknown, env: NodeJS.ProcessEnv = {}): Worker {
  requireDist();
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env, ATTACHE_WORKER: JSON.stringify(config), ATTACHE_DIST: DIST_ENTRY },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let pending = "";
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    lines.push(...parts);
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      resolve({ code, signal });
      for (const wake of waiters) wake();
    }),
  );
  return {
    child,
    exited,
    output: () => out,
    waitForLine(match, timeoutMs = 30_000) {
      return new Promise<string>((resolve, reject) => {
        let seen = 0;
        const timer = setTimeout(() => finish(new Error(`worker printed no matching line in ${timeoutMs} ms:\n${out}`)), timeoutMs);
        const check = () => {
          for (; seen < lines.length; seen++) {
            const line = lines[seen] as string;
            if (match(line)) return finish(undefined, line);
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            finish(new Error(`worker exited (${child.exitCode ?? child.signalCode}) before the expected line:\n${out}`));
          }
        };
        const finish = (err?: Error, line?: string) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve(line as string);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Runs a worker to completion and returns the last stdout line parsed as JSON. */
export async function runWorkerToEnd<T>(script: string, config: unknown, env?: NodeJS.ProcessEnv): Promise<T> {
  const worker = startWorker(script, config, env);
  const { code, signal } = await worker.exited;
  const lines = worker.output().trim().split("\n");
  if (code !== 0) throw new Error(`worker ${path.basename(script)} failed (${code ?? signal}):\n${worker.output()}`);
  const last = [...lines].reverse().find((line) => line.startsWith("{"));
  if (last === undefined) throw new Error(`worker printed no JSON result:\n${worker.output()}`);
  return JSON.parse(last) as T;
}
