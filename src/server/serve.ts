/**
 * `attache serve`: opens the store, builds the service, listens, and shuts
 * down cleanly on SIGTERM or SIGINT:
 *
 *   1. stop accepting (new connections are refused, idle keep-alive ones
 *      closed, requests arriving on busy ones answered 503);
 *   2. let in-flight requests finish for up to `drainTimeoutMs`;
 *   3. then abort what is left: uploads see `ctx.shutdown` and stage
 *      nothing; a second later any connection still open is destroyed;
 *   4. close the store; the promise of `serve()` resolves (exit 0).
 *
 * Without a tokens file every request acts as an admin, so the server only
 * binds loopback addresses: any other `--listen` is refused at start.
 * Loaded only by `attache serve` (a dynamic import), so that the library
 * and the other commands never load Fastify.
 */
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { AttacheError, openStore, type Store } from "../index.js";
import { buildServer } from "./app.js";
import { loadTokens, type TokenEntry } from "./auth.js";
import type { ServeOptions } from "./context.js";

/** Everything `attache serve` needs, flags resolved. */
export interface ServeSettings extends Omit<ServeOptions, "uploadDir"> {
  /** The store's directory. */
  dir: string;
  /** `host:port` (`127.0.0.1:7070`, `[::1]:7070`, `0.0.0.0:8080`); port 0 picks a free one. */
  listen: string;
  /** The tokens file, or undefined for none (loopback only). */
  tokensFile?: string;
  /** @default `<dir>/tus` */
  uploadDir?: string;
}

/** A server that is listening. */
export interface RunningServer {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly app: FastifyInstance;
  readonly store: Store;
  /** Drains, aborts what is left after the drain timeout, closes the store. Idempotent. */
  stop(): Promise<void>;
}

/** Host and port of a `--listen` value. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim()) ?? /^()()(\d{1,5})$/.exec(value.trim());
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) {
    throw new AttacheError("INVALID_ARGUMENT", `--listen ${JSON.stringify(value)} is not host:port: use 127.0.0.1:7070, [::1]:7070 or 0.0.0.0:7070.`);
  }
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "127.0.0.1" : host, port };
}

/** True for the loopback names and addresses (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || /^::ffff:127\./i.test(host);
}

/** Opens the store and listens. Signals are not handled here (see {@link serve}). */
export async function startServer(settings: ServeSettings): Promise<RunningServer> {
  const { host, port } = parseListen(settings.listen);
  let tokens: readonly TokenEntry[] | null = null;
  if (settings.tokensFile !== undefined) tokens = await loadTokens(settings.tokensFile);
  else if (!isLoopback(host)) {
    throw new AttacheError(
      "INVALID_ARGUMENT",
      `Without --tokens every request acts as an admin, so the server listens on loopback only; --listen ${settings.listen} is not a loopback address. Pass --tokens FILE, or listen on 127.0.0.1.`,
    );
  }
  const store = await openStore({ dir: settings.dir, maxSize: settings.maxSize });
  const shutdown = new AbortController();
  let app: FastifyInstance;
  try {
    const { dir: _dir, listen: _listen, tokensFile: _tokensFile, ...serveOptions } = settings;
    const options: ServeOptions = { ...serveOptions, uploadDir: settings.uploadDir ?? path.join(store.dir, "tus") };
    app = await buildServer(store, options, tokens, shutdown.signal);
    await app.listen({ host, port });
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  const address = app.server.address();
  const bound = typeof address === "object" && address !== null ? address.port : port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
  if (tokens === null) app.log.warn("no --tokens: every request acts as an admin (loopback only)");

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      app.log.info({ drainTimeoutMs: settings.drainTimeoutMs }, "shutting down: draining in-flight requests");
      const closing = app.close();
      let hardStop: NodeJS.Timeout | undefined;
      const drainTimer = setTimeout(() => {
        app.log.warn("drain timeout: aborting in-flight uploads (nothing partial is staged)");
        shutdown.abort(new AttacheError("ABORTED", "The server is shutting down; nothing was kept. Send the request again."));
        hardStop = setTimeout(() => app.server.closeAllConnections(), 1000);
      }, settings.drainTimeoutMs);
      try {
        await closing;
      } finally {
        clearTimeout(drainTimer);
        clearTimeout(hardStop);
        await store.close();
      }
    })());
  return { url, app, store, stop };
}

/**
 * `attache serve`: listens until SIGTERM or SIGINT, then drains, closes the
 * store and resolves. A second signal cuts the connections still open.
 */
export async function serve(settings: ServeSettings): Promise<void> {
  const server = await startServer(settings);
  // One line for people and scripts, whatever the log level (the request log is on stdout).
  process.stderr.write(`attache serve: listening on ${server.url}\n`);
  await new Promise<void>((resolve, reject) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        server.app.log.warn({ signal }, "second signal: closing every connection now");
        server.app.server.closeAllConnections();
        return;
      }
      signalled = true;
      server.app.log.info({ signal }, "signal received");
      server.stop().then(resolve, reject);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  process.removeAllListeners("SIGTERM");
  process.removeAllListeners("SIGINT");
}
