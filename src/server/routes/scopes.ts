/**
 * The views across scopes (the dashboard's) and the release of a scope:
 *
 *   GET    /v1/scopes           the token's scopes with counts and bytes, most bytes first
 *   GET    /v1/attachments      the most recent attachments across the token's scopes, newest first
 *   DELETE /v1/scopes/{scope}   release the whole scope: { released }
 */
import type { FastifyInstance } from "fastify";
import { attachmentJson, scopeMetricsJson } from "../../cli/json-shapes.js";
import type { Attachment } from "../../index.js";
import { reachableScope } from "../access.js";
import type { ServerContext } from "../context.js";
import { errorResponses, pageQuery, ref, scopeParams } from "../schemas.js";

/**
 * How many of the largest scopes a non-admin token's list is drawn from
 * (the manifest indexes scopes by size, not by name pattern).
 */
const SCOPES_EXAMINED = 10_000;

/**
 * The `limit` newest attachments older than `before` (an id; ids sort by
 * creation) that `allows` lets through. The manifest lists oldest first, so
 * this walks the listing once and keeps a window of `limit`: linear in the
 * store's size, meant for a dashboard, not for large stores (page a scope
 * with GET /v1/scopes/{scope}/attachments instead).
 */
async function newestAttachments(ctx: ServerContext, allows: (scope: string) => boolean, limit: number, before: string | undefined): Promise<Attachment[]> {
  const window: Attachment[] = [];
  for await (const attachment of ctx.store.iterate()) {
    if (before !== undefined && attachment.id >= before) break;
    if (!allows(attachment.scope)) continue;
    window.push(attachment);
    if (window.length > limit) window.shift();
  }
  return window.reverse();
}

/** Registers the scope routes. */
export async function scopeRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get<{ Querystring: { limit: number } }>(
    "/v1/scopes",
    {
      schema: {
        summary: "The scopes this token reaches, with counts and bytes, most bytes first",
        tags: ["scopes"],
        querystring: {
          type: "object",
          properties: { limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 } },
          additionalProperties: false,
        },
        response: {
          200: { type: "object", required: ["items"], properties: { items: { type: "array", items: ref("ScopeUsage") } } },
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const principal = ctx.authenticate(request);
      const { limit } = request.query;
      const largest = await ctx.store.largestScopes({ limit: principal.admin ? limit : SCOPES_EXAMINED });
      return { items: largest.filter((m) => principal.allows(m.scope)).slice(0, limit).map(scopeMetricsJson) };
    },
  );

  app.get<{ Querystring: { limit: number; after?: string } }>(
    "/v1/attachments",
    {
      schema: {
        summary: "The most recent attachments across the token's scopes, newest first",
        description: "after= continues with older ones. Walks the store's listing: meant for the dashboard, not for large stores.",
        tags: ["attachments"],
        querystring: pageQuery,
        response: { 200: ref("AttachmentPage"), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const principal = ctx.authenticate(request);
      const { limit, after } = request.query;
      const items = await newestAttachments(ctx, (scope) => principal.allows(scope), limit, after?.toLowerCase());
      const last = items.at(-1);
      return { items: items.map(attachmentJson), next: items.length === limit && last !== undefined ? last.id : null };
    },
  );

  app.delete<{ Params: { scope: string } }>(
    "/v1/scopes/:scope",
    {
      schema: {
        summary: "Release every attachment of the scope",
        tags: ["scopes"],
        params: scopeParams,
        response: {
          200: { type: "object", required: ["released"], properties: { released: { type: "integer" } } },
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const scope = reachableScope(ctx, request, request.params.scope);
      return { released: await ctx.store.releaseScope(scope) };
    },
  );
}
