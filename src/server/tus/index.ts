/**
 * tus 1.0 at `/v1/uploads/`: core, creation, creation-with-upload,
 * termination, expiration and checksum (sha256).
 *
 *   OPTIONS /v1/uploads/        what the server supports
 *   POST    /v1/uploads/        create (Upload-Length, Upload-Metadata with `scope`), optionally with a first body
 *   HEAD    /v1/uploads/{id}    the offset to resume from (Attache-Ref once staged)
 *   PATCH   /v1/uploads/{id}    append at Upload-Offset; the last one stages the upload (Attache-Ref)
 *   DELETE  /v1/uploads/{id}    terminate
 *   GET     /v1/uploads/{id}    { id, offset, length, ref } as JSON
 *
 * Written on Fastify rather than @tus/server 2, which has no checksum
 * extension, no way to answer a finished upload with a header computed after
 * it (the staged ref), and no per-request principal for the scope checks.
 * Bodies are never parsed by Fastify: PATCH streams them to the upload's
 * bytes file (see uploads.ts for the life of an upload).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AttacheError } from "../../errors.js";
import { isInsideDirectory } from "../../file-identity.js";
import { nodeFileSystem } from "../../fs-seam.js";
import { parseTtl, validateScope } from "../../stage-options.js";
import type { Principal, ServerContext } from "../context.js";
import {
  CHECKSUM_ALGORITHMS,
  OFFSET_OCTET_STREAM,
  REF_HEADER,
  TUS_EXTENSIONS,
  TUS_VERSION,
  headerValue,
  httpDate,
  parseChecksum,
  parseMetadata,
  parseNonNegativeInteger,
} from "./protocol.js";
import { UploadFiles } from "./upload-files.js";
import { TusRefusal, TusUploads, type UploadState } from "./uploads.js";

const BASE = "/v1/uploads";

/** Mounts the tus endpoint. Expired uploads are deleted now and then every minute (sooner with a short expiry). */
export async function tusRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const files = new UploadFiles(ctx.options.uploadDir);
  await files.open();
  // The store refuses to move files out of its own directory; an upload directory inside it is copied from.
  const inside = await isInsideDirectory(nodeFileSystem, files.partPath("probe"), ctx.store.dir);
  const uploads = new TusUploads({
    files,
    store: ctx.store,
    expiryMs: ctx.options.uploadExpiryMs,
    stageMode: inside ? "copy" : "move",
    shutdown: ctx.shutdown,
    beginUpload: () => ctx.beginUpload(),
  });
  await uploads.removeExpired();
  const every = Math.min(60_000, Math.max(1_000, Math.floor(ctx.options.uploadExpiryMs / 2)));
  const timer = setInterval(() => void uploads.removeExpired().catch((err: unknown) => app.log.error({ err }, "deleting expired tus uploads failed")), every);
  timer.unref();
  app.addHook("onClose", async () => clearInterval(timer));

  await app.register(async (scope) => {
    // The body is the upload's bytes: read by the handler as a stream, never by a parser.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
    scope.addHook("onSend", async (_request, reply) => {
      reply.header("Tus-Resumable", TUS_VERSION);
    });
    registerRoutes(scope, ctx, uploads);
  });
}

function registerRoutes(app: FastifyInstance, ctx: ServerContext, uploads: TusUploads): void {
  const options = async (request: FastifyRequest, reply: FastifyReply) => {
    ctx.authenticate(request);
    reply.header("Tus-Version", TUS_VERSION).header("Tus-Extension", TUS_EXTENSIONS).header("Tus-Checksum-Algorithm", CHECKSUM_ALGORITHMS);
    if (Number.isFinite(ctx.options.maxSize)) reply.header("Tus-Max-Size", String(ctx.options.maxSize));
    return reply.code(204).send();
  };
  const create = tus(async (request, reply) => {
    const principal = tusRequest(ctx, request);
    const upload = newUpload(ctx, request, principal);
    const withBody = hasBody(request);
    const first = withBody ? appendRequest(request, 0) : null;
    const record = await uploads.create(upload);
    reply.header("Location", `${BASE}/${record.id}`).header("Upload-Expires", httpDate(record.expiresAt));
    let state: UploadState = { record, offset: 0 };
    if (first !== null) state = await uploads.append(record.id, principal, first);
    else if (record.length === 0) state = await uploads.status(record.id, principal);
    return answer(reply.code(201), state);
  });
  const head = tus(async (request, reply) => {
    const state = await uploads.status(idOf(request), tusRequest(ctx, request));
    reply.header("Upload-Length", String(state.record.length)).header("Cache-Control", "no-store");
    if (state.record.rawMetadata !== "") reply.header("Upload-Metadata", state.record.rawMetadata);
    return answer(reply.code(200), state);
  });
  const patch = tus(async (request, reply) => {
    const principal = tusRequest(ctx, request);
    if (!hasBody(request)) {
      throw new TusRefusal(415, "UNSUPPORTED", `A PATCH carries Content-Type: ${OFFSET_OCTET_STREAM}.`);
    }
    const offset = parseNonNegativeInteger(headerValue(request.headers["upload-offset"]), "Upload-Offset");
    return answer(reply.code(204), await uploads.append(idOf(request), principal, appendRequest(request, offset)));
  });
  const terminate = tus(async (request, reply) => {
    await uploads.terminate(idOf(request), tusRequest(ctx, request));
    return reply.code(204).send();
  });
  const describe = tus(async (request) => {
    const { record, offset } = await uploads.peek(idOf(request), ctx.authenticate(request));
    return { id: record.id, offset, length: record.length, ref: record.ref };
  });

  /** Upload-Offset, Upload-Expires and the ref: what every successful tus answer carries. */
  function answer(reply: FastifyReply, state: UploadState): FastifyReply {
    reply.header("Upload-Offset", String(state.offset));
    if (state.record.ref === null) reply.header("Upload-Expires", httpDate(state.record.expiresAt));
    else reply.header(REF_HEADER, state.record.ref);
    return reply.send();
  }

  // With ignoreTrailingSlash, "/v1/uploads" and "/v1/uploads/" are one route already.
  const collections = ignoresTrailingSlash(app) ? [`${BASE}/`] : [BASE, `${BASE}/`];
  const doc = (summary: string) => ({ schema: { summary, tags: ["uploads"] } });
  for (const url of collections) {
    app.options(url, doc("tus: the server's version, extensions, checksum algorithm and max size"), options);
    app.post(url, doc("tus creation (with upload): Upload-Length, Upload-Metadata with scope, name, ttl, contentType"), create);
  }
  app.options(`${BASE}/:id`, doc("tus: the server's version, extensions, checksum algorithm and max size"), options);
  app.head(`${BASE}/:id`, doc("tus: the offset to resume from; Attache-Ref once staged"), head);
  app.patch(`${BASE}/:id`, doc("tus: append at Upload-Offset (Upload-Checksum: sha256 …); the last one stages the upload"), patch);
  app.delete(`${BASE}/:id`, doc("tus termination"), terminate);
  app.get(`${BASE}/:id`, { ...doc("The upload as JSON: { id, offset, length, ref } (ref null until finished)"), exposeHeadRoute: false }, describe);
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Answers a tus refusal (409, 410, 412, 415, 460) itself; every other error goes to the server's error handler. */
function tus(handler: Handler): Handler {
  return async (request, reply) => {
    try {
      return await handler(request, reply);
    } catch (err) {
      if (!(err instanceof TusRefusal)) throw err;
      if (err.status === 412) reply.header("Tus-Version", TUS_VERSION);
      return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
    }
  };
}

/** Authenticates, then checks `Tus-Resumable` (412 when it is not 1.0.0). */
function tusRequest(ctx: ServerContext, request: FastifyRequest): Principal {
  const principal = ctx.authenticate(request);
  const version = headerValue(request.headers["tus-resumable"]);
  if (version !== TUS_VERSION) {
    throw new TusRefusal(412, "UNSUPPORTED", `This server speaks tus ${TUS_VERSION}; send Tus-Resumable: ${TUS_VERSION} (got ${version === undefined ? "none" : JSON.stringify(version)}).`);
  }
  return principal;
}

/** True for a body of upload bytes; 415 for a body of any other type. */
function hasBody(request: FastifyRequest): boolean {
  const type = headerValue(request.headers["content-type"])?.split(";")[0]?.trim().toLowerCase();
  if (type === OFFSET_OCTET_STREAM) return true;
  const length = Number(headerValue(request.headers["content-length"]) ?? 0);
  if (type !== undefined || length > 0 || request.headers["transfer-encoding"] !== undefined) {
    throw new TusRefusal(415, "UNSUPPORTED", `Upload bytes are sent as Content-Type: ${OFFSET_OCTET_STREAM}; got ${type ?? "none"}.`);
  }
  return false;
}

function appendRequest(request: FastifyRequest, offset: number) {
  const length = headerValue(request.headers["content-length"]);
  return {
    offset,
    checksum: parseChecksum(headerValue(request.headers["upload-checksum"])),
    contentLength: length === undefined ? null : parseNonNegativeInteger(length, "Content-Length"),
    body: request.raw,
  };
}

/** The creation request's length and metadata, checked: `scope` is required and must be the token's (404 otherwise). */
function newUpload(ctx: ServerContext, request: FastifyRequest, principal: Principal) {
  if (request.headers["upload-defer-length"] !== undefined) {
    throw new AttacheError("INVALID_ARGUMENT", "Upload-Defer-Length is not supported: send Upload-Length.");
  }
  const length = parseNonNegativeInteger(headerValue(request.headers["upload-length"]), "Upload-Length");
  if (length > ctx.options.maxSize) {
    throw new AttacheError("TOO_LARGE", `Upload-Length ${length} is over this server's limit of ${ctx.options.maxSize} bytes (--max-size).`);
  }
  const rawMetadata = headerValue(request.headers["upload-metadata"]) ?? "";
  const metadata = parseMetadata(rawMetadata);
  if (metadata.scope === undefined) {
    throw new AttacheError("INVALID_ARGUMENT", 'Upload-Metadata must name the scope to stage into: "scope <base64 of the scope>".');
  }
  const scope = validateScope(metadata.scope);
  if (!principal.allows(scope)) {
    throw new AttacheError("NOT_FOUND", `No scope ${JSON.stringify(scope)} here for this token: check the scope and the token's "scopes" patterns.`);
  }
  const ttl = metadata.ttl ?? null;
  if (ttl !== null) parseTtl(ttl, "ttl");
  return {
    scope,
    length,
    rawMetadata,
    // tus clients often send `filename` and `filetype` (tus-js-client's examples, Uppy).
    name: metadata.name ?? metadata.filename ?? null,
    ttl,
    contentType: metadata.contentType ?? metadata.filetype ?? null,
  };
}

function idOf(request: FastifyRequest): string {
  return (request.params as { id: string }).id.toLowerCase();
}

function ignoresTrailingSlash(app: FastifyInstance): boolean {
  const config = app.initialConfig as { ignoreTrailingSlash?: boolean; routerOptions?: { ignoreTrailingSlash?: boolean } };
  return config.ignoreTrailingSlash === true || config.routerOptions?.ignoreTrailingSlash === true;
}
