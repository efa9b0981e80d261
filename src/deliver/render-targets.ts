/**
 * The render table: per target, which kinds of content it takes, how each
 * kind travels (inline as base64 or as UTF-8 text, by remote file, by local
 * path), and the default inline limits, each with the provider document it
 * comes from. Everything here is data plus three small lookups; the decisions
 * that use it live in `render.ts`.
 *
 *   target            image (jpeg png gif webp)  pdf                 text
 *   openai.responses  base64 | file              base64 | file       base64 | file
 *   openai.chat       base64                     base64 | file       utf8 (a text part)
 *   anthropic         base64 | file              base64 | file       utf8 | file
 *   gemini            base64 | file (no gif)     base64 | file       base64 | file
 *   ai-sdk            base64 | file              base64 | file       base64 | file
 *   codex             path                       —                   —
 */
import type { MediaKind, RenderLimits, RenderTarget } from "./types.js";

/** How one kind of content travels to one target; a missing route is not taken. */
export interface KindRoute {
  /** Inline, as base64 or as the UTF-8 text itself. */
  inline?: "base64" | "utf8";
  /** By remote file (a file id, or Gemini's file URI). */
  file?: true;
  /** By local path (Codex reads the file itself). */
  path?: true;
}

/** One row of the table. */
export interface RenderTargetSpec {
  /** The routes per kind; a kind that is absent is `UNSUPPORTED`. */
  kinds: Readonly<Partial<Record<MediaKind, KindRoute>>>;
  /** The image types the target takes (lower case). */
  imageTypes: ReadonlySet<string>;
  /** Default inline limits (see {@link RenderLimits}); overridable per call. */
  limits: Readonly<RenderLimits>;
}

const MiB = 1024 * 1024;
/** Decimal megabytes, where a provider writes "MB" without saying which: the smaller reading never overshoots. */
const MB = 1000 * 1000;

const IMAGE_TYPES: ReadonlySet<string> = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);
/**
 * Gemini's documented image types are PNG, JPEG, WEBP, HEIC and HEIF
 * (ai.google.dev/gemini-api/docs/image-understanding, "Supported image
 * formats"): no GIF.
 */
const GEMINI_IMAGE_TYPES: ReadonlySet<string> = new Set(["image/jpeg", "image/png", "image/webp"]);

/**
 * OpenAI. Images: "up to 50 MB total payload size per request"
 * (platform.openai.com/docs/guides/images-vision, "Image input requirements").
 * Files: each file and all files of one request at most 50 MB
 * (docs/guides/file-inputs, "Usage considerations"). Chat Completions shares
 * both limits. A request's JSON body carries the base64, so every ceiling is
 * 50 MB of payload.
 */
const OPENAI_LIMITS: RenderLimits = { image: 50 * MB, pdf: 50 * MB, text: 50 * MB, request: 50 * MB };

/**
 * Anthropic. Images: 5 MB each, counted on the base64 string ("image exceeds
 * 5 MB maximum: … bytes > 5242880 bytes") (docs.claude.com/en/docs/build-with-claude/vision).
 * Requests: 32 MB for the Messages API ("there is a 32MB request size limit
 * for standard endpoints", same page). PDFs: 32 MB and 100 pages per request
 * (docs/build-with-claude/pdf-support, "PDF support requirements"); pages are
 * not counted here. Text documents: only the request limit.
 */
const ANTHROPIC_LIMITS: RenderLimits = { image: 5 * MiB, pdf: 32 * MiB, text: 32 * MiB, request: 32 * MiB };

/**
 * Gemini Developer API. Inline data: at most 100 MB of base64 payload per
 * request, raised from 20 MB on 2026-01-12 (blog.google, "Increased file size
 * limits and expanded inputs support in Gemini API"); PDFs inline at most
 * 50 MB (ai.google.dev/gemini-api/docs/file-input-methods). Vertex AI keeps
 * lower limits: pass `limits` there.
 */
const GEMINI_LIMITS: RenderLimits = { image: 100 * MB, pdf: 50 * MB, text: 100 * MB, request: 100 * MB };

/**
 * The AI SDK sends a part to whichever provider the model belongs to, so its
 * defaults are the strictest of the three above: a part that fits goes to any
 * of them. Override for the provider you use.
 */
const AI_SDK_LIMITS: RenderLimits = {
  image: Math.min(OPENAI_LIMITS.image, ANTHROPIC_LIMITS.image, GEMINI_LIMITS.image),
  pdf: Math.min(OPENAI_LIMITS.pdf, ANTHROPIC_LIMITS.pdf, GEMINI_LIMITS.pdf),
  text: Math.min(OPENAI_LIMITS.text, ANTHROPIC_LIMITS.text, GEMINI_LIMITS.text),
  request: Math.min(OPENAI_LIMITS.request, ANTHROPIC_LIMITS.request, GEMINI_LIMITS.request),
};

/** Codex reads the file from its path: nothing is inlined by us, so nothing is limited here. */
const NO_LIMITS: RenderLimits = { image: Infinity, pdf: Infinity, text: Infinity, request: Infinity };

/** The table. Frozen: callers override limits per call, never here. */
export const RENDER_TARGETS: Readonly<Record<RenderTarget, RenderTargetSpec>> = Object.freeze({
  // ResponseInputImage (image_url | file_id), ResponseInputFile (file_data | file_id): both take every kind.
  "openai.responses": {
    kinds: { image: { inline: "base64", file: true }, pdf: { inline: "base64", file: true }, text: { inline: "base64", file: true } },
    imageTypes: IMAGE_TYPES,
    limits: OPENAI_LIMITS,
  },
  // ChatCompletionContentPartImage takes a URL or data URL, never a file id; the `file` part takes
  // PDFs only ("Chat Completions accepts only PDF files as file content parts", docs/guides/file-inputs),
  // so text goes as the text itself in a ChatCompletionContentPartText.
  "openai.chat": {
    kinds: { image: { inline: "base64" }, pdf: { inline: "base64", file: true }, text: { inline: "utf8" } },
    imageTypes: IMAGE_TYPES,
    limits: OPENAI_LIMITS,
  },
  // ImageBlockParam (base64 | file), DocumentBlockParam (base64 PDF | text | file).
  anthropic: {
    kinds: { image: { inline: "base64", file: true }, pdf: { inline: "base64", file: true }, text: { inline: "utf8", file: true } },
    imageTypes: IMAGE_TYPES,
    limits: ANTHROPIC_LIMITS,
  },
  // Part.inlineData | Part.fileData for every kind.
  gemini: {
    kinds: { image: { inline: "base64", file: true }, pdf: { inline: "base64", file: true }, text: { inline: "base64", file: true } },
    imageTypes: GEMINI_IMAGE_TYPES,
    limits: GEMINI_LIMITS,
  },
  // ImagePart / FilePart, base64 or a remote reference.
  "ai-sdk": {
    kinds: { image: { inline: "base64", file: true }, pdf: { inline: "base64", file: true }, text: { inline: "base64", file: true } },
    imageTypes: IMAGE_TYPES,
    limits: AI_SDK_LIMITS,
  },
  // UserInput { type: "local_image", path }: images only.
  codex: {
    kinds: { image: { path: true } },
    imageTypes: IMAGE_TYPES,
    limits: NO_LIMITS,
  },
} satisfies Record<RenderTarget, RenderTargetSpec>);

/** True when `value` names a target of the table. */
export function isRenderTarget(value: unknown): value is RenderTarget {
  return typeof value === "string" && Object.hasOwn(RENDER_TARGETS, value);
}

/** The content type without parameters, in lower case: `"Text/Plain; charset=utf-8"` → `"text/plain"`. */
export function essenceOf(contentType: string): string {
  return (contentType.split(";", 1)[0] ?? "").trim().toLowerCase();
}

/** `application/*` types that are text although not under `text/` and without a `+json`/`+xml` suffix. */
const APPLICATION_TEXT_TYPES: ReadonlySet<string> = new Set([
  "application/json",
  "application/json5",
  "application/x-ndjson",
  "application/xml",
  "application/javascript",
  "application/x-javascript",
  "application/typescript",
  "application/x-typescript",
  "application/x-python",
  "application/x-python-code",
  "application/x-sh",
  "application/sql",
  "application/toml",
  "application/yaml",
  "application/x-yaml",
  "application/x-subrip",
  "application/graphql",
]);

/**
 * What a content type is for rendering: an image of a known format, a PDF,
 * text (`text/*`, JSON, XML, `+json`/`+xml` types such as SVG, the source-code
 * and config types `content-type.ts` gives), or `null` for anything else.
 * Whether a given target takes that image format is {@link RenderTargetSpec.imageTypes}.
 */
export function mediaKindOf(contentType: string): MediaKind | null {
  const type = essenceOf(contentType);
  if (type === "application/pdf") return "pdf";
  if (IMAGE_TYPES.has(type)) return "image";
  if (type.startsWith("text/") || type.endsWith("+json") || type.endsWith("+xml") || APPLICATION_TEXT_TYPES.has(type)) {
    return "text";
  }
  return null;
}

/**
 * Text types Gemini documents for documents ("Documents must be one of the
 * following supported MIME types": CSS, CSV, HTML, JS, MD, PY, RTF, TXT, XML —
 * ai.google.dev/gemini-api/docs/document-processing, and the same list in
 * Google Cloud's Gemini "Understand documents"). The API refuses a `mimeType`
 * it does not list ("has a mimeType parameter with value …, which is not
 * supported"), so other text — JSON, TypeScript, Rust, YAML — is declared
 * `text/plain`, which loses nothing: Gemini reads non-PDF documents as text.
 */
const GEMINI_TEXT_TYPES: ReadonlySet<string> = new Set([
  "text/plain",
  "text/html",
  "text/css",
  "text/csv",
  "text/javascript",
  "application/x-javascript",
  "text/x-python",
  "application/x-python",
  "text/md",
  "text/rtf",
  "text/xml",
]);

/**
 * The media type a target is told, given the attachment's content type.
 * Images and PDFs keep theirs. Text keeps its type where the API reads the
 * type from the name (OpenAI), and is `text/plain` where the API takes only a
 * short list: Gemini (other than {@link GEMINI_TEXT_TYPES}) and the AI SDK,
 * whose Anthropic provider takes text documents as `text/plain` only. A Gemini
 * destination should upload text with this same type.
 */
export function declaredTypeFor(target: RenderTarget, contentType: string): string {
  const type = essenceOf(contentType);
  if (mediaKindOf(type) !== "text") return type;
  if (target === "gemini") return GEMINI_TEXT_TYPES.has(type) ? type : "text/plain";
  if (target === "ai-sdk") return "text/plain";
  return type;
}
