/** `GET /v1/attachments/{id}/render?target=`: `render()` with `via: "inline"`, the content part as JSON. */
import type { FastifyInstance } from "fastify";
import type { RenderTarget } from "../../index.js";
import { reachableAttachment } from "../access.js";
import type { ServerContext } from "../context.js";
import { errorResponses, idParams, renderTargets } from "../schemas.js";

export async function renderRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get<{ Params: { id: string }; Querystring: { target: RenderTarget; detail?: "auto" | "low" | "high" } }>(
    "/v1/attachments/:id/render",
    {
      schema: {
        summary: "The attachment as one inline content part of a model API's request",
        description: "The bytes inline (base64, or text where the API takes text): 413 past the target's inline limits, 415 for a type the target cannot take.",
        tags: ["attachments"],
        params: idParams,
        querystring: {
          type: "object",
          required: ["target"],
          properties: {
            target: { type: "string", enum: renderTargets },
            detail: { type: "string", enum: ["auto", "low", "high"], description: "OpenAI image detail" },
          },
          additionalProperties: false,
        },
        response: {
          200: { type: "object", additionalProperties: true, description: "the content part, exactly as the target's API documents it" },
          ...errorResponses(400, 401, 404, 413, 415),
        },
      },
    },
    async (request) => {
      const attachment = await reachableAttachment(ctx, request, request.params.id);
      const { target, detail } = request.query;
      return ctx.store.render(attachment.ref, target, { via: "inline", ...(detail === undefined ? {} : { detail }) });
    },
  );
}
