/**
 * The tus 1.0 wire format: the headers this server speaks and how their
 * values are read. Nothing here touches a file or the store.
 * (https://tus.io/protocols/resumable-upload)
 */
import { invalidArgument } from "../../errors.js";

export const TUS_VERSION = "1.0.0";
export const TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum";
export const CHECKSUM_ALGORITHMS = "sha256";
/** The only body a PATCH (and a creation-with-upload POST) may carry. */
export const OFFSET_OCTET_STREAM = "application/offset+octet-stream";
/** The header naming the staged attachment once the upload is complete. */
export const REF_HEADER = "Attache-Ref";

const MAX_METADATA_BYTES = 16 * 1024;
const METADATA_KEY = /^[\x21-\x7e]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A header's single value (Fastify gives arrays for repeated headers; tus never repeats one). */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A non-negative integer header (`Upload-Length`, `Upload-Offset`), or INVALID_ARGUMENT. */
export function parseNonNegativeInteger(value: string | undefined, header: string): number {
  if (value === undefined || !/^\d{1,16}$/.test(value.trim())) {
    throw invalidArgument(`${header} must be a non-negative integer; got ${value === undefined ? "nothing" : JSON.stringify(value)}.`);
  }
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n)) throw invalidArgument(`${header} is too large: ${value}.`);
  return n;
}

/**
 * `Upload-Metadata`: comma-separated `key base64value` pairs (a key alone
 * means an empty value). Values are decoded as UTF-8.
 */
export function parseMetadata(header: string | undefined): Record<string, string> {
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  if (header === undefined || header.trim() === "") return metadata;
  if (header.length > MAX_METADATA_BYTES) throw invalidArgument(`Upload-Metadata is longer than ${MAX_METADATA_BYTES} bytes.`);
  for (const pair of header.split(",")) {
    const [key, value = "", ...rest] = pair.trim().split(" ");
    if (key === undefined || !METADATA_KEY.test(key) || rest.length > 0 || !BASE64.test(value)) {
      throw invalidArgument(`Upload-Metadata must be comma-separated "key base64value" pairs; got ${JSON.stringify(pair.trim())}.`);
    }
    if (key in metadata) throw invalidArgument(`Upload-Metadata names ${key} twice.`);
    metadata[key] = Buffer.from(value, "base64").toString("utf8");
  }
  return metadata;
}

/** `Upload-Checksum: sha256 <base64 digest>` → the expected digest, or null without the header. */
export function parseChecksum(header: string | undefined): Buffer | null {
  if (header === undefined) return null;
  const [algorithm, encoded, ...rest] = header.trim().split(/\s+/);
  if (algorithm?.toLowerCase() !== "sha256" || encoded === undefined || rest.length > 0) {
    throw invalidArgument(`Upload-Checksum must be "sha256 <base64 digest>" (the only algorithm this server supports); got ${JSON.stringify(header)}.`);
  }
  const digest = Buffer.from(encoded, "base64");
  if (digest.length !== 32 || !BASE64.test(encoded)) {
    throw invalidArgument(`Upload-Checksum's sha256 digest must be 32 bytes in base64; got ${JSON.stringify(encoded)}.`);
  }
  return digest;
}

/** `Upload-Expires` is an RFC 9110 HTTP date. */
export function httpDate(epochMs: number): string {
  return new Date(epochMs).toUTCString();
}
