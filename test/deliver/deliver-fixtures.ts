/**
 * What the store-level delivery tests share: stores in temp dirs, the three
 * fake providers with SDK clients pointed at them, a second handle on the
 * manifest to watch the ledger from outside the store, and small waits.
 */
import fs from "node:fs";
import path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { expect } from "vitest";
import { openStore, type Store, type StoreOptions } from "../../src/index.js";
import type { Manifest, UploadRow } from "../../src/backends/manifest.js";
import { sqliteManifest } from "../../src/backends/sqlite/manifest.js";
import { anthropicFiles, type AnthropicFilesOptions } from "../../src/providers/anthropic.js";
import type { Destination } from "../../src/providers/destination.js";
import { geminiFiles, type GeminiFilesOptions } from "../../src/providers/gemini.js";
import { openaiFiles, type OpenAIFilesOptions } from "../../src/providers/openai.js";
import { FakeAnthropic } from "../support/fake-providers/anthropic.js";
import { FakeGemini } from "../support/fake-providers/gemini.js";
import { FakeOpenAI } from "../support/fake-providers/openai.js";
import { freshDir } from "../helpers/temp-dirs.js";

export { sha256, testBytes } from "../support/fake-providers/upload-input.js";

/** Retries fast enough for a test: 3 retries, waits of at most 20 ms (a Retry-After up to 2 s is honoured). */
export const FAST_RETRY = { retries: 3, minDelay: 1, maxDelay: 2_000 };

/** A 1×1 PNG. */
export const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC", "base64");
/** A 1×1 GIF (Gemini takes no GIF). */
export const GIF = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");
export const PDF = Buffer.from("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
export const TEXT = Buffer.from("Meeting notes: ship the ledger on Friday. ✓\n", "utf8");

/** A store in a fresh temp dir, without a background sweeper. */
export async function tempStore(options: StoreOptions = {}): Promise<Store> {
  return openStore({ dir: freshDir("attache-deliver-"), sweepInterval: false, ...options });
}

/** The fake providers one test uses, started and stopped together. */
export class Fakes {
  readonly openai = new FakeOpenAI({ apiKeys: ["sk-test", "sk-other"] });
  readonly anthropic = new FakeAnthropic({ apiKeys: ["sk-ant-test"] });
  readonly gemini = new FakeGemini({ apiKeys: ["gemini-test-key"] });

  async start(): Promise<void> {
    await Promise.all([this.openai.start(), this.anthropic.start(), this.gemini.start()]);
  }

  /** Fails the test if a fake's own handler broke (a 500 the fake did not mean). */
  async stop(): Promise<void> {
    const unexpected = [...this.openai.unexpected, ...this.anthropic.unexpected, ...this.gemini.unexpected];
    await Promise.all([this.openai.close(), this.anthropic.close(), this.gemini.close()]);
    expect(unexpected).toEqual([]);
  }

  openaiClient(apiKey = "sk-test"): OpenAI {
    return new OpenAI({ apiKey, baseURL: `${this.openai.url}/v1` });
  }

  openaiDestination(options: Partial<OpenAIFilesOptions> = {}): Destination {
    return openaiFiles({ client: this.openaiClient(), purpose: "user_data", retry: FAST_RETRY, ...options });
  }

  anthropicDestination(options: Partial<AnthropicFilesOptions> = {}): Destination {
    return anthropicFiles({ client: new Anthropic({ apiKey: "sk-ant-test", baseURL: this.anthropic.url }), retry: FAST_RETRY, ...options });
  }

  geminiDestination(options: Partial<GeminiFilesOptions> = {}): Destination {
    const client = new GoogleGenAI({ apiKey: "gemini-test-key", httpOptions: { baseUrl: this.gemini.url } });
    return geminiFiles({ client, retry: FAST_RETRY, ...options });
  }

  /** Requests that reached any fake. */
  requests(): number {
    return this.openai.requests() + this.anthropic.requests() + this.gemini.requests();
  }
}

/** A second handle on a store's SQLite manifest, to read the ledger (resume state, holder) as another process would. */
export async function ledgerProbe(dir: string): Promise<Manifest & { row(destination: string, digest: string): Promise<UploadRow | undefined> }> {
  const manifest = sqliteManifest({ file: path.join(dir, "manifest.db") });
  await manifest.open();
  return Object.assign(manifest, { row: (destination: string, digest: string) => manifest.uploads.get(destination, digest) });
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.fail(`expected a rejection, got ${JSON.stringify(value)}`),
    (err: unknown) => err,
  );
}

/** Polls `check` every 5 ms until it returns a value other than undefined/false. */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = "the condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Overwrites a managed blob's bytes in place, same length (blobs are 0400: made writable, then read-only again). */
export function corruptBlob(file: string): void {
  const bytes = fs.readFileSync(file);
  bytes[Math.floor(bytes.length / 2)] = ((bytes[Math.floor(bytes.length / 2)] as number) ^ 0xff) & 0xff;
  fs.chmodSync(file, 0o600);
  fs.writeFileSync(file, bytes);
  fs.chmodSync(file, 0o400);
}

/** Non-null part ids of an OpenAI Uploads checkpoint. */
export function partsDone(row: UploadRow | undefined): number {
  const resume = row?.resume as { partIds?: (string | null)[] } | null | undefined;
  return resume?.partIds?.filter((id) => id !== null).length ?? 0;
}
