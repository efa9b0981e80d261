/**
 * Child processes for crash and concurrency tests. Workers are plain `.mjs`
 * files that import the built package (`dist/index.js`): no TypeScript
 * runner is installed, and a worker must be killable at any instant.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freshDir } from "./temp-dirs.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/**
 * The built package the workers import. ATTACHE_TEST_DIST_DIR points the crash and concurrency
 * workers at another build (a deliberately broken one, to check that a suite can fail) without
 * touching the shared dist/.
 */
const DIST_DIR = process.env.ATTACHE_TEST_DIST_DIR ?? path.join(REPO_ROOT, "dist");
export const DIST_ENTRY = path.join(DIST_DIR, "index.js");

let snapshot: string | undefined;

/**
 * Fails with a clear message when the package has not been built; otherwise
 * returns the entry the workers import: a private copy of dist/ taken once
 * per test file, because a rebuild running meanwhile empties dist/ for a few
 * seconds and would make workers fail for reasons unrelated to the store.
 */
export function requireDist(): string {
  if (snapshot !== undefined && fs.existsSync(snapshot)) return snapshot;
  // A rebuild in progress removes dist/ briefly: give it a few seconds.
  const deadline = Date.now() + 20_000;
  while (!fs.existsSync(DIST_ENTRY) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  if (!fs.existsSync(DIST_ENTRY)) {
    throw new Error(`${DIST_ENTRY} is missing: run "npm run build" before the crash and concurrency tests (their workers import the built package).`);
  }
  // The copy lives in the OS temp dir, next to a link to the repo's node_modules so its imports resolve.
  const copy = freshDir("attache-dist-");
  fs.cpSync(DIST_DIR, path.join(copy, "dist"), { recursive: true, filter: (file) => !file.endsWith(".d.ts") && !file.endsWith(".map") });
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(copy, "node_modules"), "dir");
  snapshot = path.join(copy, "dist", "index.js");
  return snapshot;
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
  const entry = requireDist();
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env, ATTACHE_WORKER: JSON.stringify(config), ATTACHE_DIST: entry },
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

export interface AgentReply {
  seq: number | string;
  ok: boolean;
  value?: unknown;
  error?: { code: string | null; message: string; name?: string };
}

export interface Agent {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends one command and resolves with its reply (the reply's `error` when it failed). */
  send(op: string, args?: Record<string, unknown>): Promise<AgentReply>;
  /** Sends one command and resolves with its value; rejects with the error reply. */
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Resolves when the agent reports that a paused filesystem call was reached. */
  paused(timeoutMs?: number): Promise<{ paused: string; file: string }>;
  output(): string;
}

/** Starts a store agent (test/stress/store-agent.mjs) and waits until its store is open. */
export async function startAgent(script: string, config: unknown): Promise<Agent> {
  const entry = requireDist();
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ATTACHE_WORKER: JSON.stringify(config), ATTACHE_DIST: entry },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let pending = "";
  let seq = 0;
  const waiting = new Map<number | string, (reply: AgentReply) => void>();
  const early = new Map<number | string, AgentReply>();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      resolve({ code, signal });
      for (const [, wake] of waiting) wake({ seq: -1, ok: false, error: { code: null, message: `agent exited (${code ?? signal}):\n${out}` } });
      waiting.clear();
    }),
  );
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    for (const line of parts) {
      let reply: AgentReply;
      try {
        reply = JSON.parse(line) as AgentReply;
      } catch {
        continue;
      }
      const wake = waiting.get(reply.seq);
      if (wake) {
        waiting.delete(reply.seq);
        wake(reply);
      } else early.set(reply.seq, reply);
    }
  });
  const wait = (key: number | string, timeoutMs = 30_000) =>
    new Promise<AgentReply>((resolve, reject) => {
      const known = early.get(key);
      if (known) {
        early.delete(key);
        return resolve(known);
      }
      const timer = setTimeout(() => {
        waiting.delete(key);
        reject(new Error(`agent gave no reply to ${String(key)} in ${timeoutMs} ms:\n${out}`));
      }, timeoutMs);
      waiting.set(key, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  const ready = await wait("ready");
  if (!ready.ok) throw new Error(`agent did not start:\n${out}`);
  const agent: Agent = {
    child,
    exited,
    output: () => out,
    send(op, args = {}) {
      const id = ++seq;
      const reply = wait(id);
      child.stdin?.write(`${JSON.stringify({ seq: id, op, ...args })}\n`);
      return reply;
    },
    async call<T>(op: string, args?: Record<string, unknown>) {
      const reply = await agent.send(op, args);
      if (!reply.ok) throw Object.assign(new Error(`${op}: ${reply.error?.code ?? ""} ${reply.error?.message ?? ""}`), { code: reply.error?.code });
      return reply.value as T;
    },
    async paused(timeoutMs) {
      const reply = await wait("pause", timeoutMs);
      return reply.value as { paused: string; file: string };
    },
  };
  return agent;
}
