/** `POST /v1/sweep` and `POST /v1/verify`: store-wide maintenance, for admin tokens only (others: 403 FORBIDDEN). */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { sweepReportJson, verifyReportJson } from "../../cli/json-shapes.js";
import type { ServerContext } from "../context.js";
import { errorResponses, ref } from "../schemas.js";
import { forbidden } from "../service-errors.js";

function requireAdmin(ctx: ServerContext, request: FastifyRequest, what: string): void {
  if (!ctx.authenticate(request).admin) throw forbidden(what);
}

export async function adminRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post(
    "/v1/sweep",
    {
      schema: {
        summary: "Sweep: drop expired attachments, reclaim unneeded blobs and crash leftovers (admin)",
        tags: ["admin"],
        response: { 200: ref("SweepReport"), ...errorResponses(401, 403, 503) },
      },
    },
    async (request) => {
      requireAdmin(ctx, request, "A sweep");
      return sweepReportJson(await ctx.store.sweep());
    },
  );

  app.post<{ Querystring: { repair: boolean } }>(
    "/v1/verify",
    {
      schema: {
        summary: "Verify: re-hash every blob and referenced file (admin)",
        description: "With ?repair=true, drops attachments whose bytes are corrupt or missing and deletes stray files.",
        tags: ["admin"],
        querystring: { type: "object", properties: { repair: { type: "boolean", default: false } }, additionalProperties: false },
        response: { 200: ref("VerifyReport"), ...errorResponses(401, 403, 503) },
      },
    },
    async (request) => {
      requireAdmin(ctx, request, "A verify");
      return verifyReportJson(await ctx.store.verify({ repair: request.query.repair }));
    },
  );
}

export { requireAdmin };
