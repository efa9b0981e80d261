import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach } from "vitest";
import { memoryBlobStore, memoryManifest, openStore, type Store, type StoreOptions } from "../../src/index.js";
import type { StoreHarness as SuiteHarness } from "../../src/testing/index.js";

/** A settable clock for tests. */
export class TestClock {
  constructor(public time = Date.UTC(2026, 0, 1)) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A fresh temp directory, removed after the test. */
export function tempDir(prefix = "attache-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Writes a file in a fresh temp directory and returns its path. */
export function writeTempFile(name: string, contents: Uint8Array | string): string {
  const file = path.join(tempDir("attache-src-"), name);
  fs.writeFileSync(file, contents);
  return file;
}

/** How a conformance suite gets a store: `open` may be called again to reopen the same one. */
export interface StoreHarness {
  readonly name: string;
  /** True when the store keeps its data on disk under `dir`. */
  readonly embedded: boolean;
  open(options?: StoreOptions): Promise<Store>;
  /** The store's directory (embedded) or undefined. */
  readonly dir: string;
}

export function embeddedHarness(): StoreHarness {
  const dir = tempDir();
  return {
    name: "embedded",
    embedded: true,
    dir,
    async open(options = {}) {
      const store = await openStore({ dir, sweepInterval: false, ...options });
      cleanups.push(() => store.close());
      return store;
    },
  };
}

export function memoryHarness(): StoreHarness {
  const blobStore = memoryBlobStore();
  const manifest = memoryManifest();
  const dir = tempDir();
  return {
    name: "memory",
    embedded: false,
    dir,
    async open(options = {}) {
      const store = await openStore({ dir, sweepInterval: false, blobStore, manifest, ...options });
      cleanups.push(() => store.close());
      return store;
    },
  };
}

/** Registers a cleanup to run after the current test. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/**
 * The store suite's harness on the embedded default (filesystem + SQLite):
 * every store, first or second, opens the same directory, as processes
 * sharing it do. The suite closes the stores it opens.
 */
export function embeddedSuiteHarness(): SuiteHarness {
  const dir = tempDir();
  return {
    localFiles: true,
    open: (options = {}) => openStore({ dir, sweepInterval: false, ...options }),
    openSecond: (options = {}) => openStore({ dir, sweepInterval: false, ...options }),
  };
}

/**
 * The store suite's harness on memory backends: every store shares one
 * memoryBlobStore and one memoryManifest, as processes share a bucket and a
 * database. `open` reuses one directory (and so one local cache); each
 * `openSecond` is another host, with a directory and a cacheDir of its own.
 */
export function memorySuiteHarness(): SuiteHarness {
  const blobStore = memoryBlobStore();
  const manifest = memoryManifest();
  const dir = tempDir();
  return {
    localFiles: false,
    open: (options = {}) => openStore({ dir, sweepInterval: false, blobStore, manifest, ...options }),
    openSecond(options = {}) {
      const elsewhere = tempDir("attache-other-host-");
      return openStore({ dir: elsewhere, cacheDir: path.join(elsewhere, "cache"), sweepInterval: false, blobStore, manifest, ...options });
    },
  };
}
