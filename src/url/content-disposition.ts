/**
 * The file name a response gives itself: `Content-Disposition`'s `filename*`
 * (RFC 8187: `UTF-8''caf%C3%A9.txt`), else its `filename` (a token or a
 * quoted string), else the last segment of the URL's path. The result is
 * only a hint: the store sanitises every name before keeping it.
 */

/** The parameters of a `Content-Disposition` value, names in lower case. */
function dispositionParameters(header: string): Map<string, string> {
  const params = new Map<string, string>();
  // name=token | name="quoted \" string"; the disposition type before the first ';' is skipped.
  const pattern = /;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  for (const match of header.matchAll(pattern)) {
    const name = (match[1] as string).toLowerCase();
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : (match[3] as string);
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}

/** An RFC 8187 extended value (`charset'lang'percent-encoded`), or null if malformed or not UTF-8/Latin-1. */
function decodeExtendedValue(value: string): string | null {
  const match = /^([\w!#$%&+^`{}~-]*)'[\w-]*'(.*)$/.exec(value);
  if (match === null) return null;
  const charset = (match[1] as string).toLowerCase();
  const encoded = match[2] as string;
  try {
    if (charset === "utf-8") return decodeURIComponent(encoded);
    if (charset === "iso-8859-1") {
      return encoded.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
  } catch {
    return null;
  }
  return null;
}

/** The file name in a `Content-Disposition` header, or null. */
export function fileNameFromDisposition(header: string | undefined): string | null {
  if (header === undefined || header.trim() === "") return null;
  const params = dispositionParameters(header);
  const extended = params.get("filename*");
  if (extended !== undefined) {
    const decoded = decodeExtendedValue(extended);
    if (decoded !== null && decoded.trim() !== "") return decoded;
  }
  const plain = params.get("filename");
  return plain !== undefined && plain.trim() !== "" ? plain : null;
}

/** The last non-empty segment of the URL's path, percent-decoded, or null (`https://host/`). */
export function fileNameFromUrl(url: URL): string | null {
  const segment = url.pathname.split("/").filter((part) => part !== "").pop();
  if (segment === undefined) return null;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
