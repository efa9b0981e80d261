/**
 * The README's agent turns, run as a user runs them: `node
 * examples/openai-turn.mjs` and `examples/anthropic-turn.mjs` in child
 * processes, importing the package by its name (a package may import itself
 * through its own "exports"), with the SDKs pointed at the strict local
 * fakes by OPENAI_BASE_URL / ANTHROPIC_BASE_URL and dummy keys. Nothing
 * leaves the machine.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeAnthropic, FILES_BETA } from "../support/fake-providers/anthropic.js";
import { FakeOpenAI } from "../support/fake-providers/openai.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The 32×32 PNG the examples make when given no files. */
const SAMPLE_PNG_BYTES = 140;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "attache-examples-"));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs an example with only the provider variables given (none inherited: a real key must never be used here). */
function runExample(script: string, env: Record<string, string>): Promise<Run> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(OPENAI|ANTHROPIC)_/.test(name)));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, "examples", script)],
      { cwd: ROOT, env: { ...inherited, ATTACHE_DIR: path.join(dir, "store"), ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("examples/openai-turn.mjs", () => {
  let fake: FakeOpenAI;
  beforeEach(async () => {
    fake = new FakeOpenAI();
    await fake.start();
  });
  afterEach(async () => {
    expect(fake.unexpected).toEqual([]);
    await fake.close();
  });
  const env = (): Record<string, string> => ({ OPENAI_API_KEY: "sk-test", OPENAI_BASE_URL: `${fake.url}/v1`, OPENAI_MODEL: "gpt-test" });

  it("stages a photo and a PDF, renders them as Responses parts and completes a turn; the PDF is uploaded once", async () => {
    const run = await runExample("openai-turn.mjs", env());
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);

    expect(fake.requests("files.create")).toBe(1);
    const [file] = [...fake.files.values()];
    expect(file).toMatchObject({ filename: "invoice.pdf", purpose: "user_data" });
    expect(file?.bytes.subarray(0, 5).toString("latin1")).toBe("%PDF-");
    const id = file?.id as string;

    expect(fake.responseRequests).toEqual([
      {
        model: "gpt-test",
        parts: [
          { type: "input_text", via: "text" },
          { type: "input_image", via: "inline", contentType: "image/png", size: SAMPLE_PNG_BYTES },
          { type: "input_file", via: "file_id", fileId: id, filename: "invoice.pdf", size: file?.bytes.length },
        ],
      },
    ]);
    expect(run.stdout.split("\n")).toEqual([
      expect.stringMatching(/^staged photo\.png \(image\/png, 140 bytes\) and invoice\.pdf \(application\/pdf, \d+ bytes\)$/),
      "photo part: input_image, inline data URL",
      `pdf part: input_file, file_id ${id}`,
      `model: Received input_text, input_image (inline image/png, ${SAMPLE_PNG_BYTES} bytes), input_file (file_id ${id}).`,
      `next turn: ${id} reused from the ledger, nothing sent`,
      "",
    ]);
  });

  it("uploads nothing on a second run against the same store: the ledger outlives the process", async () => {
    expect((await runExample("openai-turn.mjs", env())).code).toBe(0);
    const second = await runExample("openai-turn.mjs", env());
    expect(second.code).toBe(0);
    expect(fake.requests("files.create")).toBe(1);
    expect(fake.requests("responses.create")).toBe(2);
    const id = [...fake.files.keys()][0] as string;
    expect(second.stdout).toContain(`pdf part: input_file, file_id ${id}`);
  });

  it("says what to set when there is neither a key nor a base URL", async () => {
    const run = await runExample("openai-turn.mjs", {});
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Set OPENAI_API_KEY");
    expect(fake.requests()).toBe(0);
  });
});

describe("examples/anthropic-turn.mjs", () => {
  let fake: FakeAnthropic;
  beforeEach(async () => {
    fake = new FakeAnthropic();
    await fake.start();
  });
  afterEach(async () => {
    expect(fake.unexpected).toEqual([]);
    await fake.close();
  });
  const env = (): Record<string, string> => ({ ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_MODEL: "claude-test" });

  it("stages a photo and a PDF, renders them as Messages blocks and completes a turn with the files beta; the PDF is uploaded once", async () => {
    const run = await runExample("anthropic-turn.mjs", env());
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);

    expect(fake.requests("files.upload")).toBe(1);
    const [file] = [...fake.files.values()];
    expect(file).toMatchObject({ filename: "invoice.pdf", mimeType: "application/pdf" });
    expect(file?.bytes.subarray(0, 5).toString("latin1")).toBe("%PDF-");
    expect(file?.expiresAt).not.toBeNull();
    const id = file?.id as string;

    expect(fake.messageRequests).toHaveLength(1);
    expect(fake.messageRequests[0]?.model).toBe("claude-test");
    expect(fake.messageRequests[0]?.betas).toContain(FILES_BETA);
    expect(fake.messageRequests[0]?.blocks).toEqual([
      { type: "image", via: "base64", mediaType: "image/png", size: SAMPLE_PNG_BYTES },
      { type: "document", via: "file", title: "invoice.pdf", fileId: id, size: file?.bytes.length },
      { type: "text", via: "text" },
    ]);
    expect(run.stdout.split("\n")).toEqual([
      expect.stringMatching(/^staged photo\.png \(image\/png, 140 bytes\) and invoice\.pdf \(application\/pdf, \d+ bytes\)$/),
      "photo block: image, base64",
      `pdf block: document, file ${id}`,
      `model: Received image (base64 image/png, ${SAMPLE_PNG_BYTES} bytes), document (file ${id}), text.`,
      `next turn: ${id} reused from the ledger, nothing sent`,
      "",
    ]);
  });

  it("uploads nothing on a second run against the same store", async () => {
    expect((await runExample("anthropic-turn.mjs", env())).code).toBe(0);
    const second = await runExample("anthropic-turn.mjs", env());
    expect(second.code).toBe(0);
    expect(fake.requests("files.upload")).toBe(1);
    expect(fake.requests("messages.create")).toBe(2);
  });

  it("says what to set when there is neither a key nor a base URL", async () => {
    const run = await runExample("anthropic-turn.mjs", {});
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Set ANTHROPIC_API_KEY");
    expect(fake.requests()).toBe(0);
  });
});
