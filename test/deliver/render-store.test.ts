/**
 * render() through the store: the bytes, name and type of a staged
 * attachment become one content part per target, inline or by the remote
 * id the upload ledger holds (uploaded through the SDK clients to the fake
 * providers). The shapes themselves are pinned against the SDK types in
 * render.test.ts; here every cell of the table is driven end to end.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import type { RenderTarget } from "../../src/deliver/types.js";
import type { Destination } from "../../src/providers/destination.js";
import { Fakes, GIF, PDF, PNG, rejection, sha256, tempStore, TEXT } from "./deliver-fixtures.js";

const TARGETS: RenderTarget[] = ["openai.responses", "openai.chat", "anthropic", "gemini", "ai-sdk", "codex"];
const b64 = (bytes: Buffer) => bytes.toString("base64");
const dataUrl = (type: string, bytes: Buffer) => `data:${type};base64,${b64(bytes)}`;

let fakes: Fakes;
let store: Store;
let refs: { png: string; pdf: string; text: string; gif: string; binary: string; ts: string };

beforeEach(async () => {
  fakes = new Fakes();
  await fakes.start();
  store = await tempStore();
  const stage = async (bytes: Buffer, name: string) => (await store.stage(bytes, { name, persist: true })).ref;
  refs = {
    png: await stage(PNG, "photo.png"),
    pdf: await stage(PDF, "report.pdf"),
    text: await stage(TEXT, "notes.txt"),
    gif: await stage(GIF, "anim.gif"),
    binary: await stage(Buffer.from([0, 1, 2, 3, 255, 254, 0, 7]), "blob.bin"),
    ts: await stage(Buffer.from("export const answer: number = 42;\n"), "index.ts"),
  };
});
afterEach(async () => {
  await store.close();
  await fakes.stop();
});

type Kind = "png" | "pdf" | "text";

/** What each target's inline part must be, from the staged bytes. */
function inlinePart(target: RenderTarget, kind: Kind, localPath: string): Record<string, unknown> | "UNSUPPORTED" {
  const file = { png: { bytes: PNG, name: "photo.png", type: "image/png" }, pdf: { bytes: PDF, name: "report.pdf", type: "application/pdf" }, text: { bytes: TEXT, name: "notes.txt", type: "text/plain" } }[kind];
  const { bytes, name, type } = file;
  switch (target) {
    case "openai.responses":
      return kind === "png" ? { type: "input_image", image_url: dataUrl(type, bytes), detail: "auto" } : { type: "input_file", filename: name, file_data: dataUrl(type, bytes) };
    case "openai.chat":
      if (kind === "png") return { type: "image_url", image_url: { url: dataUrl(type, bytes) } };
      if (kind === "text") return { type: "text", text: bytes.toString("utf8") };
      return { type: "file", file: { filename: name, file_data: dataUrl(type, bytes) } };
    case "anthropic":
      if (kind === "png") return { type: "image", source: { type: "base64", media_type: type, data: b64(bytes) } };
      if (kind === "text") return { type: "document", source: { type: "text", media_type: "text/plain", data: bytes.toString("utf8") }, title: name };
      return { type: "document", source: { type: "base64", media_type: type, data: b64(bytes) }, title: name };
    case "gemini":
      return { inlineData: { mimeType: type, data: b64(bytes) } };
    case "ai-sdk":
      return kind === "png" ? { type: "image", image: b64(bytes), mediaType: type } : { type: "file", data: b64(bytes), mediaType: type, filename: name };
    case "codex":
      return kind === "png" ? { type: "local_image", path: localPath } : "UNSUPPORTED";
  }
}

/** What each target's by-file part must be, given the upload record's id and uri. */
function filePart(target: RenderTarget, kind: Kind, remote: { remoteId: string; uri: string | null }): Record<string, unknown> | "UNSUPPORTED" {
  const name = { png: "photo.png", pdf: "report.pdf", text: "notes.txt" }[kind];
  const type = { png: "image/png", pdf: "application/pdf", text: "text/plain" }[kind];
  switch (target) {
    case "openai.responses":
      return kind === "png" ? { type: "input_image", file_id: remote.remoteId, detail: "auto" } : { type: "input_file", file_id: remote.remoteId };
    case "openai.chat":
      return kind === "pdf" ? { type: "file", file: { file_id: remote.remoteId } } : "UNSUPPORTED";
    case "anthropic":
      return kind === "png" ? { type: "image", source: { type: "file", file_id: remote.remoteId } } : { type: "document", source: { type: "file", file_id: remote.remoteId }, title: name };
    case "gemini":
      return { fileData: { fileUri: remote.uri, mimeType: type } };
    case "ai-sdk":
      return kind === "png" ? { type: "image", image: remote.remoteId, mediaType: type } : { type: "file", data: remote.remoteId, mediaType: type, filename: name };
    case "codex":
      return "UNSUPPORTED";
  }
}

/** The destination each target's files go to (the AI SDK: OpenAI's, whose `file-…` ids its OpenAI provider takes). */
function destinationFor(target: RenderTarget): Destination {
  if (target === "anthropic") return fakes.anthropicDestination();
  if (target === "gemini") return fakes.geminiDestination();
  return fakes.openaiDestination();
}

describe("render() inline, for every target and kind", () => {
  for (const target of TARGETS) {
    it(`${target}: a PNG, a PDF and a text file, from the stored bytes, with no request`, async () => {
      for (const kind of ["png", "pdf", "text"] as const) {
        const ref = refs[kind];
        const expected = inlinePart(target, kind, (await store.resolve(ref)).path);
        if (expected === "UNSUPPORTED") {
          expect(await rejection(store.render(ref, target)), `${target} ${kind}`).toMatchObject({ code: "UNSUPPORTED" });
          continue;
        }
        // via "auto" with a destination still goes inline when the bytes fit.
        expect(await store.render(ref, target, { destination: destinationFor(target) }), `${target} ${kind}`).toStrictEqual(expected);
        if (target !== "codex") expect(await store.render(ref, target, { via: "inline" })).toStrictEqual(expected);
      }
      expect(fakes.requests()).toBe(0);
    });
  }
});

describe("render() by file id, for every target and kind", () => {
  for (const target of TARGETS) {
    it(`${target}: via "file" uploads through the ledger and names the remote file`, async () => {
      const destination = destinationFor(target);
      for (const kind of ["png", "pdf", "text"] as const) {
        const ref = refs[kind];
        const rendering = store.render(ref, target, { via: "file", destination });
        const placeholder = filePart(target, kind, { remoteId: "", uri: null });
        if (placeholder === "UNSUPPORTED") {
          expect(await rejection(rendering), `${target} ${kind}`).toMatchObject({ code: "UNSUPPORTED" });
          continue;
        }
        const part = await rendering;
        // The id in the part is the one upload() recorded (and a second upload() is a ledger hit).
        const record = await store.upload(ref, destination);
        expect(record.reused).toBe(true);
        expect(part, `${target} ${kind}`).toStrictEqual(filePart(target, kind, record));
        const held =
          destination.provider === "openai" ? fakes.openai.fileBytes(record.remoteId)
            : destination.provider === "anthropic" ? fakes.anthropic.fileBytes(record.remoteId)
              : fakes.gemini.fileBytes(record.remoteId);
        expect(sha256(held)).toBe(record.digest.slice("sha256:".length));
      }
    });
  }

  it("ai-sdk by a Gemini file: the part holds the file URI", async () => {
    const destination = fakes.geminiDestination();
    const part = await store.render(refs.pdf, "ai-sdk", { via: "file", destination });
    const record = await store.upload(refs.pdf, destination);
    expect(record.uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1beta\/files\//);
    expect(part).toStrictEqual({ type: "file", data: record.uri, mediaType: "application/pdf", filename: "report.pdf" });
  });

  it("gemini declares text other than its listed types as text/plain; rendering the same bytes twice uploads once", async () => {
    const destination = fakes.geminiDestination();
    const first = await store.render(refs.ts, "gemini", { via: "file", destination });
    const second = await store.render(refs.ts, "gemini", { via: "file", destination });
    expect(second).toStrictEqual(first);
    expect(first).toMatchObject({ fileData: { mimeType: "text/plain" } });
    expect(fakes.gemini.requests("upload.start")).toBe(1);
    expect(await store.render(refs.ts, "gemini")).toStrictEqual({ inlineData: { mimeType: "text/plain", data: b64(Buffer.from("export const answer: number = 42;\n")) } });
  });
});

describe("render() by a Gemini file: the declared type", () => {
  // BUG (src/providers/gemini.ts, not this suite's to fix): render-targets.ts says "A Gemini
  // destination should upload text with this same type" (declaredTypeFor: text/plain for text
  // Gemini does not list), but geminiFiles uploads with the attachment's own type
  // (text/x-typescript here, in X-Goog-Upload-Header-Content-Type and file.mimeType), so the
  // remote file and the fileData part that names it disagree (and the file carries a type that
  // Gemini's document list does not hold). Fix: in geminiFiles.upload, send
  // declaredTypeFor("gemini", input.contentType) as the upload's content type.
  it("the file is uploaded with the type the part declares", async () => {
    const part = (await store.render(refs.ts, "gemini", { via: "file", destination: fakes.geminiDestination() })) as { fileData: { fileUri: string; mimeType: string } };
    const name = part.fileData.fileUri.slice(part.fileData.fileUri.indexOf("files/"));
    expect(fakes.gemini.files.get(name)?.mimeType).toBe(part.fileData.mimeType);
  });
});

describe("render(): via auto, limits and refusals", () => {
  it("via auto switches to the file when the limits are lowered below the part, and without a destination fails with TOO_LARGE", async () => {
    const destination = fakes.openaiDestination();
    const part = await store.render(refs.png, "openai.responses", { limits: { image: 10 }, destination });
    const record = await store.upload(refs.png, destination);
    expect(part).toStrictEqual({ type: "input_image", file_id: record.remoteId, detail: "auto" });

    // The request limit counts too.
    const pdfPart = await store.render(refs.pdf, "anthropic", { limits: { request: 20 }, destination: fakes.anthropicDestination() });
    expect(pdfPart).toMatchObject({ type: "document", source: { type: "file", file_id: expect.stringMatching(/^file_/) } });

    expect(await rejection(store.render(refs.png, "openai.responses", { limits: { image: 10 } }))).toMatchObject({ code: "TOO_LARGE" });
    // via "inline" never switches, even with a destination.
    expect(await rejection(store.render(refs.text, "anthropic", { via: "inline", limits: { text: 5 }, destination }))).toMatchObject({ code: "TOO_LARGE" });
    // What only goes inline (a Chat Completions image) stays TOO_LARGE with a destination.
    expect(await rejection(store.render(refs.png, "openai.chat", { limits: { image: 10 }, destination }))).toMatchObject({ code: "TOO_LARGE" });
    // Raised limits are taken as given.
    expect(await store.render(refs.png, "anthropic", { limits: { image: Infinity } })).toMatchObject({ type: "image", source: { type: "base64" } });
  });

  it("UNSUPPORTED for what a target cannot take: binary bytes, a GIF on Gemini, Codex by anything but a path", async () => {
    for (const target of TARGETS) {
      expect(await rejection(store.render(refs.binary, target)), target).toMatchObject({ code: "UNSUPPORTED" });
    }
    expect(await rejection(store.render(refs.gif, "gemini"))).toMatchObject({ code: "UNSUPPORTED" });
    expect(await store.render(refs.gif, "anthropic")).toMatchObject({ type: "image", source: { media_type: "image/gif" } });
    expect(await rejection(store.render(refs.png, "codex", { via: "inline" }))).toMatchObject({ code: "UNSUPPORTED" });
    expect(await rejection(store.render(refs.png, "codex", { via: "file", destination: fakes.openaiDestination() }))).toMatchObject({ code: "UNSUPPORTED" });
    expect(fakes.requests()).toBe(0);
  });

  it("INVALID_ARGUMENT for via file without a destination, an unknown option or target, a destination that is not one; NOT_FOUND for a released ref", async () => {
    expect(await rejection(store.render(refs.pdf, "openai.responses", { via: "file" }))).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(await rejection(store.render(refs.pdf, "openai.responses", { dest: 1 } as never))).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(await rejection(store.render(refs.pdf, "openai.assistants" as never))).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(await rejection(store.render(refs.pdf, "openai.responses", { via: "file", destination: {} as never }))).toMatchObject({ code: "INVALID_ARGUMENT" });
    await store.release(refs.pdf);
    expect(await rejection(store.render(refs.pdf, "openai.responses"))).toMatchObject({ code: "NOT_FOUND" });
    expect(await rejection(store.scope("other").render(refs.png, "anthropic"))).toMatchObject({ code: "NOT_FOUND" });
    expect(fakes.requests()).toBe(0);
  });

  it("codex names the lease's path when given one (a named lease ends in the display name), else the resolved path", async () => {
    await using lease = await store.lease(refs.png, { named: true });
    expect(lease.path.endsWith("photo.png")).toBe(true);
    expect(await store.render(refs.png, "codex", { lease })).toStrictEqual({ type: "local_image", path: lease.path });
    expect(await store.render(refs.png, "codex")).toStrictEqual({ type: "local_image", path: (await store.resolve(refs.png)).path });
    expect(await store.scope("default").render(refs.png, "codex", { lease })).toStrictEqual({ type: "local_image", path: lease.path });
  });

  it("codex refuses a lease of another attachment (its path holds other bytes)", async () => {
    await using other = await store.lease(refs.gif, { named: true });
    expect(await rejection(store.render(refs.png, "codex", { lease: other }))).toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("a render by file is aborted by its signal before anything is sent", async () => {
    const controller = new AbortController();
    controller.abort();
    expect(await rejection(store.render(refs.pdf, "openai.responses", { via: "file", destination: fakes.openaiDestination(), signal: controller.signal }))).toMatchObject({ code: "ABORTED" });
    expect(fakes.requests()).toBe(0);
  });
});
