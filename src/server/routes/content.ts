/**
 * `GET /v1/attachments/{id}/content`: the bytes.
 *
 *   ETag            `"<hex digest>"`: the content never changes under an id
 *   If-None-Match   a match (or `*`) → 304
 *   Range           one `bytes=` range → 206 with Content-Range; past the end → 416
 *                   (`Content-Range: bytes *\/size`); several ranges, or a malformed
 *                   header, → the whole body with 200 (RFC 9110 lets a server ignore
 *                   Range; one range is what download managers and players send)
 *   If-Range        an ETag that does not match → the whole body with 200
 *
 * A full response streams `store.open()`, which hashes the bytes as they
 * pass and fails at the end if they do not match the digest. The last chunk
 * is held back until that check passes; on a mismatch the connection is
 * destroyed instead, so the client sees a response shorter than its
 * Content-Length and never takes corrupt bytes for whole. A range cannot be
 * checked against the digest without reading the whole file: it is read
 * from the resolved file as is (`GET` the whole body to verify).
 */
import { open } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { notFound } from "../../errors.js";
import type { Attachment } from "../../index.js";
import { reachableAttachment } from "../access.js";
import { contentDisposition } from "../content-disposition.js";
import type { ServerContext } from "../context.js";
import { errorResponses, idParams } from "../schemas.js";

/** An inclusive byte range. */
interface ByteRange {
  start: number;
  end: number;
}

/** True when an If-None-Match (or If-Range) list names this ETag; weak tags compare equal too. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed === etag || trimmed === `W/${etag}`;
  });
}

/** The one range asked for, "unsatisfiable", or null for the whole body. */
export function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | null {
  if (header === undefined) return null;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (match === null) return null; // several ranges, another unit, or malformed: the whole body
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return null;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return null; // invalid: ignored, as RFC 9110 says
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

/**
 * `source` with its last chunk held back until the source ends cleanly; when
 * it fails instead (a digest mismatch), `cut` runs and the held bytes are
 * never sent.
 */
function holdingLastChunk(source: Readable, cut: (err: Error) => void): Readable {
  let held: Buffer | undefined;
  const out = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _encoding, callback) {
      const previous = held;
      held = chunk;
      callback(null, previous);
    },
    flush(callback) {
      callback(null, held);
    },
  });
  source.on("error", (err) => {
    held = undefined;
    cut(err);
    out.destroy(err);
  });
  out.on("close", () => source.destroy());
  return source.pipe(out);
}

async function sendRange(ctx: ServerContext, attachment: Attachment, range: ByteRange, reply: FastifyReply): Promise<FastifyReply> {
  const { path } = await ctx.store.resolve(attachment.ref);
  let handle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    // Released and swept between resolve and open.
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw notFound(attachment.ref);
    throw err;
  }
  const stream = handle.createReadStream({ start: range.start, end: range.end, highWaterMark: 1 << 20 });
  return reply
    .code(206)
    .header("content-range", `bytes ${range.start}-${range.end}/${attachment.size}`)
    .header("content-length", range.end - range.start + 1)
    .send(stream);
}

async function sendContent(ctx: ServerContext, request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<FastifyReply> {
  const attachment = await reachableAttachment(ctx, request, request.params.id);
  const etag = `"${attachment.checksum}"`;
  reply.header("etag", etag).header("accept-ranges", "bytes").header("cache-control", "private, no-cache");
  if (etagMatches(request.headers["if-none-match"], etag)) return reply.code(304).send();
  const ifRange = [request.headers["if-range"]].flat()[0];
  const range = ifRange === undefined || etagMatches(ifRange, etag) ? parseRange(request.headers.range, attachment.size) : null;
  if (range === "unsatisfiable") {
    return reply
      .code(416)
      .header("content-range", `bytes */${attachment.size}`)
      .type("application/json")
      .send({ error: { code: "INVALID_ARGUMENT", message: `The range ${request.headers.range} lies outside the ${attachment.size} bytes of ${attachment.ref}.` } });
  }
  reply
    .type(attachment.contentType)
    .header("content-disposition", contentDisposition(attachment.name))
    // The bytes are the user's, not the service's: never run them as a page of this origin.
    .header("x-content-type-options", "nosniff")
    .header("content-security-policy", "sandbox");
  if (range !== null) return sendRange(ctx, attachment, range, reply);
  const verified = await ctx.store.open(attachment.ref);
  const body = holdingLastChunk(verified, (err) => {
    request.log.error({ err, ref: attachment.ref }, "the bytes did not verify: connection cut before the last byte");
    reply.raw.destroy();
  });
  return reply.code(200).header("content-length", attachment.size).send(body);
}

/** Registers the content route. */
export async function contentRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get<{ Params: { id: string } }>(
    "/v1/attachments/:id/content",
    {
      schema: {
        summary: "The attachment's bytes",
        description:
          'ETag "<hex digest>", If-None-Match → 304, one Range → 206 (past the end → 416; several ranges → the whole body), Content-Disposition: attachment with the name. A full body is verified as it streams: on a mismatch the connection is cut before the last byte.',
        tags: ["attachments"],
        params: idParams,
        response: errorResponses(400, 401, 404, 500, 503),
      },
      config: {
        openapi: {
          responses: {
            200: { description: "the bytes", content: { "*/*": { schema: { type: "string", format: "binary" } } } },
            206: { description: "one range of the bytes", content: { "*/*": { schema: { type: "string", format: "binary" } } } },
            304: { description: "not modified (If-None-Match matched)" },
            416: { description: "range not satisfiable", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
          },
        },
      },
    },
    (request, reply) => sendContent(ctx, request, reply),
  );
}
