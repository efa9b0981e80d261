/**
 * Temp directories for robustness tests, removed when the test file ends
 * (not after each test: crash and concurrency tests inspect a directory
 * across several steps).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll } from "vitest";

const made: string[] = [];
afterAll(() => {
  while (made.length > 0) fs.rmSync(made.pop() as string, { recursive: true, force: true });
});

/** A fresh directory under `parent` (the OS temp dir by default), removed after the test file. */
export function freshDir(prefix = "attache-robust-", parent = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  made.push(dir);
  return dir;
}
