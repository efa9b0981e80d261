/**
 * The conformance suite every {@link Manifest} must pass. A backend's test
 * file calls {@link describeManifest} with a factory that opens two handles
 * on one fresh backend; the cases are in manifest-attachments.ts,
 * manifest-pins.ts, manifest-fence.ts, manifest-inline.ts (skipped for a
 * manifest that keeps no blobs inline) and manifest-concurrency.ts.
 */
import { describe } from "vitest";
import type { Manifest } from "../backends/manifest.js";
import { attachmentCases } from "./manifest-attachments.js";
import { concurrencyCases } from "./manifest-concurrency.js";
import { fenceCases } from "./manifest-fence.js";
import { inlineCases } from "./manifest-inline.js";
import { pinCases } from "./manifest-pins.js";
import { closedAfterEach, type HandlePair } from "./support.js";

/** How {@link describeManifest} reaches the backend under test. */
export interface ManifestFactory {
  /**
   * Opens a fresh, empty manifest (called once per test) and returns its
   * first handle, opened, and a way to open a second handle on the same
   * manifest, as another process or host would. The suite closes every
   * handle after the test (each distinct object once); remove anything
   * else (a temp directory) with vitest's `onTestFinished` or `afterEach`.
   */
  open(): Promise<HandlePair<Manifest>>;
  /** How many rounds each concurrent case runs. @default 50 */
  rounds?: number;
}

/**
 * Declares the manifest conformance suite for one backend: every room's
 * behaviour, the condemn → delete → forget fence, writers and their
 * heartbeats, and concurrent calls through two handles.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import os from "node:os";
 * import path from "node:path";
 * import { onTestFinished } from "vitest";
 * import { sqliteManifest } from "attache-store";
 * import { describeManifest } from "attache-store/testing";
 *
 * async function opened(file: string) {
 *   const manifest = sqliteManifest({ file });
 *   await manifest.open();
 *   return manifest;
 * }
 *
 * describeManifest("sqlite", {
 *   async open() {
 *     const dir = fs.mkdtempSync(path.join(os.tmpdir(), "manifest-"));
 *     onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
 *     const file = path.join(dir, "manifest.db");
 *     // Two objects on one file: two processes sharing the database.
 *     return { first: await opened(file), second: () => opened(file) };
 *   },
 * });
 * ```
 */
export function describeManifest(name: string, factory: ManifestFactory): void {
  describe(`Manifest conformance: ${name}`, () => {
    const suite = { open: closedAfterEach(() => factory.open()), rounds: factory.rounds ?? 50 };
    describe("attachments", () => attachmentCases(suite));
    describe("pins", () => pinCases(suite));
    describe("blob fence", () => fenceCases(suite));
    describe("inline blobs", () => inlineCases(suite));
    describe("two handles at once", () => concurrencyCases(suite));
  });
}
