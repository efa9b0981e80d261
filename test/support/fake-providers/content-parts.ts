/**
 * What the fakes' model endpoints (`POST /v1/responses`, `POST /v1/messages`)
 * check in inline content: base64 that is base64, data URLs that are data
 * URLs, and bytes that are the type they claim (the real APIs refuse an
 * image whose bytes do not match its declared media type).
 */
import { FakeHttpError } from "./fake-server.js";

/** The image types both APIs take inline. */
export const INLINE_IMAGE_TYPES: readonly string[] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/** Decodes strict base64 (standard alphabet, padded); anything else is a 400 naming `where`. */
export function decodeBase64(data: unknown, where: string): Buffer {
  if (typeof data !== "string" || data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) {
    throw new FakeHttpError(400, `${where}: expected base64 data.`, "invalid_request_error");
  }
  return Buffer.from(data, "base64");
}

/** Splits a `data:<type>;base64,<data>` URL; anything else is a 400 naming `where`. */
export function parseDataUrl(url: unknown, where: string): { contentType: string; bytes: Buffer } {
  const match = typeof url === "string" ? /^data:([\w.+-]+\/[\w.+-]+);base64,(.*)$/s.exec(url) : null;
  if (!match) throw new FakeHttpError(400, `${where}: expected a base64 data URL (data:<type>;base64,<data>).`, "invalid_request_error");
  return { contentType: (match[1] as string).toLowerCase(), bytes: decodeBase64(match[2], where) };
}

/** True when `bytes` start with the signature of `contentType` (types without one pass). */
export function bytesMatchType(bytes: Buffer, contentType: string): boolean {
  const starts = (...signature: number[]): boolean => signature.every((byte, i) => bytes[i] === byte);
  switch (contentType) {
    case "image/png":
      return starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
    case "image/jpeg":
      return starts(0xff, 0xd8, 0xff);
    case "image/gif":
      return bytes.subarray(0, 4).toString("latin1") === "GIF8";
    case "image/webp":
      return bytes.subarray(0, 4).toString("latin1") === "RIFF" && bytes.subarray(8, 12).toString("latin1") === "WEBP";
    case "application/pdf":
      return bytes.subarray(0, 5).toString("latin1") === "%PDF-";
    default:
      return true;
  }
}

/** Refuses keys of `value` not in `allowed`, naming where. */
export function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new FakeHttpError(400, `${where}.${key}: Extra inputs are not permitted.`, "invalid_request_error");
  }
}

/** `value` as a plain object, or a 400 naming where. */
export function objectAt(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new FakeHttpError(400, `${where}: expected an object.`, "invalid_request_error");
  }
  return value as Record<string, unknown>;
}
