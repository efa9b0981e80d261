/**
 * Runs postgres-worker.ts in child processes. The built package has no
 * PostgreSQL entry (and no TypeScript runner is installed), so the worker is
 * bundled once per test file with esbuild (tsup's), its packages left to
 * node_modules, and removed after the file.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll } from "vitest";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, "..", "..");

let bundled: Promise<string> | undefined;
let bundleDir: string | undefined;

afterAll(() => {
  if (bundleDir !== undefined) fs.rmSync(bundleDir, { recursive: true, force: true });
});

/** The worker, bundled into a temp directory next to a link to the repo's node_modules. */
function workerBundle(): Promise<string> {
  bundled ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "attache-pg-worker-"));
    bundleDir = dir;
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
    const outfile = path.join(dir, "worker.mjs");
    await build({
      entryPoints: [path.join(HERE, "postgres-worker.ts")],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      logLevel: "silent",
    });
    return outfile;
  })();
  return bundled;
}

export interface WorkerRun {
  /** Resolves when the process exits on its own, with its code and everything it printed. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string; ms: number }>;
  kill(): void;
}

/** Starts the worker on `task`; it is killed if it outlives `timeoutMs`. */
export async function runWorker(task: "migrate" | "idle", url: string, schema: string, dir = "", timeoutMs = 20_000): Promise<WorkerRun> {
  const script = await workerBundle();
  const started = Date.now();
  const child = spawn(process.execPath, [script, task, url, schema, dir], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string; ms: number }>((resolve) => {
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, ms: Date.now() - started });
    });
  });
  return { exited, kill: () => child.kill("SIGKILL") };
}
