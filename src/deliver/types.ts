/**
 * The vocabulary of `render(ref, target, opts)`: where a part goes, how its
 * bytes travel, and the plain-JSON shapes of the parts that have no SDK
 * installed to name them (the AI SDK's and Codex's).
 */

/** The API a rendered part is for. */
export type RenderTarget = "openai.responses" | "openai.chat" | "anthropic" | "gemini" | "ai-sdk" | "codex";

/**
 * How the bytes travel: `"inline"` (base64, or UTF-8 text where the API takes
 * text), `"file"` (a remote file id from `upload()`), or `"auto"` (inline when
 * the bytes fit the target's inline limits, else by file id when a destination
 * is given, else `TOO_LARGE`).
 */
export type RenderVia = "auto" | "inline" | "file";

/** What a content type is, as far as rendering goes. Anything else is `UNSUPPORTED`. */
export type MediaKind = "image" | "pdf" | "text";

/** How a part carries its attachment: the bytes themselves, a remote file, or a local path. */
export type RenderKind = "inline" | "file" | "path";

/**
 * Inline limits, in bytes of what the part adds to the request: the base64
 * length (4 · ⌈size / 3⌉) where the bytes travel as base64, the byte size
 * where they travel as UTF-8 text. Providers count the encoded payload
 * (Anthropic rejects "image exceeds 5 MB maximum: 5316712 bytes > 5242880
 * bytes" for a 3.9 MiB PNG), so a limit is a ceiling on that, not on the file.
 * `Infinity` means no limit.
 */
export interface RenderLimits {
  /** Ceiling for one inline image. */
  image: number;
  /** Ceiling for one inline PDF. */
  pdf: number;
  /** Ceiling for one inline text file. */
  text: number;
  /**
   * Ceiling for the whole request. One part is checked against it alone: a
   * part that passes may still overflow a request that carries others.
   */
  request: number;
}

/** What {@link planRender} decided. */
export type RenderPlan = { kind: "inline" } | { kind: "file" } | { kind: "path" };

/** Input of {@link planRender}. */
export interface PlanRenderInput {
  target: RenderTarget;
  /** The attachment's content type (parameters such as `; charset=utf-8` are ignored). */
  contentType: string;
  /** The attachment's size in bytes. */
  size: number;
  via: RenderVia;
  /** Whether a destination was given, so that the part can go by file id. */
  hasDestination: boolean;
  /** Overrides of the target's default limits (see `RENDER_TARGETS`). */
  limits?: Partial<RenderLimits>;
}

/** Input of {@link buildPart}. */
export interface BuildPartInput {
  target: RenderTarget;
  kind: RenderKind;
  /** The display name: the `filename` of file parts, the `title` of Anthropic documents. */
  name: string;
  contentType: string;
  /** The attachment's bytes, for `kind: "inline"`. */
  bytes?: Uint8Array;
  /** The remote file id (`file-…`, `file_…`), for `kind: "file"` on OpenAI, Anthropic and the AI SDK. */
  fileId?: string;
  /** The remote file's URI, for `kind: "file"` on Gemini (and the AI SDK when the file is Gemini's). */
  fileUri?: string;
  /** A local path to the bytes, for `kind: "path"` (Codex). */
  path?: string;
  /** OpenAI's image (and Responses file) detail level; other targets have none. */
  detail?: "auto" | "low" | "high";
}

/**
 * The AI SDK's `ImagePart` (package `ai`, `@ai-sdk/provider-utils`
 * `types/content-part.ts`) as plain JSON: `image` is base64, or a remote
 * reference (see `buildPart`).
 */
export interface AiSdkImagePart {
  type: "image";
  image: string;
  mediaType?: string;
}

/** The AI SDK's `FilePart` as plain JSON: `data` is base64, or a remote reference (see `buildPart`). */
export interface AiSdkFilePart {
  type: "file";
  data: string;
  mediaType: string;
  filename?: string;
}

/** The Codex SDK's `UserInput` for an image (`@openai/codex-sdk`): a file on this machine. */
export interface CodexLocalImageInput {
  type: "local_image";
  path: string;
}
