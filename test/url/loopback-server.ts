/**
 * Real `node:http` servers on 127.0.0.1 for the URL fetch tests: each one
 * records the requests it saw (path and headers), and is closed after the
 * test file, with any connection a test left stalled.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll } from "vitest";

export interface SeenRequest {
  path: string;
  headers: IncomingHttpHeaders;
}

export interface LoopbackServer {
  readonly port: number;
  /** `http://127.0.0.1:<port><path>` */
  url(path?: string): string;
  readonly seen: SeenRequest[];
  /** Sockets currently open, to check that a failed fetch hung up. */
  openConnections(): number;
}

const servers: http.Server[] = [];
afterAll(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

export async function loopbackServer(handler: (req: IncomingMessage, res: ServerResponse, server: LoopbackServer) => void): Promise<LoopbackServer> {
  const seen: SeenRequest[] = [];
  let connections = 0;
  const server = http.createServer();
  servers.push(server);
  server.on("connection", (socket) => {
    connections++;
    socket.on("close", () => connections--);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const api: LoopbackServer = {
    port,
    url: (path = "/") => `http://127.0.0.1:${port}${path}`,
    seen,
    openConnections: () => connections,
  };
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ path: req.url ?? "", headers: req.headers });
    handler(req, res, api);
  });
  return api;
}

/** Waits until `check` holds (polling every 10 ms, at most `ms`). */
export async function eventually(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
