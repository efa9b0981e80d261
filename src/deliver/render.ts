/**
 * The pure half of `render(ref, target, opts)`. `planRender` decides how an
 * attachment travels to a target (inline, by remote file, by local path) from
 * its type and size alone; the store then fetches what the plan needs (the
 * bytes, an `upload()` record, a lease) and `buildPart` shapes the one content
 * part, plain JSON, exactly as the target's API documents it. Neither does I/O.
 */
import { AttacheError, invalidArgument, unsupported } from "../errors.js";
import {
  declaredTypeFor,
  essenceOf,
  isRenderTarget,
  mediaKindOf,
  RENDER_TARGETS,
  type KindRoute,
  type RenderTargetSpec,
} from "./render-targets.js";
import type {
  BuildPartInput,
  MediaKind,
  PlanRenderInput,
  RenderKind,
  RenderLimits,
  RenderPlan,
  RenderTarget,
  RenderVia,
} from "./types.js";

export type { BuildPartInput, PlanRenderInput, RenderLimits, RenderPlan, RenderTarget, RenderVia } from "./types.js";

const VIAS: ReadonlySet<string> = new Set<RenderVia>(["auto", "inline", "file"]);
const KINDS: ReadonlySet<string> = new Set<RenderKind>(["inline", "file", "path"]);
const LIMIT_KEYS: ReadonlySet<string> = new Set<keyof RenderLimits>(["image", "pdf", "text", "request"]);
const KIND_LABELS: Readonly<Record<MediaKind, string>> = { image: "image", pdf: "PDF", text: "text file" };

/**
 * The target's default limits with `overrides` laid over them. An override
 * is a byte count or `Infinity`; anything else is `INVALID_ARGUMENT`.
 */
export function resolveRenderLimits(target: RenderTarget, overrides: Partial<RenderLimits> = {}): RenderLimits {
  if (overrides === null || typeof overrides !== "object") {
    throw invalidArgument(`limits must be an object such as { image: 5_000_000 }, not ${String(overrides)}.`);
  }
  const limits = { ...RENDER_TARGETS[target].limits };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!LIMIT_KEYS.has(key)) {
      throw invalidArgument(`limits.${key} is not a render limit: use image, pdf, text or request.`);
    }
    if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
      throw invalidArgument(`limits.${key} must be a byte count (a number ≥ 0, or Infinity), not ${String(value)}.`);
    }
    limits[key as keyof RenderLimits] = value;
  }
  return limits;
}

/** The bytes a part adds to a request: the base64 length, or the byte size for text sent as text. */
export function inlineSize(encoding: "base64" | "utf8", size: number): number {
  return encoding === "base64" ? 4 * Math.ceil(size / 3) : size;
}

interface ResolvedRoute {
  spec: RenderTargetSpec;
  kind: MediaKind;
  route: KindRoute;
  type: string;
}

function checkTarget(target: unknown): asserts target is RenderTarget {
  if (!isRenderTarget(target)) {
    const names = Object.keys(RENDER_TARGETS).map((name) => JSON.stringify(name)).join(", ");
    throw invalidArgument(`Unknown render target ${JSON.stringify(target)}: use one of ${names}.`);
  }
}

function describeTakes(spec: RenderTargetSpec): string {
  const taken: string[] = [];
  if (spec.kinds.image) {
    const formats = [...spec.imageTypes].map((type) => type.slice("image/".length).toUpperCase());
    taken.push(`images (${formats.join(", ")})`);
  }
  if (spec.kinds.pdf) taken.push("PDFs");
  if (spec.kinds.text) taken.push("text");
  return taken.length > 1 ? `${taken.slice(0, -1).join(", ")} and ${taken.at(-1)}` : (taken[0] ?? "nothing");
}

/** The kind of content and its route on `target`, or `UNSUPPORTED` when the target cannot take it. */
function resolveRoute(target: RenderTarget, contentType: unknown): ResolvedRoute {
  if (typeof contentType !== "string") {
    throw invalidArgument(`contentType must be a string such as "image/png", not ${String(contentType)}.`);
  }
  const spec = RENDER_TARGETS[target];
  const type = essenceOf(contentType);
  const kind = mediaKindOf(type);
  const route = kind === null ? undefined : spec.kinds[kind];
  if (kind === null || route === undefined || (kind === "image" && !spec.imageTypes.has(type))) {
    throw unsupported(
      `${target} cannot take ${type || "content without a type"}: it takes ${describeTakes(spec)}. ` +
        `Convert the file to one of those and stage it again, or render it for another target.`,
    );
  }
  return { spec, kind, route, type };
}

/**
 * Decides how an attachment of `contentType` and `size` bytes travels to
 * `target`: `{ kind: "inline" }`, `{ kind: "file" }` (upload to the
 * destination, then refer to the remote file) or `{ kind: "path" }` (Codex
 * reads a local file).
 *
 * - `via: "auto"`: inline when the part fits the target's limits (see
 *   `RenderLimits`), else by file when a destination is given, else `TOO_LARGE`.
 * - `via: "inline"`: inline, or `TOO_LARGE` over the limits.
 * - `via: "file"`: by file; `INVALID_ARGUMENT` without a destination.
 *
 * Throws `UNSUPPORTED` when the target cannot take the type, or not by the
 * requested route (by file on `openai.chat` images, anything but a path on
 * Codex); `INVALID_ARGUMENT` for an unknown target or `via`, a bad size or
 * bad limits.
 */
export function planRender(input: PlanRenderInput): RenderPlan {
  const { target, contentType, size, via, hasDestination } = input;
  checkTarget(target);
  if (typeof via !== "string" || !VIAS.has(via)) {
    throw invalidArgument(`via must be "auto", "inline" or "file", not ${JSON.stringify(via)}.`);
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw invalidArgument(`size must be a byte count (an integer ≥ 0), not ${String(size)}.`);
  }
  const limits = resolveRenderLimits(target, input.limits);
  const { kind, route, type } = resolveRoute(target, contentType);

  if (route.path) {
    if (via !== "auto") {
      throw unsupported(`${target} takes ${type} only by local path, neither inline nor by file id: use via "auto".`);
    }
    return { kind: "path" };
  }
  if (via === "file") {
    if (!route.file) {
      throw unsupported(`${target} cannot take ${type} by file id, only inline: use via "inline" or "auto".`);
    }
    if (!hasDestination) {
      throw invalidArgument(`via "file" needs a destination to upload to: pass { destination }, or use via "auto".`);
    }
    return { kind: "file" };
  }
  if (!route.inline) {
    throw unsupported(`${target} cannot take ${type} inline, only by file id: use via "file" with a destination.`);
  }

  const encoded = inlineSize(route.inline, size);
  const ceiling = Math.min(limits[kind], limits.request);
  if (encoded <= ceiling) return { kind: "inline" };
  if (via === "auto" && route.file && hasDestination) return { kind: "file" };

  const limitKey = limits[kind] <= limits.request ? kind : "request";
  const measure = route.inline === "base64" ? `${encoded} bytes as base64 (${size} bytes of file)` : `${encoded} bytes`;
  const remedy = !route.file
    ? `${target} takes ${type} only inline: shrink it, or raise limits.${limitKey} if your account allows more.`
    : via === "inline"
      ? `Render it by file id (via "auto" or "file" with a destination), or raise limits.${limitKey} if your account allows more.`
      : `Pass a destination to render it by file id, or raise limits.${limitKey} if your account allows more.`;
  throw new AttacheError(
    "TOO_LARGE",
    `This ${KIND_LABELS[kind]} is ${measure} inline, over the ${limitKey} limit of ${ceiling} bytes for ${target}. ${remedy}`,
  );
}

function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

function dataUrl(type: string, bytes: Uint8Array): string {
  return `data:${type};base64,${base64Of(bytes)}`;
}

/**
 * The bytes as text. Anthropic's text source and a Chat Completions text part
 * carry a JSON string, so bytes that are not UTF-8 cannot go there: rather
 * than guess an encoding or drop characters, they are `UNSUPPORTED`.
 */
function utf8TextOf(bytes: Uint8Array, target: RenderTarget, type: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw unsupported(
      `${target} takes text as UTF-8, and these ${type} bytes are not UTF-8: convert the file to UTF-8 and stage it again.`,
      { cause },
    );
  }
}

function requireString(value: unknown, what: string, hint: string): string {
  if (typeof value !== "string" || value === "") throw invalidArgument(`${what} must be a non-empty string: ${hint}.`);
  return value;
}

/** What the part refers to, checked against what `kind` needs. */
interface PartSource {
  bytes?: Uint8Array;
  fileId?: string;
  fileUri?: string;
  path?: string;
}

function checkSource(input: BuildPartInput): PartSource {
  const { target, kind } = input;
  if (kind === "inline") {
    if (!(input.bytes instanceof Uint8Array)) throw invalidArgument(`An inline part needs the attachment's bytes (a Uint8Array).`);
    return { bytes: input.bytes };
  }
  if (kind === "path") return { path: requireString(input.path, "path", "a path part needs the local file's path") };
  if (target === "gemini") {
    return { fileUri: requireString(input.fileUri, "fileUri", "Gemini refers to a remote file by its URI (file.uri), not its name") };
  }
  if (target === "ai-sdk") {
    const ref = input.fileUri ?? input.fileId;
    return { fileId: requireString(ref, "fileId or fileUri", "a file part needs the remote file's id or URI") };
  }
  return { fileId: requireString(input.fileId, "fileId", "a file part needs the remote file's id") };
}

type Part = Record<string, unknown>;

/**
 * One content part for `target`, as plain JSON. The shapes follow the SDKs'
 * own types (names as in the installed SDKs):
 *
 * - `openai.responses` — `ResponseInputImage` `{ type: "input_image", image_url: <data URL> | file_id, detail }`
 *   (`detail` is required there: `"auto"` unless given); `ResponseInputFile`
 *   `{ type: "input_file", filename, file_data: <data URL> }` or `{ type: "input_file", file_id }`.
 * - `openai.chat` — `ChatCompletionContentPartImage` `{ type: "image_url", image_url: { url, detail? } }`;
 *   `ChatCompletionContentPart.File` `{ type: "file", file: { filename, file_data } | { file_id } }` (PDFs);
 *   text as `ChatCompletionContentPartText` `{ type: "text", text }`.
 * - `anthropic` — `ImageBlockParam` `{ type: "image", source: Base64ImageSource | FileImageSource }`;
 *   `DocumentBlockParam` `{ type: "document", source: Base64PDFSource | PlainTextSource | FileDocumentSource, title }`
 *   (file sources are also `BetaFileImageSource` / `BetaFileDocumentSource`; the Files API wants its beta header).
 * - `gemini` — `Part` `{ inlineData: { mimeType, data } }` (`Blob`) or `{ fileData: { fileUri, mimeType } }` (`FileData`).
 * - `ai-sdk` — `ImagePart` `{ type: "image", image, mediaType }` and `FilePart`
 *   `{ type: "file", data, mediaType, filename }`, `image`/`data` base64. By file,
 *   they hold the remote reference as a string: the file URI when given (the AI SDK
 *   turns a URL string into a URL, which `@ai-sdk/google` sends as `fileData`),
 *   else the file id (`@ai-sdk/openai` Responses models take a `file-…` string as a
 *   `file_id`). Other AI SDK providers cannot take a remote file: render inline there.
 * - `codex` — `UserInput` `{ type: "local_image", path }`.
 *
 * Throws `UNSUPPORTED` when the target cannot take the type by `kind`, or when
 * text bound for a UTF-8 text field is not UTF-8; `INVALID_ARGUMENT` when what
 * `kind` needs is missing (`bytes`, `fileId`, Gemini's `fileUri`, `path`).
 */
export function buildPart(input: BuildPartInput): Part {
  const { target, kind, name, detail } = input;
  checkTarget(target);
  if (typeof kind !== "string" || !KINDS.has(kind)) {
    throw invalidArgument(`kind must be "inline", "file" or "path", not ${JSON.stringify(kind)}.`);
  }
  if (typeof name !== "string") throw invalidArgument(`name must be the attachment's display name (a string).`);
  const { kind: media, route, type } = resolveRoute(target, input.contentType);
  if (!route[kind]) {
    const how = kind === "inline" ? "inline" : kind === "file" ? "by file id" : "by local path";
    throw unsupported(`${target} cannot take ${type} ${how}: plan the part with planRender() first.`);
  }
  const source = checkSource(input);
  const declared = declaredTypeFor(target, type);
  const text = (bytes: Uint8Array) => utf8TextOf(bytes, target, type);

  switch (target) {
    case "openai.responses":
      if (media === "image") {
        const image = source.bytes ? { image_url: dataUrl(declared, source.bytes) } : { file_id: source.fileId };
        return { type: "input_image", ...image, detail: detail ?? "auto" };
      }
      return {
        type: "input_file",
        ...(source.bytes ? { filename: name, file_data: dataUrl(declared, source.bytes) } : { file_id: source.fileId }),
        ...(detail ? { detail } : {}),
      };
    case "openai.chat":
      if (!source.bytes) return { type: "file", file: { file_id: source.fileId } };
      if (media === "image") return { type: "image_url", image_url: { url: dataUrl(declared, source.bytes), ...(detail ? { detail } : {}) } };
      if (media === "text") return { type: "text", text: text(source.bytes) };
      return { type: "file", file: { filename: name, file_data: dataUrl(declared, source.bytes) } };
    case "anthropic": {
      if (!source.bytes) {
        const fileSource = { type: "file", file_id: source.fileId };
        return media === "image" ? { type: "image", source: fileSource } : { type: "document", source: fileSource, title: name };
      }
      if (media === "image") return { type: "image", source: { type: "base64", media_type: declared, data: base64Of(source.bytes) } };
      const documentSource =
        media === "pdf"
          ? { type: "base64", media_type: "application/pdf", data: base64Of(source.bytes) }
          : { type: "text", media_type: "text/plain", data: text(source.bytes) };
      return { type: "document", source: documentSource, title: name };
    }
    case "gemini":
      return source.bytes
        ? { inlineData: { mimeType: declared, data: base64Of(source.bytes) } }
        : { fileData: { fileUri: source.fileUri, mimeType: declared } };
    case "ai-sdk": {
      const content = source.bytes ? base64Of(source.bytes) : source.fileId;
      return media === "image"
        ? { type: "image", image: content, mediaType: declared }
        : { type: "file", data: content, mediaType: declared, filename: name };
    }
    case "codex":
      return { type: "local_image", path: source.path };
  }
}
