/**
 * Issue 11, item 4: `attache upload`, `attache render` and `attache uploads`,
 * run as the real binary against the fake provider servers. The binary builds
 * each official SDK's client from the SDK's own environment variables (keys
 * and base URLs), so the fakes are reached exactly as the real APIs would be.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFailure } from "../../src/cli/error-text.js";
import { providerDestination } from "../../src/cli/provider-destination.js";
import { aborted, AttacheError } from "../../src/errors.js";
import { FakeAnthropic } from "../support/fake-providers/anthropic.js";
import { FakeGemini } from "../support/fake-providers/gemini.js";
import { FakeOpenAI } from "../support/fake-providers/openai.js";
import { assertCliBuilt, errorCodeOf, json, runCli, tempDir, type CliResult } from "./cli-harness.js";

/** A 1×1 PNG: sniffed as image/png. */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
const TEXT = "# Notes\n\nShip it on Friday.\n";
/** Above UPLOAD_BAR_BYTES (1 MiB), so a forced bar is drawn, and three 512 KiB parts. */
const LARGE = Buffer.alloc(1536 * 1024, 0).map((_byte, i) => (i * 31 + (i >> 9)) & 0xff);

const UPLOAD_KEYS = ["destination", "remoteId", "uri", "digest", "size", "uploadedAt", "expiresAt", "reused"];

const { dir, cleanup } = tempDir();
const storeDir = path.join(dir, "store");
const openai = new FakeOpenAI({ apiKeys: ["sk-test"] });
const anthropic = new FakeAnthropic({ apiKeys: ["sk-ant-test"] });
const gemini = new FakeGemini({ apiKeys: ["gemini-test-key"] });
let env: Record<string, string | undefined> = {};
const refs = { png: "", text: "", large: "" };

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function attache(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(["--dir", storeDir, ...args], { env: { ...env, ...extraEnv } });
}

async function ok(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<CliResult> {
  const result = await attache(args, extraEnv);
  expect(result.code, result.stderr).toBe(0);
  return result;
}

function usageError(result: CliResult): string {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe("");
  expect(result.stderr).toMatch(/^attache: USAGE: /);
  return result.stderr;
}

beforeAll(async () => {
  assertCliBuilt();
  await Promise.all([openai.start(), anthropic.start(), gemini.start()]);
  env = {
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: `${openai.url}/v1`,
    OPENAI_ORG_ID: undefined,
    OPENAI_PROJECT_ID: undefined,
    ANTHROPIC_API_KEY: "sk-ant-test",
    ANTHROPIC_AUTH_TOKEN: undefined,
    ANTHROPIC_BASE_URL: anthropic.url,
    GEMINI_API_KEY: "gemini-test-key",
    GOOGLE_API_KEY: undefined,
    GOOGLE_GEMINI_BASE_URL: gemini.url,
    GOOGLE_GENAI_USE_VERTEXAI: undefined,
  };
  writeFileSync(path.join(dir, "pixel.png"), PNG);
  writeFileSync(path.join(dir, "notes.md"), TEXT);
  writeFileSync(path.join(dir, "large.bin"), LARGE);
  const staged = (await ok(["stage", "-q", ...["pixel.png", "notes.md", "large.bin"].map((f) => path.join(dir, f))])).stdout.trim().split("\n");
  [refs.png, refs.text, refs.large] = staged as [string, string, string];
});
afterAll(async () => {
  await Promise.all([openai.close(), anthropic.close(), gemini.close()]);
  cleanup();
});

describe("attache upload", () => {
  let openaiId = "";

  it("uploads to OpenAI once: the fake holds the bytes; a second run reuses the file with no request", async () => {
    const first = json<Record<string, unknown>>(await ok(["upload", refs.png, "--to", "openai", "--json"]));
    expect(Object.keys(first)).toEqual(UPLOAD_KEYS);
    expect(first).toMatchObject({ destination: expect.stringMatching(/^openai:[0-9a-f]{24}$/) as unknown, uri: null, digest: sha256(PNG), size: PNG.length, expiresAt: null, reused: false });
    openaiId = first.remoteId as string;
    expect(openai.files.get(openaiId)).toMatchObject({ filename: "pixel.png", purpose: "user_data" });
    expect(sha256(openai.fileBytes(openaiId))).toBe(sha256(PNG));

    const before = openai.requests();
    const second = json<Record<string, unknown>>(await ok(["upload", refs.png, "--to", "openai", "--json"]));
    expect(second).toMatchObject({ remoteId: openaiId, reused: true, uploadedAt: first.uploadedAt });
    expect(openai.requests()).toBe(before);

    // The table says so in words; -q prints the id alone.
    expect((await ok(["upload", refs.png, "--to", "openai"])).stdout).toMatch(new RegExp(`^remote id +${openaiId}\\n[^]*\\noutcome +reused: the ledger had it, nothing was sent\\n$`));
    expect((await ok(["upload", refs.png, "--to", "openai", "-q"])).stdout).toBe(`${openaiId}\n`);
    expect(openai.requests()).toBe(before);
  });

  it("--verify uploads again a file the provider lost", async () => {
    const known = json<{ remoteId: string }>(await ok(["upload", refs.png, "--to", "openai", "--json"]));
    (openai.files.get(known.remoteId) as { deleted: boolean }).deleted = true;
    const verified = json<{ remoteId: string; reused: boolean }>(await ok(["upload", refs.png, "--to", "openai", "--verify", "--json"]));
    expect(verified.reused).toBe(false);
    expect(verified.remoteId).not.toBe(known.remoteId);
    expect(sha256(openai.fileBytes(verified.remoteId))).toBe(sha256(PNG));
  });

  it("uploads to Anthropic and to Gemini", async () => {
    const [toAnthropic, toGemini] = await Promise.all([
      ok(["upload", refs.text, "--to", "anthropic", "--expires-after", "2d", "--json"]),
      ok(["upload", refs.text, "--to", "gemini", "--json"]),
    ]);
    const a = json<{ remoteId: string; expiresAt: string; destination: string }>(toAnthropic);
    expect(a.remoteId).toMatch(/^file_/);
    expect(a.destination).toMatch(/^anthropic:/);
    expect(Date.parse(a.expiresAt) - Date.now()).toBeGreaterThan(47 * 3600_000);
    expect(anthropic.fileBytes(a.remoteId).toString()).toBe(TEXT);

    const g = json<{ remoteId: string; uri: string; destination: string }>(toGemini);
    expect(g.remoteId).toMatch(/^files\//);
    expect(g.uri).toBe(`${gemini.url}/v1beta/${g.remoteId}`);
    expect(gemini.fileBytes(g.remoteId).toString()).toBe(TEXT);

    // ANTHROPIC_AUTH_TOKEN stands in for the key (the same credential: the same destination); --force sends anyway.
    const forced = json<{ remoteId: string; reused: boolean; destination: string }>(
      await ok(["upload", refs.text, "--to", "anthropic", "--force", "--json"], { ANTHROPIC_API_KEY: undefined, ANTHROPIC_AUTH_TOKEN: "sk-ant-test" }),
    );
    expect(forced).toMatchObject({ reused: false, destination: a.destination });
    expect(forced.remoteId).not.toBe(a.remoteId);
    expect(anthropic.fileBytes(forced.remoteId).toString()).toBe(TEXT);
  });

  it("sends a large file in parts with --chunk-size and --concurrency, drawing a bar on stderr", async () => {
    const parts = openai.requests("uploads.parts");
    const result = await ok(["upload", refs.large, "--to", "openai", "--chunk-size", "512KiB", "--concurrency", "2", "--json"], { ATTACHE_FORCE_TTY: "1" });
    const record = json<{ remoteId: string; reused: boolean }>(result);
    expect(record.reused).toBe(false);
    expect(openai.requests("uploads.parts") - parts).toBe(3);
    expect(sha256(openai.fileBytes(record.remoteId))).toBe(sha256(LARGE));
    expect(result.stderr).toMatch(/^large\.bin .* 100% {2}1\.5 MiB \/ 1\.5 MiB/m);
  });

  it("reports a missing API key, an unknown provider and misplaced flags as usage errors (exit 2)", async () => {
    const [noKey, blankKey, unknown, noProvider, purpose, expiry, chunk] = await Promise.all([
      attache(["upload", refs.png, "--to", "openai"], { OPENAI_API_KEY: undefined }),
      attache(["upload", refs.png, "--to", "gemini"], { GEMINI_API_KEY: "  " }),
      attache(["upload", refs.png, "--to", "nope"]),
      attache(["upload", refs.png]),
      attache(["upload", refs.png, "--to", "anthropic", "--purpose", "batch"]),
      attache(["upload", refs.png, "--to", "gemini", "--expires-after", "1d"]),
      attache(["upload", refs.png, "--to", "gemini", "--chunk-size", "100KiB"]),
    ]);
    expect(usageError(noKey)).toContain("--to openai needs an API key: set OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint).");
    expect(usageError(blankKey)).toContain("set GOOGLE_API_KEY or GEMINI_API_KEY");
    expect(usageError(unknown)).toContain("Allowed choices are openai, anthropic, gemini");
    expect(usageError(noProvider)).toContain("--to <provider>");
    expect(usageError(purpose)).toContain("--purpose applies to --to openai");
    expect(usageError(expiry)).toContain("Gemini keeps files for 48 hours");
    // A value only the provider can judge is still the caller's flag, in flag words.
    expect(usageError(chunk)).toMatch(/^attache: USAGE: --chunk-size must be a whole number of bytes from 262144 to \d+, a multiple of 262144; got 102400\.\n$/);
  });

  it("fails with UPLOAD_FAILED (exit 1) when the provider refuses the key", async () => {
    const result = await attache(["upload", refs.text, "--to", "openai"], { OPENAI_API_KEY: "sk-wrong" });
    expect(result.code).toBe(1);
    expect(errorCodeOf(result)).toBe("UPLOAD_FAILED");
    expect(result.stderr).toContain("(attache upload --help lists the variables)");
  });
});

describe("attache render", () => {
  it("prints an inline Anthropic image part as JSON", async () => {
    const part = json<{ type: string; source: { type: string; media_type: string; data: string } }>(await ok(["render", refs.png, "--for", "anthropic"]));
    expect(part).toEqual({ type: "image", source: { type: "base64", media_type: "image/png", data: PNG.toString("base64") } });
  });

  it("refers to the OpenAI file by id with --via file --to openai, through the ledger (no request)", async () => {
    const uploaded = json<{ remoteId: string }>(await ok(["upload", refs.png, "--to", "openai", "--json"]));
    const before = openai.requests();
    const part = json<Record<string, unknown>>(await ok(["render", refs.png, "--for", "openai.responses", "--via", "file", "--to", "openai", "--detail", "low"]));
    expect(part).toEqual({ type: "input_image", file_id: uploaded.remoteId, detail: "low" });
    expect(openai.requests()).toBe(before);
  });

  it("refuses flags that cannot work together, and a target that cannot take the type", async () => {
    const [noProvider, otherProvider, detail, unknown, codexText] = await Promise.all([
      attache(["render", refs.png, "--for", "anthropic", "--via", "file"]),
      attache(["render", refs.png, "--for", "anthropic", "--to", "openai"]),
      attache(["render", refs.png, "--for", "gemini", "--detail", "low"]),
      attache(["render", refs.png, "--for", "nope"]),
      attache(["render", refs.text, "--for", "codex"]),
    ]);
    expect(usageError(noProvider)).toContain("--via file uploads the attachment: name the provider, as in --to anthropic.");
    expect(usageError(otherProvider)).toContain("--for anthropic refers to anthropic files; use --to anthropic");
    expect(usageError(detail)).toContain("--detail applies to --for openai.responses and openai.chat");
    expect(usageError(unknown)).toContain("Allowed choices are openai.responses");
    expect(codexText.code).toBe(1);
    expect(errorCodeOf(codexText)).toBe("UNSUPPORTED");
    expect(codexText.stderr).toContain("or render it --for another target.");
  });
});

describe("attache uploads", () => {
  it("lists the ledger: every destination, or one provider's", async () => {
    const [allResult, geminiResult, limited, tableResult, unknown] = await Promise.all([
      ok(["uploads", "--json"]),
      ok(["uploads", "--destination", "gemini", "--json"]),
      ok(["uploads", "--limit", "1", "--json"]),
      ok(["uploads", "--destination", "openai"]),
      attache(["uploads", "--destination", "nope"]),
    ]);
    const all = json<Record<string, unknown>[]>(allResult);
    expect(all.map((entry) => Object.keys(entry))).toEqual(all.map(() => UPLOAD_KEYS.slice(0, -1)));
    const providers = all.map((entry) => (entry.destination as string).split(":")[0]);
    expect(providers.sort()).toEqual(["anthropic", "gemini", "openai", "openai"]);

    const onlyGemini = json<{ destination: string; digest: string }[]>(geminiResult);
    expect(onlyGemini).toEqual([expect.objectContaining({ digest: sha256(Buffer.from(TEXT)) })]);
    const byKey = json<unknown[]>(await ok(["uploads", "--destination", onlyGemini[0]?.destination as string, "--json"]));
    expect(byKey).toEqual(onlyGemini);
    expect(json<unknown[]>(limited)).toHaveLength(1);

    const table = tableResult.stdout.split("\n");
    expect(table[0]).toMatch(/^DESTINATION +REMOTE ID +DIGEST +SIZE +UPLOADED +EXPIRES$/);
    expect(table.filter((line) => line.startsWith("openai:"))).toHaveLength(2);
    expect(usageError(unknown)).toContain("--destination takes a destination key");
  });

  it("exports the ledger per destination in the Prometheus output, with this process's counters", async () => {
    const [prometheus, summary] = await Promise.all([ok(["metrics", "--prometheus"]), ok(["metrics"])]);
    const text = prometheus.stdout;
    expect(text).toMatch(/^attache_remote_files\{destination="openai:[0-9a-f]{24}"\} 2$/m);
    expect(text).toMatch(new RegExp(`^attache_remote_bytes\\{destination="openai:[0-9a-f]{24}"\\} ${PNG.length + LARGE.length}$`, "m"));
    expect(text).toMatch(/^attache_remote_files\{destination="gemini:[0-9a-f]{24}"\} 1$/m);
    for (const counter of ["uploads", "upload_ledger_hits", "upload_bytes_sent", "upload_retries", "upload_failures"]) {
      expect(text).toContain(`# TYPE attache_${counter}_total counter\n`);
    }
    expect(summary.stdout).toMatch(/\nremote\s+4 files \(1\.5 MiB\) at 3 destinations\n$/);
  });
});

describe("completion of the delivery commands", () => {
  it("completes the providers, targets and choices of upload and render", async () => {
    const script = (await runCli(["completion", "bash"])).stdout;
    expect(script).toContain("upload:--to) COMPREPLY=($(compgen -W 'openai anthropic gemini' -- \"$cur\")); return 0 ;;");
    expect(script).toContain("render:--for) COMPREPLY=($(compgen -W 'openai.responses openai.chat anthropic gemini ai-sdk codex' -- \"$cur\")); return 0 ;;");
    expect(script).toContain("render:--via) COMPREPLY=($(compgen -W 'auto inline file' -- \"$cur\")); return 0 ;;");
    expect(script).toMatch(/^ {4}uploads\) flags='--destination --limit'; args=none;/m);
  });
});

describe("delivery in CLI words (unit)", () => {
  it("names the package to install when the SDK is missing", async () => {
    const missing = Object.assign(new Error("Cannot find package '@google/genai' imported from /x/dist/cli.js"), { code: "ERR_MODULE_NOT_FOUND" });
    const fail = (message: string): never => {
      throw new Error(message);
    };
    await expect(providerDestination({ to: "gemini" }, fail, { GEMINI_API_KEY: "k" }, () => Promise.reject(missing))).rejects.toThrow(
      "--to gemini needs the @google/genai package: npm install @google/genai (an optional peer dependency of attache-store).",
    );
  });

  it("says an interrupted upload resumes, and renders the library's via and limits hints as flags", () => {
    const interrupted = new AttacheError("ABORTED", "aborted", { cause: new Error("interrupted by SIGINT"), destination: "openai:abc" });
    expect(describeFailure(interrupted).message).toBe("Interrupted (Ctrl-C); the upload's progress is kept: run the same command again to resume it.");
    expect(describeFailure(aborted(new Error("interrupted by SIGINT"))).message).toBe("Interrupted (Ctrl-C); nothing was kept.");
    const tooLarge = new AttacheError(
      "TOO_LARGE",
      "This image is 9000000 bytes as base64 (6750000 bytes of file) inline, over the image limit of 5242880 bytes for anthropic. Pass a destination to render it by file id, or raise limits.image if your account allows more.",
    );
    expect(describeFailure(tooLarge).message).toMatch(/ Give --to <provider> to render it by file id\.$/);
    const unsupported = new AttacheError("UNSUPPORTED", 'openai.chat cannot take image/png by file id, only inline: use via "inline" or "auto".');
    expect(describeFailure(unsupported).message).toMatch(/use --via inline or --via auto\.$/);
  });
});
