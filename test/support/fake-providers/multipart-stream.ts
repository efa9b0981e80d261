/**
 * A streaming multipart/form-data parser for the fakes' hash-and-discard
 * mode: the file parts of a large upload are hashed as they arrive and never
 * held in memory, so a benchmark can push hundreds of MiB through a fake
 * without it buffering them. As strict as `parseMultipart`: a body that does
 * not start with its boundary, a part without a name, headers past 16 KiB or
 * a body cut short of the closing boundary is a 400.
 *
 *   --B\r\n headers \r\n\r\n data \r\n--B\r\n headers \r\n\r\n data \r\n--B--\r\n
 *
 * The parser reads the body as if it began with "\r\n", so every delimiter
 * is the same "\r\n--B" and the first one needs no special case.
 */
import { createHash, type Hash } from "node:crypto";
import { FakeHttpError } from "./fake-server.js";

/** One part of a streamed form: its bytes hashed, kept only for fields without a filename. */
export interface StreamedFormPart {
  name: string;
  filename?: string;
  contentType?: string;
  /** Bytes in the part. */
  size: number;
  /** SHA-256 of the part's bytes, hex. */
  sha256: string;
  /** The bytes of a plain field (no filename); empty for a file part. */
  data: Buffer;
}

/** The longest a plain field may be (its bytes are kept). */
const MAX_FIELD_BYTES = 64 * 1024;
/** The longest a part's header block may be. */
const MAX_HEADER_BYTES = 16 * 1024;

type State = "first-delimiter" | "after-delimiter" | "headers" | "data" | "epilogue";

/** Parses `body` as multipart/form-data, hashing file parts and discarding their bytes. */
export async function parseMultipartStream(contentType: string | undefined, body: AsyncIterable<Buffer | string>): Promise<StreamedFormPart[]> {
  const boundary = /^multipart\/form-data;.*\bboundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "");
  if (!boundary) throw new FakeHttpError(400, `Expected a multipart/form-data body; got content-type ${JSON.stringify(contentType)}.`, "invalid_request_error");
  const delimiter = Buffer.from(`\r\n--${boundary[1] ?? boundary[2]}`);
  const parts: StreamedFormPart[] = [];
  let state = "first-delimiter" as State;
  let pending: Buffer = Buffer.from("\r\n");
  let current: { name: string; filename?: string; contentType?: string; size: number; hash: Hash; kept: Buffer[] } | undefined;

  const emit = (bytes: Buffer): void => {
    if (!current || bytes.length === 0) return;
    current.size += bytes.length;
    current.hash.update(bytes);
    if (current.filename === undefined) {
      if (current.size > MAX_FIELD_BYTES) throw new FakeHttpError(400, `Form field ${current.name} is too long.`, "invalid_request_error");
      current.kept.push(Buffer.from(bytes));
    }
  };
  const finishPart = (): void => {
    if (!current) return;
    const { name, filename, contentType: type, size, hash, kept } = current;
    parts.push({
      name,
      ...(filename === undefined ? {} : { filename }),
      ...(type === undefined ? {} : { contentType: type }),
      size,
      sha256: hash.digest("hex"),
      data: Buffer.concat(kept),
    });
    current = undefined;
  };

  /** Consumes what it can of `pending`; returns false when it needs more bytes. */
  const step = (): boolean => {
    switch (state) {
      case "first-delimiter": {
        if (pending.length < delimiter.length) {
          if (!delimiter.subarray(0, pending.length).equals(pending)) throw notAtBoundary();
          return false;
        }
        if (!pending.subarray(0, delimiter.length).equals(delimiter)) throw notAtBoundary();
        pending = pending.subarray(delimiter.length);
        state = "after-delimiter";
        return true;
      }
      case "after-delimiter": {
        if (pending.length < 2) return false;
        const marker = pending.subarray(0, 2).toString("latin1");
        pending = pending.subarray(2);
        if (marker === "--") state = "epilogue";
        else if (marker === "\r\n") state = "headers";
        else throw malformed();
        return true;
      }
      case "headers": {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) {
          if (pending.length > MAX_HEADER_BYTES) throw malformed();
          return false;
        }
        const headers = pending.subarray(0, end).toString("utf8").split("\r\n");
        pending = pending.subarray(end + 4);
        const disposition = headers.find((line) => /^content-disposition:/i.test(line)) ?? "";
        const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1];
        if (!name) throw new FakeHttpError(400, "A multipart part has no name.", "invalid_request_error");
        const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1];
        const type = headers.find((line) => /^content-type:/i.test(line))?.replace(/^content-type:\s*/i, "");
        current = {
          name: decodeURIComponent(name),
          ...(filename === undefined ? {} : { filename: decodeURIComponent(filename) }),
          ...(type === undefined ? {} : { contentType: type }),
          size: 0,
          hash: createHash("sha256"),
          kept: [],
        };
        state = "data";
        return true;
      }
      case "data": {
        const at = pending.indexOf(delimiter);
        if (at >= 0) {
          emit(pending.subarray(0, at));
          finishPart();
          pending = pending.subarray(at + delimiter.length);
          state = "after-delimiter";
          return true;
        }
        // Keep a tail that may be the start of a delimiter split across chunks.
        const safe = pending.length - (delimiter.length - 1);
        if (safe > 0) {
          emit(pending.subarray(0, safe));
          pending = pending.subarray(safe);
        }
        return false;
      }
      case "epilogue":
        pending = Buffer.alloc(0);
        return false;
    }
  };

  for await (const chunk of body) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    pending = pending.length === 0 ? bytes : Buffer.concat([pending, bytes]);
    while (step());
  }
  if (state !== "epilogue") throw malformed();
  return parts;
}

function notAtBoundary(): FakeHttpError {
  return new FakeHttpError(400, "The multipart body does not start with its boundary.", "invalid_request_error");
}

function malformed(): FakeHttpError {
  return new FakeHttpError(400, "The multipart body is malformed or cut short.", "invalid_request_error");
}

/** The fields of a streamed form, refusing any not in `allowed` and any given twice. */
export function streamedFields(parts: StreamedFormPart[], allowed: readonly string[]): Map<string, StreamedFormPart> {
  const fields = new Map<string, StreamedFormPart>();
  for (const part of parts) {
    if (!allowed.includes(part.name)) throw new FakeHttpError(400, `Unrecognized request argument supplied: ${part.name}`, "invalid_request_error");
    if (fields.has(part.name)) throw new FakeHttpError(400, `Duplicate form field: ${part.name}`, "invalid_request_error");
    fields.set(part.name, part);
  }
  return fields;
}
