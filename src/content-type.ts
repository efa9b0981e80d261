import { fileTypeFromBuffer } from "file-type";
import mime from "mime-types";

/** How many leading bytes are kept for signature sniffing. */
export const SNIFF_BYTES = 4100;
const FALLBACK_TYPE = "application/octet-stream";

/**
 * The content type of staged bytes: the declared one if any, else sniffed
 * from the bytes' signature, else from the name's extension, else
 * `application/octet-stream`.
 */
export async function detectContentType(
  declared: string | undefined,
  head: Uint8Array,
  name: string,
): Promise<string> {
  if (declared !== undefined && declared.trim() !== "") return declared.trim();
  if (head.length > 0) {
    const sniffed = await fileTypeFromBuffer(head).catch(() => undefined);
    if (sniffed) return sniffed.mime;
  }
  const byExtension = mime.lookup(name);
  return byExtension === false ? FALLBACK_TYPE : byExtension;
}
