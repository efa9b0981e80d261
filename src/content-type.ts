import path from "node:path";
import { fileTypeFromBuffer } from "file-type";
import mime from "mime-types";

/** How many leading bytes are kept for signature sniffing. */
export const SNIFF_BYTES = 4100;
const FALLBACK_TYPE = "application/octet-stream";
const TEXT_FALLBACK_TYPE = "text/plain";

/**
 * Content types for UTF-8 text by extension (lower case, without the dot).
 * Used only when the bytes are text: a `.ts` file that is text is TypeScript,
 * one that is not (an MPEG transport stream) keeps the registry's `video/mp2t`.
 */
export const TEXT_TYPES: Readonly<Record<string, string>> = Object.freeze({
  // JavaScript and TypeScript
  js: "text/javascript", mjs: "text/javascript", cjs: "text/javascript", jsx: "text/javascript",
  ts: "text/x-typescript", mts: "text/x-typescript", cts: "text/x-typescript", tsx: "text/x-typescript",
  vue: "text/x-vue", svelte: "text/x-svelte",
  // Other programming languages
  py: "text/x-python", pyi: "text/x-python", pyw: "text/x-python",
  rs: "text/x-rust",
  go: "text/x-go",
  c: "text/x-c", h: "text/x-c",
  cc: "text/x-c++", cpp: "text/x-c++", cxx: "text/x-c++", hh: "text/x-c++", hpp: "text/x-c++", hxx: "text/x-c++",
  cs: "text/x-csharp",
  java: "text/x-java", kt: "text/x-kotlin", kts: "text/x-kotlin", scala: "text/x-scala",
  groovy: "text/x-groovy", gradle: "text/x-groovy",
  swift: "text/x-swift", m: "text/x-objectivec", mm: "text/x-objectivec",
  rb: "text/x-ruby", php: "text/x-php", pl: "text/x-perl", pm: "text/x-perl", lua: "text/x-lua",
  r: "text/x-r", jl: "text/x-julia", dart: "text/x-dart", zig: "text/x-zig",
  ex: "text/x-elixir", exs: "text/x-elixir", erl: "text/x-erlang", hrl: "text/x-erlang",
  hs: "text/x-haskell", ml: "text/x-ocaml", mli: "text/x-ocaml", fs: "text/x-fsharp",
  clj: "text/x-clojure", cljs: "text/x-clojure", elm: "text/x-elm",
  sql: "application/sql", graphql: "text/x-graphql", gql: "text/x-graphql", proto: "text/x-protobuf",
  // Shells and build files
  sh: "text/x-shellscript", bash: "text/x-shellscript", zsh: "text/x-shellscript", ksh: "text/x-shellscript",
  fish: "text/x-shellscript",
  ps1: "text/x-powershell", psm1: "text/x-powershell", bat: "text/x-msdos-batch", cmd: "text/x-msdos-batch",
  mk: "text/x-makefile", cmake: "text/x-cmake", dockerfile: "text/x-dockerfile",
  tf: "text/x-hcl", hcl: "text/x-hcl", nix: "text/x-nix",
  // Data and configuration
  json: "application/json", jsonc: "application/json", json5: "application/json5", map: "application/json",
  jsonl: "application/x-ndjson", ndjson: "application/x-ndjson", ipynb: "application/x-ipynb+json",
  yaml: "text/yaml", yml: "text/yaml",
  toml: "application/toml",
  ini: "text/plain", cfg: "text/plain", conf: "text/plain", env: "text/plain", properties: "text/plain",
  csv: "text/csv", tsv: "text/tab-separated-values",
  xml: "application/xml", xsd: "application/xml", xsl: "application/xml", xslt: "application/xml",
  plist: "application/xml", svg: "image/svg+xml",
  // Markup, prose and patches
  html: "text/html", htm: "text/html", xhtml: "application/xhtml+xml",
  css: "text/css", scss: "text/x-scss", sass: "text/x-sass", less: "text/x-less",
  md: "text/markdown", markdown: "text/markdown", mdx: "text/markdown",
  rst: "text/x-rst", adoc: "text/asciidoc", tex: "text/x-tex", org: "text/org",
  txt: "text/plain", text: "text/plain", log: "text/plain",
  diff: "text/x-diff", patch: "text/x-diff",
  vtt: "text/vtt", srt: "application/x-subrip", ics: "text/calendar",
});

/** Content types for UTF-8 text by whole file name (lower case), for names without a telling extension. */
export const TEXT_FILE_NAMES: Readonly<Record<string, string>> = Object.freeze({
  dockerfile: "text/x-dockerfile", containerfile: "text/x-dockerfile",
  makefile: "text/x-makefile", gnumakefile: "text/x-makefile",
  gemfile: "text/x-ruby", rakefile: "text/x-ruby", jenkinsfile: "text/x-groovy",
});

/**
 * Sniffed formats whose signature is itself text: when the head is UTF-8 text,
 * only these are believed. A text file that merely starts with `ID3` or `MZ`
 * is not an MP3 or a Windows executable.
 */
function signatureMayBeText(type: string): boolean {
  return (
    type.startsWith("text/") ||
    type.endsWith("+xml") ||
    type.endsWith("+json") ||
    ["application/xml", "application/json", "application/pdf", "application/postscript", "application/rtf"].includes(type)
  );
}

/** The length of a valid UTF-8 sequence starting at `bytes[i]`, 0 if invalid, -1 if cut short by the end. */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i] as number;
  if (b0 < 0x80) return 1;
  // [length, lowest, highest second byte]: no overlong forms, no surrogates, nothing above U+10FFFF.
  const [length, min, max] =
    b0 >= 0xc2 && b0 <= 0xdf ? [2, 0x80, 0xbf]
    : b0 === 0xe0 ? [3, 0xa0, 0xbf]
    : b0 === 0xed ? [3, 0x80, 0x9f]
    : b0 >= 0xe1 && b0 <= 0xef ? [3, 0x80, 0xbf]
    : b0 === 0xf0 ? [4, 0x90, 0xbf]
    : b0 >= 0xf1 && b0 <= 0xf3 ? [4, 0x80, 0xbf]
    : b0 === 0xf4 ? [4, 0x80, 0x8f]
    : [0, 0, 0];
  if (length === 0) return 0;
  for (let k = 1; k < length; k++) {
    if (i + k >= bytes.length) return -1;
    const b = bytes[i + k] as number;
    if (b < (k === 1 ? min : 0x80) || b > (k === 1 ? max : 0xbf)) return 0;
  }
  return length;
}

/**
 * Whether the sniffed head is UTF-8 text: valid UTF-8 (a BOM is allowed; a
 * character cut by the end of a full head is allowed), no NUL bytes, and at
 * most 1 in 50 characters a control character other than tab, line feed,
 * vertical tab, form feed, carriage return and escape (ANSI colours in logs).
 * C1 controls (U+0080–U+009F) and DEL count as control characters. Empty
 * bytes are not text: they say nothing, and the name alone decides.
 */
export function isUtf8Text(head: Uint8Array): boolean {
  if (head.length === 0) return false;
  let i = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  let chars = 0;
  let controls = 0;
  while (i < head.length) {
    const b = head[i] as number;
    if (b === 0) return false;
    const length = utf8SequenceLength(head, i);
    if (length === -1) {
      if (head.length < SNIFF_BYTES) return false; // the whole file ends mid-character
      break;
    }
    if (length === 0) return false;
    if (length === 1) {
      if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0b && b !== 0x0c && b !== 0x0d && b !== 0x1b) || b === 0x7f) {
        controls++;
      }
    } else if (length === 2 && b === 0xc2 && (head[i + 1] as number) < 0xa0) {
      controls++; // U+0080–U+009F
    }
    chars++;
    i += length;
  }
  return controls * 50 <= chars;
}

/** The text type for a file name: by whole name, then by extension, else text/plain. */
function textTypeFor(name: string): string | undefined {
  const base = path.basename(name).toLowerCase();
  const byName = TEXT_FILE_NAMES[base];
  if (byName !== undefined) return byName;
  const ext = path.extname(base).slice(1);
  if (ext === "") return undefined;
  return Object.hasOwn(TEXT_TYPES, ext) ? TEXT_TYPES[ext] : undefined;
}

/**
 * The content type of staged bytes, decided in this order:
 *
 * 1. the declared type, if any;
 * 2. a signature sniffed from the bytes (a PNG named `.txt` is `image/png`);
 *    when the head is UTF-8 text, only formats whose signature is text
 *    (XML, PDF, PostScript, RTF, `text/*`) are believed;
 * 3. for UTF-8 text (see {@link isUtf8Text}): the text type for its name
 *    ({@link TEXT_FILE_NAMES}, {@link TEXT_TYPES}), else the registry's type
 *    for the extension when that is a `text/*` type, else `text/plain` —
 *    never an audio, video or binary type (`index.ts` is not `video/mp2t`);
 * 4. for other bytes, and for empty ones: the text type for the name when the
 *    bytes are empty, else the registry's type for the extension;
 * 5. `application/octet-stream`.
 *
 * A type a server sent (`served`: a URL's `Content-Type`) ranks with the
 * name's extension in steps 3 and 4, and is preferred to it unless it says
 * less (`application/octet-stream`; `text/plain` where the name tells a text
 * type) or contradicts the bytes (a binary type for text, a text type for
 * binary bytes).
 */
export async function detectContentType(
  declared: string | undefined,
  head: Uint8Array,
  name: string,
  served?: string,
): Promise<string> {
  if (declared !== undefined && declared.trim() !== "") return declared.trim();
  const text = isUtf8Text(head);
  if (head.length > 0) {
    const sniffed = await fileTypeFromBuffer(head).catch(() => undefined);
    if (sniffed && (!text || signatureMayBeText(sniffed.mime))) return sniffed.mime;
  }
  const byExtension = mime.lookup(name);
  const servedType = served === undefined || GENERIC_SERVED_TYPES.has(served) ? undefined : served;
  if (text) {
    const byName = textTypeFor(name) ?? (byExtension !== false && byExtension.startsWith("text/") ? byExtension : undefined);
    if (servedType !== undefined && isTextualType(servedType) && !(servedType === TEXT_FALLBACK_TYPE && byName !== undefined)) return servedType;
    return byName ?? TEXT_FALLBACK_TYPE;
  }
  if (servedType !== undefined && (head.length === 0 || !isTextualType(servedType))) return servedType;
  if (head.length === 0) {
    const textType = textTypeFor(name);
    if (textType !== undefined) return textType;
  }
  return byExtension === false ? FALLBACK_TYPE : byExtension;
}

/** Served types that say nothing about the bytes. */
const GENERIC_SERVED_TYPES: ReadonlySet<string> = new Set(["application/octet-stream", "binary/octet-stream", "application/force-download", "application/x-download", "application/unknown"]);
const TEXT_TYPE_VALUES: ReadonlySet<string> = new Set([...Object.values(TEXT_TYPES), ...Object.values(TEXT_FILE_NAMES), "application/javascript", "application/ecmascript"]);

/** Whether a type names text (so it may describe UTF-8 bytes, and must not describe binary ones). */
function isTextualType(type: string): boolean {
  return signatureMayBeText(type) || TEXT_TYPE_VALUES.has(type);
}
