/**
 * A small ServerContext for testing one plugin (tus, dashboard) on a real
 * Fastify instance listening on loopback: a real store in a temp directory,
 * Bearer tokens mapped to principals, the service's own error answers
 * (src/server/service-errors.ts), an upload counter and a shutdown signal.
 */
import Fastify, { type FastifyInstance } from "fastify";
import path from "node:path";
import { openStore, type Store } from "../../src/index.js";
import type { Principal, ServeOptions, ServerContext } from "../../src/server/context.js";
import { answerFor, unauthorized } from "../../src/server/service-errors.js";
import { onCleanup, tempDir } from "../support/fixtures.js";

/** Tokens of the test servers: an admin, and two tenants who each reach their own prefix. */
export const TOKENS: Record<string, { admin: boolean; prefix: string }> = {
  "admin-token": { admin: true, prefix: "" },
  "alice-token": { admin: false, prefix: "alice:" },
  "bob-token": { admin: false, prefix: "bob:" },
};

export interface TestServer {
  app: FastifyInstance;
  /** `http://127.0.0.1:<port>` */
  url: string;
  store: Store;
  ctx: ServerContext;
  /** Aborts `ctx.shutdown`. */
  shutdown: AbortController;
  /** Uploads counted in flight by `ctx.beginUpload` right now, and the most at once. */
  uploads: { inFlight: number; peak: number };
}

export interface TestServerOptions {
  options?: Partial<ServeOptions>;
  /** Reuse a store (a second server on the same directories). */
  store?: Store;
  plugins: ((app: FastifyInstance, ctx: ServerContext) => Promise<void>)[];
}

function principalFor(header: string | undefined): Principal {
  const token = header?.startsWith("Bearer ") ? header.slice(7) : undefined;
  const entry = token === undefined ? undefined : TOKENS[token];
  if (entry === undefined) throw unauthorized();
  return { admin: entry.admin, allows: (scope) => entry.admin || scope.startsWith(entry.prefix) };
}

export async function startTestServer(config: TestServerOptions): Promise<TestServer> {
  const dir = tempDir("attache-serve-");
  const store = config.store ?? (await openStore({ dir: path.join(dir, "store"), sweepInterval: false }));
  if (config.store === undefined) onCleanup(() => store.close());
  const options: ServeOptions = {
    maxSize: Infinity,
    uploadExpiryMs: 24 * 3_600_000,
    maxConcurrentUploads: 8,
    allowPrivateNetwork: false,
    fetchTimeoutMs: 30_000,
    drainTimeoutMs: 10_000,
    uploadDir: path.join(dir, "tus"),
    ...config.options,
  };
  const shutdown = new AbortController();
  const uploads = { inFlight: 0, peak: 0 };
  const ctx: ServerContext = {
    store,
    options,
    authenticate: (request) => principalFor(request.headers.authorization),
    beginUpload() {
      uploads.inFlight++;
      uploads.peak = Math.max(uploads.peak, uploads.inFlight);
      let done = false;
      return () => {
        if (!done) uploads.inFlight--;
        done = true;
      };
    },
    shutdown: shutdown.signal,
  };
  const app = Fastify() as unknown as FastifyInstance;
  app.setErrorHandler((err, request, reply) => {
    const answer = answerFor(err);
    if (!request.raw.complete) reply.header("connection", "close");
    return reply.code(answer.status).send({ error: { code: answer.code, message: answer.message } });
  });
  for (const plugin of config.plugins) await app.register(async (scope) => plugin(scope, ctx));
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  onCleanup(() => app.close());
  return { app, url, store, ctx, shutdown, uploads };
}
