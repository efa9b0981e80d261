import { describe, expect, it } from "vitest";
import type Anthropic from "@anthropic-ai/sdk";
import type { Part } from "@google/genai";
import type OpenAI from "openai";
import { buildPart, planRender, resolveRenderLimits } from "../../src/deliver/render.js";
import type { AiSdkFilePart, AiSdkImagePart, CodexLocalImageInput, RenderTarget } from "../../src/deliver/types.js";

// The expected parts are written `satisfies <SDK type>`: a misspelt or missing
// field fails `tsc`, and `toStrictEqual` pins what buildPart produced to them.
type ResponseInputImage = OpenAI.Responses.ResponseInputImage;
type ResponseInputFile = OpenAI.Responses.ResponseInputFile;
type ChatImagePart = OpenAI.Chat.ChatCompletionContentPartImage;
type ChatFilePart = OpenAI.Chat.ChatCompletionContentPart.File;
type ChatTextPart = OpenAI.Chat.ChatCompletionContentPartText;

const MiB = 1024 * 1024;

/** A 1×1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC",
  "base64",
);
const PNG_B64 = PNG.toString("base64");
const PDF = Buffer.from("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
const PDF_B64 = PDF.toString("base64");
const TS_SOURCE = "export const greeting: string = \"héllo ✓\";\n";
const TS = Buffer.from(TS_SOURCE, "utf8");
const TS_B64 = TS.toString("base64");

const png = { name: "photo.png", contentType: "image/png", bytes: PNG };
const pdf = { name: "report.pdf", contentType: "application/pdf", bytes: PDF };
const ts = { name: "index.ts", contentType: "text/x-typescript", bytes: TS };

function inline(target: RenderTarget, file: { name: string; contentType: string; bytes: Uint8Array }, detail?: "auto" | "low" | "high") {
  return buildPart({ target, kind: "inline", ...file, ...(detail ? { detail } : {}) });
}
function byFile(target: RenderTarget, file: { name: string; contentType: string }, ids: { fileId?: string; fileUri?: string }) {
  return buildPart({ target, kind: "file", name: file.name, contentType: file.contentType, ...ids });
}

const code = (code: string) => expect.objectContaining({ name: "AttacheError", code });

describe("buildPart: openai.responses", () => {
  it("an image is an input_image with a data URL, detail auto unless given", () => {
    expect(inline("openai.responses", png)).toStrictEqual({
      type: "input_image",
      image_url: `data:image/png;base64,${PNG_B64}`,
      detail: "auto",
    } satisfies ResponseInputImage);
    expect(inline("openai.responses", png, "low")).toStrictEqual({
      type: "input_image",
      image_url: `data:image/png;base64,${PNG_B64}`,
      detail: "low",
    } satisfies ResponseInputImage);
  });

  it("an image by file id is an input_image with file_id", () => {
    expect(byFile("openai.responses", png, { fileId: "file-abc" })).toStrictEqual({
      type: "input_image",
      file_id: "file-abc",
      detail: "auto",
    } satisfies ResponseInputImage);
  });

  it("a PDF and a text file are input_files with filename and file_data, or file_id", () => {
    expect(inline("openai.responses", pdf)).toStrictEqual({
      type: "input_file",
      filename: "report.pdf",
      file_data: `data:application/pdf;base64,${PDF_B64}`,
    } satisfies ResponseInputFile);
    expect(inline("openai.responses", ts)).toStrictEqual({
      type: "input_file",
      filename: "index.ts",
      file_data: `data:text/x-typescript;base64,${TS_B64}`,
    } satisfies ResponseInputFile);
    expect(byFile("openai.responses", pdf, { fileId: "file-pdf" })).toStrictEqual({
      type: "input_file",
      file_id: "file-pdf",
    } satisfies ResponseInputFile);
    expect(byFile("openai.responses", ts, { fileId: "file-ts" })).toStrictEqual({
      type: "input_file",
      file_id: "file-ts",
    } satisfies ResponseInputFile);
  });

  it("passes a file's detail when given", () => {
    expect(inline("openai.responses", pdf, "high")).toStrictEqual({
      type: "input_file",
      filename: "report.pdf",
      file_data: `data:application/pdf;base64,${PDF_B64}`,
      detail: "high",
    } satisfies ResponseInputFile);
  });
});

describe("buildPart: openai.chat", () => {
  it("an image is an image_url with a data URL, detail only when given", () => {
    expect(inline("openai.chat", png)).toStrictEqual({
      type: "image_url",
      image_url: { url: `data:image/png;base64,${PNG_B64}` },
    } satisfies ChatImagePart);
    expect(inline("openai.chat", png, "high")).toStrictEqual({
      type: "image_url",
      image_url: { url: `data:image/png;base64,${PNG_B64}`, detail: "high" },
    } satisfies ChatImagePart);
  });

  it("a PDF is a file part with file_data, or file_id", () => {
    expect(inline("openai.chat", pdf)).toStrictEqual({
      type: "file",
      file: { filename: "report.pdf", file_data: `data:application/pdf;base64,${PDF_B64}` },
    } satisfies ChatFilePart);
    expect(byFile("openai.chat", pdf, { fileId: "file-pdf" })).toStrictEqual({
      type: "file",
      file: { file_id: "file-pdf" },
    } satisfies ChatFilePart);
  });

  it("text is a text part (Chat Completions file parts take PDFs only)", () => {
    expect(inline("openai.chat", ts)).toStrictEqual({ type: "text", text: TS_SOURCE } satisfies ChatTextPart);
  });

  it("takes neither images nor text by file id", () => {
    expect(() => byFile("openai.chat", png, { fileId: "file-x" })).toThrow(code("UNSUPPORTED"));
    expect(() => byFile("openai.chat", ts, { fileId: "file-x" })).toThrow(code("UNSUPPORTED"));
  });
});

describe("buildPart: anthropic", () => {
  it("an image is an image block with a base64 or file source", () => {
    expect(inline("anthropic", png)).toStrictEqual({
      type: "image",
      source: { type: "base64", media_type: "image/png", data: PNG_B64 },
    } satisfies Anthropic.ImageBlockParam);
    const byId = { type: "image", source: { type: "file", file_id: "file_011" } } as const;
    expect(byFile("anthropic", png, { fileId: "file_011" })).toStrictEqual(byId satisfies Anthropic.ImageBlockParam);
    expect(byId satisfies Anthropic.Beta.BetaImageBlockParam).toBe(byId);
  });

  it("a PDF is a document block with a base64 or file source, titled with the name", () => {
    expect(inline("anthropic", pdf)).toStrictEqual({
      type: "document",
      source: { type: "base64", media_type: "application/pdf", data: PDF_B64 },
      title: "report.pdf",
    } satisfies Anthropic.DocumentBlockParam);
    const byId = { type: "document", source: { type: "file", file_id: "file_pdf" }, title: "report.pdf" } as const;
    expect(byFile("anthropic", pdf, { fileId: "file_pdf" })).toStrictEqual(byId satisfies Anthropic.DocumentBlockParam);
    expect(byId satisfies Anthropic.Beta.BetaRequestDocumentBlock).toBe(byId);
  });

  it("text is a document block with a text source, decoded from UTF-8", () => {
    expect(inline("anthropic", ts)).toStrictEqual({
      type: "document",
      source: { type: "text", media_type: "text/plain", data: TS_SOURCE },
      title: "index.ts",
    } satisfies Anthropic.DocumentBlockParam);
    expect(byFile("anthropic", ts, { fileId: "file_ts" })).toStrictEqual({
      type: "document",
      source: { type: "file", file_id: "file_ts" },
      title: "index.ts",
    } satisfies Anthropic.DocumentBlockParam);
  });

  it("drops a UTF-8 byte order mark, and refuses bytes that are not UTF-8", () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), TS]);
    expect(inline("anthropic", { ...ts, bytes: withBom })).toMatchObject({ source: { data: TS_SOURCE } });
    const latin1 = Buffer.from("caf\xe9\n", "latin1");
    expect(() => inline("anthropic", { name: "menu.txt", contentType: "text/plain", bytes: latin1 })).toThrow(code("UNSUPPORTED"));
    expect(() => inline("openai.chat", { name: "menu.txt", contentType: "text/plain", bytes: latin1 })).toThrow(code("UNSUPPORTED"));
    // Where text travels as base64, the bytes go as they are.
    expect(inline("openai.responses", { name: "menu.txt", contentType: "text/plain", bytes: latin1 })).toMatchObject({
      file_data: `data:text/plain;base64,${latin1.toString("base64")}`,
    });
  });
});

describe("buildPart: gemini", () => {
  it("inline is inlineData, by file is fileData with the file's URI", () => {
    expect(inline("gemini", png)).toStrictEqual({ inlineData: { mimeType: "image/png", data: PNG_B64 } } satisfies Part);
    expect(inline("gemini", pdf)).toStrictEqual({ inlineData: { mimeType: "application/pdf", data: PDF_B64 } } satisfies Part);
    const uri = "https://generativelanguage.googleapis.com/v1beta/files/abc123";
    expect(byFile("gemini", png, { fileUri: uri })).toStrictEqual({ fileData: { fileUri: uri, mimeType: "image/png" } } satisfies Part);
    expect(byFile("gemini", pdf, { fileUri: uri })).toStrictEqual({
      fileData: { fileUri: uri, mimeType: "application/pdf" },
    } satisfies Part);
  });

  it("declares text of a type Gemini does not list as text/plain", () => {
    expect(inline("gemini", ts)).toStrictEqual({ inlineData: { mimeType: "text/plain", data: TS_B64 } } satisfies Part);
    const uri = "https://generativelanguage.googleapis.com/v1beta/files/ts";
    expect(byFile("gemini", ts, { fileUri: uri })).toStrictEqual({ fileData: { fileUri: uri, mimeType: "text/plain" } } satisfies Part);
    const csv = { name: "t.csv", contentType: "text/csv", bytes: Buffer.from("a,b\n") };
    expect(inline("gemini", csv)).toStrictEqual({ inlineData: { mimeType: "text/csv", data: "YSxiCg==" } } satisfies Part);
    const json = { name: "t.json", contentType: "application/json", bytes: Buffer.from("{}") };
    expect(inline("gemini", json)).toStrictEqual({ inlineData: { mimeType: "text/plain", data: "e30=" } } satisfies Part);
  });

  it("needs the file URI, not the file id", () => {
    expect(() => byFile("gemini", png, { fileId: "files/abc123" })).toThrow(code("INVALID_ARGUMENT"));
  });
});

describe("buildPart: ai-sdk", () => {
  it("an image is an ImagePart, a PDF a FilePart, base64 inline", () => {
    expect(inline("ai-sdk", png)).toStrictEqual({ type: "image", image: PNG_B64, mediaType: "image/png" } satisfies AiSdkImagePart);
    expect(inline("ai-sdk", pdf)).toStrictEqual({
      type: "file",
      data: PDF_B64,
      mediaType: "application/pdf",
      filename: "report.pdf",
    } satisfies AiSdkFilePart);
  });

  it("text is a text/plain FilePart (the AI SDK's Anthropic provider takes no other text type)", () => {
    expect(inline("ai-sdk", ts)).toStrictEqual({
      type: "file",
      data: TS_B64,
      mediaType: "text/plain",
      filename: "index.ts",
    } satisfies AiSdkFilePart);
  });

  it("by file holds the remote reference: the URI when given, else the id", () => {
    const uri = "https://generativelanguage.googleapis.com/v1beta/files/abc";
    expect(byFile("ai-sdk", png, { fileId: "files/abc", fileUri: uri })).toStrictEqual({
      type: "image",
      image: uri,
      mediaType: "image/png",
    } satisfies AiSdkImagePart);
    expect(byFile("ai-sdk", pdf, { fileId: "file-pdf" })).toStrictEqual({
      type: "file",
      data: "file-pdf",
      mediaType: "application/pdf",
      filename: "report.pdf",
    } satisfies AiSdkFilePart);
    expect(byFile("ai-sdk", ts, { fileId: "file-ts" })).toStrictEqual({
      type: "file",
      data: "file-ts",
      mediaType: "text/plain",
      filename: "index.ts",
    } satisfies AiSdkFilePart);
  });
});

describe("buildPart: codex", () => {
  it("an image is a local_image with the path", () => {
    const part = buildPart({ target: "codex", kind: "path", name: "photo.png", contentType: "image/png", path: "/tmp/lease/photo.png" });
    expect(part).toStrictEqual({ type: "local_image", path: "/tmp/lease/photo.png" } satisfies CodexLocalImageInput);
  });

  it("takes neither PDFs nor text, nor an image inline", () => {
    expect(() => buildPart({ target: "codex", kind: "path", name: "r.pdf", contentType: "application/pdf", path: "/tmp/r.pdf" })).toThrow(
      code("UNSUPPORTED"),
    );
    expect(() => buildPart({ target: "codex", kind: "path", name: "a.ts", contentType: "text/x-typescript", path: "/tmp/a.ts" })).toThrow(
      code("UNSUPPORTED"),
    );
    expect(() => inline("codex", png)).toThrow(code("UNSUPPORTED"));
  });
});

describe("buildPart: inputs", () => {
  it("data URLs round-trip the bytes and carry the type without parameters", () => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    // A view into a larger buffer: only the view's bytes are encoded.
    const backing = new Uint8Array(264).fill(0x2a);
    backing.set(bytes, 4);
    const view = backing.subarray(4, 260);
    const part = buildPart({ target: "openai.responses", kind: "inline", name: "a.png", contentType: "Image/PNG; x=y", bytes: view });
    const url = String(part.image_url);
    const match = /^data:([^;,]+);base64,(.*)$/.exec(url);
    expect(match?.[1]).toBe("image/png");
    expect(new Uint8Array(Buffer.from(match?.[2] ?? "", "base64"))).toStrictEqual(bytes);

    const chat = buildPart({ target: "openai.chat", kind: "inline", ...pdf });
    const fileData = (chat.file as { file_data: string }).file_data;
    expect(Buffer.from(fileData.slice("data:application/pdf;base64,".length), "base64")).toStrictEqual(PDF);
  });

  it("refuses a part that lacks what its kind needs", () => {
    expect(() => buildPart({ target: "anthropic", kind: "inline", name: "p.png", contentType: "image/png" })).toThrow(code("INVALID_ARGUMENT"));
    expect(() => buildPart({ target: "anthropic", kind: "file", name: "p.png", contentType: "image/png" })).toThrow(code("INVALID_ARGUMENT"));
    expect(() => buildPart({ target: "codex", kind: "path", name: "p.png", contentType: "image/png" })).toThrow(code("INVALID_ARGUMENT"));
    expect(() => buildPart({ target: "ai-sdk", kind: "file", name: "p.png", contentType: "image/png" })).toThrow(code("INVALID_ARGUMENT"));
    expect(() => buildPart({ target: "anthropic", kind: "path", name: "p.png", contentType: "image/png", path: "/p" })).toThrow(code("UNSUPPORTED"));
  });

  it("refuses unknown targets and kinds", () => {
    expect(() => inline("openai" as RenderTarget, png)).toThrow(code("INVALID_ARGUMENT"));
    expect(() => buildPart({ target: "gemini", kind: "url" as never, ...png })).toThrow(code("INVALID_ARGUMENT"));
  });

  it("refuses types the target cannot take", () => {
    const mp3 = { name: "a.mp3", contentType: "audio/mpeg", bytes: Buffer.from("ID3") };
    for (const target of ["openai.responses", "openai.chat", "anthropic", "gemini", "ai-sdk"] as const) {
      expect(() => inline(target, mp3)).toThrow(code("UNSUPPORTED"));
    }
    expect(() => inline("gemini", { name: "a.gif", contentType: "image/gif", bytes: Buffer.from("GIF89a") })).toThrow(code("UNSUPPORTED"));
    expect(() => inline("anthropic", { name: "a.bmp", contentType: "image/bmp", bytes: Buffer.from("BM") })).toThrow(code("UNSUPPORTED"));
  });
});

describe("planRender", () => {
  const plan = (over: Partial<Parameters<typeof planRender>[0]>) =>
    planRender({ target: "anthropic", contentType: "image/png", size: 1000, via: "auto", hasDestination: false, ...over });

  it("auto: inline when the part fits, by file when it does not and a destination is given", () => {
    expect(plan({})).toStrictEqual({ kind: "inline" });
    expect(plan({ size: 10 * MiB, hasDestination: true })).toStrictEqual({ kind: "file" });
    expect(() => plan({ size: 10 * MiB })).toThrow(code("TOO_LARGE"));
    expect(() => plan({ size: 10 * MiB })).toThrow(/pass a destination/i);
  });

  it("measures the base64 a part adds, not the file: Anthropic's 5 MiB image limit is 3.75 MiB of PNG", () => {
    const fits = (5 * MiB * 3) / 4; // base64 of exactly 5 MiB
    expect(plan({ size: fits })).toStrictEqual({ kind: "inline" });
    expect(() => plan({ size: fits + 1 })).toThrow(code("TOO_LARGE"));
    // Text sent as text is measured in bytes.
    expect(plan({ contentType: "text/plain", size: 32 * MiB })).toStrictEqual({ kind: "inline" });
    expect(() => plan({ contentType: "text/plain", size: 32 * MiB + 1 })).toThrow(code("TOO_LARGE"));
  });

  it("inline: TOO_LARGE over the limit, with or without a destination", () => {
    expect(plan({ via: "inline" })).toStrictEqual({ kind: "inline" });
    expect(() => plan({ via: "inline", size: 10 * MiB, hasDestination: true })).toThrow(code("TOO_LARGE"));
  });

  it("file: by file whatever the size, with a destination", () => {
    expect(plan({ via: "file", size: 1, hasDestination: true })).toStrictEqual({ kind: "file" });
    expect(plan({ via: "file", size: 400 * MiB, hasDestination: true })).toStrictEqual({ kind: "file" });
    expect(() => plan({ via: "file" })).toThrow(code("INVALID_ARGUMENT"));
  });

  it("the whole-request limit caps every kind", () => {
    const pdfPlan = (size: number, limits?: Partial<Parameters<typeof resolveRenderLimits>[1]>) =>
      plan({ contentType: "application/pdf", size, ...(limits ? { limits } : {}) });
    expect(pdfPlan(20 * MiB)).toStrictEqual({ kind: "inline" });
    expect(() => pdfPlan(30 * MiB)).toThrow(/over the pdf limit/);
    expect(() => pdfPlan(30 * MiB, { pdf: Infinity })).toThrow(/over the request limit/);
    expect(pdfPlan(30 * MiB, { pdf: Infinity, request: Infinity })).toStrictEqual({ kind: "inline" });
  });

  it("limits can be raised or lowered per call", () => {
    expect(plan({ size: 10 * MiB, limits: { image: 20 * MiB } })).toStrictEqual({ kind: "inline" });
    expect(plan({ size: 1000, limits: { image: 100 }, hasDestination: true })).toStrictEqual({ kind: "file" });
    expect(plan({ size: 1000, limits: { request: 100 }, hasDestination: true })).toStrictEqual({ kind: "file" });
    expect(() => plan({ limits: { image: -1 } })).toThrow(code("INVALID_ARGUMENT"));
    expect(() => plan({ limits: { images: 5 } as never })).toThrow(code("INVALID_ARGUMENT"));
  });

  it("openai.chat takes images only inline: too big is TOO_LARGE even with a destination", () => {
    const chat = (over: Partial<Parameters<typeof planRender>[0]>) => plan({ target: "openai.chat", ...over });
    expect(chat({})).toStrictEqual({ kind: "inline" });
    expect(() => chat({ size: 49 * 1000 * 1000, hasDestination: true })).toThrow(code("TOO_LARGE"));
    expect(() => chat({ via: "file", hasDestination: true })).toThrow(code("UNSUPPORTED"));
    expect(chat({ contentType: "application/pdf", size: 49 * 1000 * 1000, hasDestination: true })).toStrictEqual({ kind: "file" });
  });

  it("codex takes images by path, nothing else, and no other way", () => {
    expect(plan({ target: "codex", size: 200 * MiB })).toStrictEqual({ kind: "path" });
    expect(() => plan({ target: "codex", contentType: "application/pdf" })).toThrow(code("UNSUPPORTED"));
    expect(() => plan({ target: "codex", contentType: "text/plain" })).toThrow(code("UNSUPPORTED"));
    expect(() => plan({ target: "codex", via: "file", hasDestination: true })).toThrow(code("UNSUPPORTED"));
    expect(() => plan({ target: "codex", via: "inline" })).toThrow(code("UNSUPPORTED"));
  });

  it("refuses types a target cannot take", () => {
    expect(() => plan({ contentType: "audio/mpeg" })).toThrow(code("UNSUPPORTED"));
    expect(() => plan({ contentType: "video/mp4", hasDestination: true })).toThrow(code("UNSUPPORTED"));
    expect(() => plan({ contentType: "application/zip" })).toThrow(code("UNSUPPORTED"));
    expect(() => plan({ target: "gemini", contentType: "image/gif" })).toThrow(code("UNSUPPORTED"));
    expect(() => plan({ contentType: "" })).toThrow(code("UNSUPPORTED"));
    expect(() => plan({ contentType: "audio/mpeg" })).toThrow(expect.objectContaining({ retryable: false }));
    expect(() => plan({ contentType: "audio/mpeg" })).toThrow(/anthropic cannot take audio\/mpeg: it takes images \(JPEG, PNG, GIF, WEBP\), PDFs and text/);
  });

  it("refuses unknown targets, vias and sizes", () => {
    expect(() => plan({ target: "openai" as RenderTarget })).toThrow(code("INVALID_ARGUMENT"));
    expect(() => plan({ via: "url" as never })).toThrow(code("INVALID_ARGUMENT"));
    expect(() => plan({ size: -1 })).toThrow(code("INVALID_ARGUMENT"));
    expect(() => plan({ size: 1.5 })).toThrow(code("INVALID_ARGUMENT"));
  });

  it("each target's defaults, as documented", () => {
    expect(resolveRenderLimits("openai.responses")).toStrictEqual({ image: 50e6, pdf: 50e6, text: 50e6, request: 50e6 });
    expect(resolveRenderLimits("openai.chat")).toStrictEqual({ image: 50e6, pdf: 50e6, text: 50e6, request: 50e6 });
    expect(resolveRenderLimits("anthropic")).toStrictEqual({ image: 5 * MiB, pdf: 32 * MiB, text: 32 * MiB, request: 32 * MiB });
    expect(resolveRenderLimits("gemini")).toStrictEqual({ image: 100e6, pdf: 50e6, text: 100e6, request: 100e6 });
    expect(resolveRenderLimits("ai-sdk")).toStrictEqual({ image: 5 * MiB, pdf: 32 * MiB, text: 32 * MiB, request: 32 * MiB });
    expect(resolveRenderLimits("codex")).toStrictEqual({ image: Infinity, pdf: Infinity, text: Infinity, request: Infinity });
    expect(resolveRenderLimits("gemini", { request: 20e6, pdf: undefined })).toStrictEqual({
      image: 100e6,
      pdf: 50e6,
      text: 100e6,
      request: 20e6,
    });
  });
});
