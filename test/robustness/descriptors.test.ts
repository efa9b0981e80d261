/**
 * Descriptor exhaustion: a child process started with `ulimit -n 200` stages
 * 1,500 files by path at once, then reads them all back at once. The store
 * bounds its own open files (operations queue for a slot instead of failing),
 * so every stage and read succeeds; and a failure caused by the descriptor
 * limit is never INVALID_SOURCE (a caller would drop a good file) but
 * IO_ERROR with `retryable: true`. Afterwards the store verifies clean.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import { requireDist } from "../helpers/processes.js";
import { auditStore } from "../helpers/store-audit.js";
import { freshDir } from "../helpers/temp-dirs.js";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "descriptors-worker.mjs");
const DESCRIPTOR_LIMIT = 200;
const FILES = 1_500;
const SHM = "/dev/shm";

interface Failures {
  [key: string]: { count: number; message: string };
}
interface WorkerResult {
  files: number;
  staged: number;
  stageFailures: Failures;
  readBack: number;
  readFailures: Failures;
  verify: { corrupt: string[]; missing: string[]; orphanFiles: string[] };
}

/** Runs the worker under `ulimit -n limit` and returns its JSON line. */
function runUnderLimit(limit: number, config: unknown): Promise<WorkerResult> {
  const entry = requireDist();
  const child = spawn("bash", ["-c", `ulimit -n ${limit} && exec "$0" "$1"`, process.execPath, WORKER], {
    env: { ...process.env, ATTACHE_WORKER: JSON.stringify(config), ATTACHE_DIST: entry },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      const line = out.trim().split("\n").reverse().find((l) => l.startsWith("{"));
      if (code !== 0 || line === undefined) reject(new Error(`worker failed (${code ?? signal}):\n${out}`));
      else resolve(JSON.parse(line) as WorkerResult);
    });
  });
}

/** Every failure must be IO_ERROR, retryable, and none INVALID_SOURCE. */
function misclassified(failures: Failures): string[] {
  return Object.entries(failures)
    .filter(([key]) => !key.startsWith("IO_ERROR|retryable=true|"))
    .map(([key, { count, message }]) => `${count} × ${key}: ${message}`);
}

describe("descriptor exhaustion", () => {
  it(`${FILES} concurrent path stages under ulimit -n ${DESCRIPTOR_LIMIT} all succeed, reads too, and the store verifies clean`, async () => {
    // tmpfs when there is one: the test is about descriptors, not about the speed of the disk.
    const root = freshDir("attache-descriptors-", fs.existsSync(SHM) ? SHM : undefined);
    const dir = path.join(root, "store");
    const sources = path.join(root, "sources");
    fs.mkdirSync(sources);
    for (let i = 0; i < FILES; i++) {
      // Every tenth file repeats the bytes of one staged into another scope, so deduplication is in the mix.
      const bytes = i % 10 === 9 ? fs.readFileSync(path.join(sources, `file-${String(i - 1).padStart(4, "0")}.bin`)) : randomBytes(2048 + (i % 7) * 512);
      fs.writeFileSync(path.join(sources, `file-${String(i).padStart(4, "0")}.bin`), bytes);
    }

    const result = await runUnderLimit(DESCRIPTOR_LIMIT, { dir, sources });

    expect(result.files).toBe(FILES);
    expect(misclassified(result.stageFailures), "stage failures that are not IO_ERROR retryable").toEqual([]);
    expect(misclassified(result.readFailures), "read failures that are not IO_ERROR retryable").toEqual([]);
    // Queue, don't fail: with the store bounding its own open files, nothing fails at all.
    expect(result.stageFailures).toEqual({});
    expect(result.staged).toBe(FILES);
    expect(result.readFailures).toEqual({});
    expect(result.readBack).toBe(FILES);
    expect(result.verify).toEqual({ corrupt: [], missing: [], orphanFiles: [] });

    // And seen from outside (the worker's verify hashed every blob already): every attachment is
    // there, and the manifest and the files agree.
    const store = await openStore({ dir, sweepInterval: false });
    try {
      expect((await store.list()).length).toBe(FILES);
    } finally {
      await store.close();
    }
    expect(auditStore(dir, { hash: false }).violations).toEqual([]);
  });
});
