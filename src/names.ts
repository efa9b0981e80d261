/**
 * Display names. A name is never used to build a path, but it is still
 * reduced to something safe to show and to hand to tools: a basename without
 * control characters or separators, at most 255 UTF-8 bytes.
 */
const MAX_NAME_BYTES = 255;
const FALLBACK_NAME = "attachment";

export function sanitizeName(raw: string | undefined | null): string {
  if (raw == null) return FALLBACK_NAME;
  // Take the last path segment, whichever separator the sender's OS used.
  const segments = String(raw).split(/[/\\]/);
  let name = segments[segments.length - 1] ?? "";
  // Control characters (C0, DEL, C1), bidi overrides and other invisible format characters.
  name = name.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, "").trim();
  if (name === "." || name === "..") name = "";
  name = truncateUtf8(name, MAX_NAME_BYTES);
  return name === "" ? FALLBACK_NAME : name;
}

/** Cuts a string to at most `maxBytes` of UTF-8, never inside a character, keeping the extension when it can. */
function truncateUtf8(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name) <= maxBytes) return name;
  const dot = name.lastIndexOf(".");
  const extension = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : "";
  const budget = maxBytes - Buffer.byteLength(extension);
  let out = "";
  let used = 0;
  for (const char of name.slice(0, name.length - extension.length)) {
    const bytes = Buffer.byteLength(char);
    if (used + bytes > budget) break;
    out += char;
    used += bytes;
  }
  return out + extension;
}
