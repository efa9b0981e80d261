/**
 * The conformance suite every pair of backends must pass as a store: the
 * public API's behaviour, whatever the manifest and the blob store. A
 * backend's test file calls {@link describeStore} with a factory of
 * harnesses; the cases are in store-staging.ts, store-reading.ts,
 * store-lifecycle.ts and store-concurrency.ts.
 */
import { describe } from "vitest";
import { concurrencyCases } from "./store-concurrency.js";
import { storeSuiteContext, type StoreHarness } from "./store-fixtures.js";
import { lifecycleCases } from "./store-lifecycle.js";
import { readingCases } from "./store-reading.js";
import { stagingCases } from "./store-staging.js";

/** How {@link describeStore} gets stores on the backends under test. */
export interface StoreFactory {
  /**
   * A harness on fresh, empty backends (called once per test). The suite
   * closes every store it opens after the test; remove anything else (a
   * temp directory) with vitest's `onTestFinished` or `afterEach`.
   */
  create(): StoreHarness | Promise<StoreHarness>;
  /** How many rounds each concurrent case runs. @default 50 */
  rounds?: number;
}

/**
 * Declares the store conformance suite for one pair of backends.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import os from "node:os";
 * import path from "node:path";
 * import { onTestFinished } from "vitest";
 * import { memoryBlobStore, memoryManifest, openStore } from "attache-store";
 * import { describeStore } from "attache-store/testing";
 *
 * function temporaryDirectory(): string {
 *   const dir = fs.mkdtempSync(path.join(os.tmpdir(), "store-"));
 *   onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
 *   return dir;
 * }
 *
 * describeStore("memory", {
 *   create() {
 *     // Stores on one memory backend act like processes sharing a bucket and a database.
 *     const blobStore = memoryBlobStore();
 *     const manifest = memoryManifest();
 *     const dir = temporaryDirectory();
 *     return {
 *       localFiles: false,
 *       open: (options) => openStore({ dir, sweepInterval: false, blobStore, manifest, ...options }),
 *       openSecond(options) {
 *         const elsewhere = temporaryDirectory(); // another host: its own local cache
 *         const cacheDir = path.join(elsewhere, "cache");
 *         return openStore({ dir: elsewhere, cacheDir, sweepInterval: false, blobStore, manifest, ...options });
 *       },
 *     };
 *   },
 * });
 * ```
 */
export function describeStore(name: string, factory: StoreFactory): void {
  describe(`Store conformance: ${name}`, () => {
    const suite = storeSuiteContext(() => factory.create(), factory.rounds ?? 50);
    stagingCases(suite);
    readingCases(suite);
    lifecycleCases(suite);
    concurrencyCases(suite);
  });
}
