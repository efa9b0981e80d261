/**
 * `POST /v1/scopes/{scope}/attachments/from-url`: `{ url, name?, ttl?,
 * persist?, contentType?, checksum?, headers? }` → the store fetches the URL
 * (http and https only; private, loopback and metadata addresses refused
 * unless `--allow-private-network`; `--fetch-timeout`; `--max-size`) and
 * stages it: 201 when created, 200 when the scope already held the bytes.
 */
import type { FastifyInstance } from "fastify";
import { AttacheError, type StageOptions } from "../../index.js";
import { reachableScope } from "../access.js";
import type { ServerContext } from "../context.js";
import { errorResponses, ref, scopeParams } from "../schemas.js";
import { stageResultJson } from "./attachments.js";

interface FromUrlBody {
  url: string;
  name?: string;
  ttl?: string | number;
  persist?: boolean;
  contentType?: string;
  checksum?: string;
  headers?: Record<string, string>;
}

function parseUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AttacheError("INVALID_SOURCE", `${JSON.stringify(value.slice(0, 200))} is not a URL: send an absolute http:// or https:// URL.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new AttacheError("INVALID_SOURCE", `Only http and https URLs can be fetched, not ${url.protocol} URLs.`);
  }
  return url;
}

export async function fromUrlRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post<{ Params: { scope: string }; Body: FromUrlBody }>(
    "/v1/scopes/:scope/attachments/from-url",
    {
      schema: {
        summary: "Fetch a URL and stage its body as an attachment of the scope",
        description:
          "http and https only; each hop's address is checked (private, loopback, link-local and metadata addresses are refused with 400 INVALID_SOURCE unless the server runs with --allow-private-network); headers never follow a redirect to another origin; more than --max-size is 413.",
        tags: ["attachments"],
        params: scopeParams,
        body: {
          type: "object",
          required: ["url"],
          properties: {
            url: { type: "string", description: "an absolute http:// or https:// URL" },
            name: { type: "string" },
            ttl: { type: ["string", "number"] },
            persist: { type: "boolean" },
            contentType: { type: "string" },
            checksum: { type: "string" },
            headers: { type: "object", additionalProperties: { type: "string" }, description: "request headers for the fetch (such as Authorization)" },
          },
          additionalProperties: false,
        },
        response: { 200: ref("StageResult"), 201: ref("StageResult"), ...errorResponses(400, 401, 404, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      const scope = reachableScope(ctx, request, request.params.scope);
      const { url, headers, ...rest } = request.body;
      const source = parseUrl(url);
      const done = ctx.beginUpload();
      try {
        // --max-size reaches the fetch as the store's own maxSize (serve() opens the store with it).
        const options: StageOptions = {
          ...rest,
          signal: ctx.shutdown,
          fetch: { allowPrivateNetwork: ctx.options.allowPrivateNetwork, timeout: ctx.options.fetchTimeoutMs, ...(headers === undefined ? {} : { headers }) },
        };
        const result = await ctx.store.scope(scope).stage(source, options);
        return reply.code(result.created ? 201 : 200).send(stageResultJson(result));
      } finally {
        done();
      }
    },
  );
}
