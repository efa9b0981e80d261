/**
 * What the conformance suites need besides vitest's `describe`/`it`/`expect`:
 * a settable clock, SHA-256, temporary files removed after the test, and
 * the bookkeeping that closes every handle a test opened.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, onTestFinished } from "vitest";

/** A settable clock: pass `clock.now` as a store's `clock` option. */
export class TestClock {
  constructor(public time = Date.UTC(2026, 0, 1)) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A fresh directory under the OS temp dir, removed when the current test finishes. Call it inside a test. */
export function temporaryDirectory(prefix = "attache-suite-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `contents` to `name` in a fresh temporary directory; returns the file's path. */
export function writeTemporaryFile(name: string, contents: Uint8Array | string): string {
  const file = path.join(temporaryDirectory("attache-suite-src-"), name);
  fs.writeFileSync(file, contents);
  return file;
}

/**
 * Two handles on one backend, as two processes (or two hosts) sharing it
 * would hold them: each sees what the other committed.
 */
export interface HandlePair<T> {
  /** A handle on a fresh, empty backend, already opened. */
  readonly first: T;
  /**
   * Opens another handle on the same backend. A backend that is one shared
   * object in this process (the memory ones) may return `first` itself.
   */
  second(): Promise<T>;
}

interface Closable {
  close(): Promise<void>;
}

/**
 * Wraps a factory so that every handle it gives out is closed after the test
 * (each distinct object once, the last opened first). Call it inside a
 * `describe`: it registers the `afterEach` there, which vitest runs before
 * the hooks of enclosing suites, so a factory's own cleanup (removing the
 * directory the handles live in) still finds them closed.
 */
export function closedAfterEach<T extends Closable>(open: () => Promise<HandlePair<T>>): () => Promise<HandlePair<T>> {
  const opened: T[] = [];
  afterEach(async () => {
    const distinct = [...new Set(opened.splice(0))].reverse();
    for (const handle of distinct) await handle.close();
  });
  return async () => {
    const pair = await open();
    opened.push(pair.first);
    return {
      first: pair.first,
      async second() {
        const handle = await pair.second();
        opened.push(handle);
        return handle;
      },
    };
  };
}

/** Runs `fn` `rounds` times, one round after the other (each round runs its own calls concurrently). */
export async function repeat(rounds: number, fn: (round: number) => Promise<void>): Promise<void> {
  for (let round = 0; round < rounds; round++) await fn(round);
}

/**
 * Waits a few turns of the event loop (0 to 4), a number drawn afresh for
 * each round and salt, so that concurrent calls meet in a different order
 * from round to round. Deterministic: a failing round fails again.
 */
export async function stagger(round: number, salt = 0): Promise<void> {
  let mixed = Math.imul(round + 1, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca6b);
  mixed = Math.imul(mixed ^ (mixed >>> 15), 0x2c1b3c6d);
  const turns = ((mixed ^ (mixed >>> 13)) >>> 0) % 5;
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The error code a promise rejects with, or `undefined` if it resolves. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}
