/**
 * `Content-Disposition` for a download (RFC 6266): `attachment`, an ASCII
 * `filename` fallback for old clients, and the exact name as
 * `filename*=UTF-8''…` (RFC 8187). Names are already sanitised by the store
 * (no control characters, no path separators), but nothing here relies on
 * that: every byte that could end the header, close the quoted string or
 * smuggle a path is replaced or percent-encoded, so no name can inject a
 * header or make a client write outside its download folder.
 */

/** Characters RFC 8187's attr-char allows unencoded. */
const ATTR_CHAR = /[A-Za-z0-9!#$&+.^_`|~-]/;

/** The name percent-encoded as RFC 8187 `value-chars`. */
function encodeExtValue(name: string): string {
  let out = "";
  for (const byte of Buffer.from(name, "utf8")) {
    const char = String.fromCharCode(byte);
    out += byte < 0x80 && ATTR_CHAR.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** A printable-ASCII stand-in: everything else, quotes, backslashes and separators become `_`. */
function asciiFallback(name: string): string {
  const ascii = name.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").replace(/[^\x20-\x7e]|["\\/%;]/gu, "_");
  const trimmed = ascii.replace(/^[.\s]+/, "").trim();
  return trimmed === "" ? "attachment" : trimmed;
}

/** The header value for a download of a file displayed as `name`. */
export function contentDisposition(name: string): string {
  // Path pieces never reach the client: only the last segment counts, as a browser would take it.
  const base = name.split(/[/\\]/).at(-1) ?? "";
  const safe = [...base].filter((char) => char > "\u001f" && char !== "\u007f").join("") || "attachment";
  return `attachment; filename="${asciiFallback(safe)}"; filename*=UTF-8''${encodeExtValue(safe)}`;
}
