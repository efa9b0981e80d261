/**
 * Attachments of one scope, and one attachment by id:
 *
 *   POST   /v1/scopes/{scope}/attachments   stage the streamed body (201 created, 200 merged)
 *   GET    /v1/scopes/{scope}/attachments   a page of the scope's attachments, oldest first
 *   GET    /v1/attachments/{id}             get
 *   PATCH  /v1/attachments/{id}             update name, metadata, ttl, persist
 *   DELETE /v1/attachments/{id}             release: { released }
 *
 * The stage route lives in its own encapsulated context whose only body
 * parser hands the raw request stream over, whatever its Content-Type: a
 * JSON file is staged as bytes, not parsed.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { attachmentJson } from "../../cli/json-shapes.js";
import type { Attachment, StageOptions, StageResult } from "../../index.js";
import { reachableAttachment, reachableScope } from "../access.js";
import type { ServerContext } from "../context.js";
import { errorResponses, idParams, pageQuery, ref, scopeParams, updateBody } from "../schemas.js";
import { boundedBody, refuseDeclaredOversize } from "../upload-body.js";

/** Content-Type headers that say nothing about the bytes (curl's default for --data-binary among them). */
const UNDECLARED_TYPES = new Set(["application/octet-stream", "application/x-www-form-urlencoded", "multipart/form-data", ""]);

/** A StageResult as the flat JSON the routes answer with. */
export function stageResultJson(result: StageResult): Record<string, unknown> {
  return { ...attachmentJson(result), created: result.created, deduplicated: result.deduplicated };
}

/** `{ items, next }` of a page that asked for `limit` items. */
export function pageJson(items: readonly Attachment[], limit: number): { items: unknown[]; next: string | null } {
  const last = items.at(-1);
  return { items: items.map(attachmentJson), next: items.length === limit && last !== undefined ? last.id : null };
}

interface StageQuery {
  name?: string;
  ttl?: string;
  persist?: boolean;
  contentType?: string;
  checksum?: string;
  source?: string;
}

/** The declared type: `?contentType=`, else a Content-Type header that names a real type. */
function declaredType(request: FastifyRequest, query: StageQuery): string | undefined {
  if (query.contentType !== undefined) return query.contentType;
  const header = request.headers["content-type"]?.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  return UNDECLARED_TYPES.has(header) ? undefined : request.headers["content-type"];
}

async function stageRoute(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  // Only in this context: every body, of any type (or none), reaches the handler as the raw stream.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));

  app.post<{ Params: { scope: string }; Querystring: StageQuery }>(
    "/v1/scopes/:scope/attachments",
    {
      schema: {
        summary: "Stage the request body as an attachment of the scope",
        description:
          "The body is streamed into the store, never buffered; more than --max-size bytes fails with 413 as soon as the limit is crossed. 201 when the attachment was created, 200 when the scope already held these bytes (the same attachment, merged).",
        tags: ["attachments"],
        params: scopeParams,
        querystring: {
          type: "object",
          properties: {
            name: { type: "string", description: "display name" },
            ttl: { type: "string", description: 'a duration: "30m", "24h", "7d", "Infinity"' },
            persist: { type: "boolean" },
            contentType: { type: "string", description: "declared type; else a Content-Type header other than application/octet-stream, else sniffed" },
            checksum: { type: "string", description: "expected SHA-256: hex or sha256:<hex>; a mismatch is 422" },
            source: { type: "string", description: 'provenance label such as "telegram"' },
          },
          additionalProperties: false,
        },
        response: { 200: ref("StageResult"), 201: ref("StageResult"), ...errorResponses(400, 401, 404, 413, 422, 503) },
      },
      config: { openapi: { requestBody: { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } } } },
    },
    async (request, reply) => {
      const scope = reachableScope(ctx, request, request.params.scope);
      refuseDeclaredOversize(request.raw, ctx.options.maxSize);
      const done = ctx.beginUpload();
      try {
        const { name, ttl, persist, checksum, source } = request.query;
        // The shutdown signal reaches the stage through the body (see boundedBody).
        const options: StageOptions = {};
        if (name !== undefined) options.name = name;
        if (ttl !== undefined) options.ttl = ttl;
        if (persist !== undefined) options.persist = persist;
        if (checksum !== undefined) options.checksum = checksum;
        if (source !== undefined) options.source = source;
        const contentType = declaredType(request, request.query);
        if (contentType !== undefined) options.contentType = contentType;
        const result = await ctx.store.scope(scope).stage(boundedBody(request.raw, ctx.options.maxSize, ctx.shutdown), options);
        return reply.code(result.created ? 201 : 200).send(stageResultJson(result));
      } finally {
        done();
      }
    },
  );
}

/** Registers the attachment routes. */
export async function attachmentRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  await app.register(async (scoped) => stageRoute(scoped, ctx));

  app.get<{ Params: { scope: string }; Querystring: { limit: number; after?: string } }>(
    "/v1/scopes/:scope/attachments",
    {
      schema: {
        summary: "A page of the scope's live attachments, oldest first",
        tags: ["attachments"],
        params: scopeParams,
        querystring: pageQuery,
        response: { 200: ref("AttachmentPage"), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const scope = reachableScope(ctx, request, request.params.scope);
      const { limit, after } = request.query;
      const items = await ctx.store.scope(scope).list({ limit, ...(after === undefined ? {} : { after }) });
      return pageJson(items, limit);
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/attachments/:id",
    {
      schema: {
        summary: "One attachment",
        tags: ["attachments"],
        params: idParams,
        response: { 200: ref("Attachment"), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => attachmentJson(await reachableAttachment(ctx, request, request.params.id)),
  );

  app.patch<{ Params: { id: string }; Body: { name?: string; metadata?: Record<string, unknown>; ttl?: string | number; persist?: boolean } }>(
    "/v1/attachments/:id",
    {
      schema: {
        summary: "Change an attachment's name, metadata or lifetime",
        description: "ttl counts from now and may shorten the lifetime; persist: false without ttl expires after the store's default ttl; metadata replaces the old object.",
        tags: ["attachments"],
        params: idParams,
        body: updateBody,
        response: { 200: ref("Attachment"), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const attachment = await reachableAttachment(ctx, request, request.params.id);
      return attachmentJson(await ctx.store.scope(attachment.scope).update(attachment.ref, request.body));
    },
  );

  app.delete<{ Params: { id: string } }>(
    "/v1/attachments/:id",
    {
      schema: {
        summary: "Release an attachment",
        tags: ["attachments"],
        params: idParams,
        response: {
          200: { type: "object", required: ["released"], properties: { released: { type: "boolean" } } },
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const attachment = await reachableAttachment(ctx, request, request.params.id);
      return { released: await ctx.store.scope(attachment.scope).release(attachment.ref) };
    },
  );
}
