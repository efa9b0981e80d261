/**
 * `buildServer(store, options, tokens)`: the Fastify instance of `attache
 * serve`, not yet listening. It holds the ServerContext every plugin shares,
 * maps every failure to `{ "error": { "code", "message" } }` with its status
 * (src/server/service-errors.ts), counts requests for /metrics, answers CORS
 * when `corsOrigin` is set, and registers:
 *
 *   routes/health.ts        GET /healthz                        no token
 *   openapi.ts              GET /openapi.json                   no token
 *   metrics.ts              GET /metrics                        admin when tokens are configured
 *   routes/attachments.ts   stage, list, get, update, release
 *   routes/from-url.ts      POST …/attachments/from-url
 *   routes/content.ts       GET /v1/attachments/{id}/content
 *   routes/render.ts        GET /v1/attachments/{id}/render
 *   routes/scopes.ts        GET /v1/scopes, GET /v1/attachments, DELETE /v1/scopes/{scope}
 *   routes/admin.ts         POST /v1/sweep, POST /v1/verify     admin only
 *   tus/                    /v1/uploads/                        tus 1.0
 *   dashboard/              GET /
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Store } from "../index.js";
import { authenticator, parseTokens, type TokenEntry } from "./auth.js";
import type { ServeOptions, ServerContext } from "./context.js";
import { dashboardRoutes } from "./dashboard/index.js";
import { HttpMetrics, metricsRoutes } from "./metrics.js";
import { collectRoutes, openApiRoutes } from "./openapi.js";
import { adminRoutes } from "./routes/admin.js";
import { attachmentRoutes } from "./routes/attachments.js";
import { contentRoutes } from "./routes/content.js";
import { fromUrlRoutes } from "./routes/from-url.js";
import { healthRoutes } from "./routes/health.js";
import { renderRoutes } from "./routes/render.js";
import { scopeRoutes } from "./routes/scopes.js";
import { SHARED_SCHEMAS } from "./schemas.js";
import { answerFor, busy } from "./service-errors.js";
import { tusRoutes } from "./tus/index.js";
import { packageVersion } from "../version.js";

/** Largest JSON body (PATCH, from-url): metadata is at most 64 KiB. */
const JSON_BODY_LIMIT = 1 << 20;

/** Headers a browser may send and read across origins (tus's included). */
const CORS_ALLOW_HEADERS = "Authorization, Content-Type, Range, If-None-Match, If-Range, Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum, Upload-Concat, Upload-Defer-Length";
const CORS_EXPOSE_HEADERS =
  "ETag, Content-Disposition, Content-Range, Content-Length, Retry-After, Location, Attache-Ref, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata";

/** The `beginUpload` of a context: a counter that refuses past `limit` with 503 BUSY. */
function uploadSlots(limit: number): () => () => void {
  let inFlight = 0;
  return () => {
    if (inFlight >= limit) throw busy(limit);
    inFlight++;
    let released = false;
    return () => {
      if (!released) inFlight--;
      released = true;
    };
  };
}

/** Answers CORS: headers on every response to the configured origin, and preflights with 204. */
function addCors(app: FastifyInstance, origin: string): void {
  app.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    const from = request.headers.origin;
    if (from === undefined || (origin !== "*" && from !== origin)) return;
    reply.header("access-control-allow-origin", origin === "*" ? "*" : from).header("vary", "Origin").header("access-control-expose-headers", CORS_EXPOSE_HEADERS);
    if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
      await reply
        .code(204)
        .header("access-control-allow-methods", "GET, HEAD, POST, PATCH, DELETE, OPTIONS")
        .header("access-control-allow-headers", CORS_ALLOW_HEADERS)
        .header("access-control-max-age", "600")
        .send();
    }
  });
}

/**
 * The service, ready to `listen()`. `tokens` is the parsed tokens file
 * (src/server/auth.ts), or `null` for none (every request is an admin: bind
 * it to loopback only, as `serve()` does). `shutdown`, once aborted, stops
 * in-flight uploads (they stage nothing).
 */
export async function buildServer(
  store: Store,
  options: ServeOptions,
  tokens: readonly TokenEntry[] | null,
  shutdown: AbortSignal = new AbortController().signal,
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: options.logLevel ?? "info" },
    requestTimeout: options.requestTimeoutMs ?? 3_600_000,
    connectionTimeout: options.idleTimeoutMs ?? 60_000,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    bodyLimit: JSON_BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    // Typos in a query or body are errors, not silently dropped members.
    ajv: { customOptions: { removeAdditional: false } },
  }) as unknown as FastifyInstance;

  const ctx: ServerContext = {
    store,
    options,
    authenticate: authenticator(tokens === null ? null : parseTokens(tokens)),
    beginUpload: uploadSlots(options.maxConcurrentUploads),
    shutdown,
  };

  app.setErrorHandler((err, request, reply) => {
    const answer = answerFor(err);
    if (answer.status >= 500) request.log.error({ err }, answer.message);
    else request.log.info({ code: answer.code }, answer.message);
    if (answer.status === 401) reply.header("www-authenticate", 'Bearer realm="attache"');
    if (answer.status === 503 && (answer.retryable || shutdown.aborted)) reply.header("retry-after", "1");
    // A body left unread (a refusal before or during an upload) must not be drained: end the connection.
    if (!request.raw.complete) reply.header("connection", "close");
    return reply.code(answer.status).type("application/json; charset=utf-8").send({ error: { code: answer.code, message: answer.message } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: "NOT_FOUND", message: `No route ${request.method} ${request.url.split("?", 1)[0]}: see GET /openapi.json.` } }),
  );

  const metrics = new HttpMetrics();
  app.addHook("onResponse", async (request, reply) => {
    metrics.record(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000);
  });
  if (options.corsOrigin !== undefined) addCors(app, options.corsOrigin);
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);

  const routes = collectRoutes(app);
  await app.register(async (scope) => healthRoutes(scope));
  await app.register(async (scope) => openApiRoutes(scope, routes, packageVersion()));
  await app.register(async (scope) => metricsRoutes(scope, ctx, metrics));
  await app.register(async (scope) => attachmentRoutes(scope, ctx));
  await app.register(async (scope) => fromUrlRoutes(scope, ctx));
  await app.register(async (scope) => contentRoutes(scope, ctx));
  await app.register(async (scope) => renderRoutes(scope, ctx));
  await app.register(async (scope) => scopeRoutes(scope, ctx));
  await app.register(async (scope) => adminRoutes(scope, ctx));
  await app.register(async (scope) => tusRoutes(scope, ctx));
  await app.register(async (scope) => dashboardRoutes(scope, ctx));
  await app.ready();
  return app;
}
