/**
 * The machinery the fake provider servers share: a node:http server on
 * 127.0.0.1 (port 0), routes by method, path and (for Gemini) a header,
 * per-route request counts and concurrency, latency, the scripted faults of
 * ./faults.ts, and a strict multipart/form-data parser. Each provider's fake
 * adds its routes and its error JSON.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { FaultQueue, type Fault } from "./faults.js";

/** A request as a route handler sees it, body read in full. */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Regex groups of the route's path. */
  params: string[];
  body: Buffer;
  header(name: string): string | undefined;
}

/** A request whose body a route reads as it arrives (see `FakeRoute.handleStream`). */
export interface FakeStreamRequest extends Omit<FakeRequest, "body"> {
  body: AsyncIterable<Buffer>;
}

/** A route's answer. */
export interface FakeResponse {
  status?: number;
  json?: unknown;
  headers?: Record<string, string>;
}

/** A refusal: answered with `status` and the provider's error JSON. */
export class FakeHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type?: string,
  ) {
    super(message);
  }
}

export interface FakeRoute {
  /** The name counts and faults are kept under, such as `"uploads.parts"`. */
  name: string;
  method: string;
  path: RegExp;
  /** A further condition on the request's headers (Gemini's upload commands share one path). */
  when?: (header: (name: string) => string | undefined) => boolean;
  /** Checks of the headers (auth, required headers) before the handler runs; throws FakeHttpError. */
  check?: (header: (name: string) => string | undefined) => void;
  /** Answers a request whose body was read in full. A route has this or `handleStream`. */
  handle?(request: FakeRequest): FakeResponse | Promise<FakeResponse>;
  /**
   * Instead of `handle`: answers a request whose body it reads as it arrives
   * (a benchmark's large upload, hashed and discarded). It must consume the
   * body; whatever it leaves is drained before the answer. Latency applies
   * after the body, before the answer, as for `handle`.
   */
  handleStream?(request: FakeStreamRequest): Promise<FakeResponse>;
}

export class FakeHttpServer {
  readonly faults = new FaultQueue();
  /** Errors the fake's own handlers threw (a bug in the fake, answered with a 500). */
  readonly unexpected: unknown[] = [];
  private readonly server = http.createServer((req, res) => void this.serve(req, res));
  private readonly routes: FakeRoute[] = [];
  private readonly counts = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  private readonly peaks = new Map<string, number>();
  private readonly latencies = new Map<string, number>();
  private origin = "";

  /** `errorJson` renders a refusal as the provider does. */
  constructor(private readonly errorJson: (status: number, message: string, type?: string) => unknown) {}

  protected route(route: FakeRoute): void {
    this.routes.push(route);
  }

  /** Starts listening; resolves to the origin, `http://127.0.0.1:<port>`. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.origin;
  }

  get url(): string {
    return this.origin;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests that reached `route` (all routes when omitted), faulted ones included. */
  requests(route?: string): number {
    if (route !== undefined) return this.counts.get(route) ?? 0;
    let total = 0;
    for (const count of this.counts.values()) total += count;
    return total;
  }

  /** The most requests to `route` that were in flight at once. */
  maxConcurrent(route: string): number {
    return this.peaks.get(route) ?? 0;
  }

  /** Every answer of `route` (every route when omitted) waits `ms` first. */
  setLatency(ms: number, route = "*"): void {
    this.latencies.set(route, ms);
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const header = (name: string): string | undefined => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(", ") : value;
    };
    const method = req.method ?? "GET";
    let route: FakeRoute | undefined;
    let params: string[] = [];
    for (const candidate of this.routes) {
      const match = candidate.method === method ? candidate.path.exec(url.pathname) : null;
      if (match && (candidate.when?.(header) ?? true)) {
        route = candidate;
        params = match.slice(1);
        break;
      }
    }
    if (!route) {
      await readBody(req).catch(() => undefined);
      return this.send(res, { status: 404, json: this.errorJson(404, `No route for ${method} ${url.pathname}.`, "not_found") });
    }
    const name = route.name;
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    const running = (this.inFlight.get(name) ?? 0) + 1;
    this.inFlight.set(name, running);
    this.peaks.set(name, Math.max(this.peaks.get(name) ?? 0, running));
    res.on("close", () => this.inFlight.set(name, (this.inFlight.get(name) ?? 1) - 1));

    const fault = this.faults.take(name);
    if (fault.kind === "drop-mid-body") {
      req.once("data", () => req.socket.destroy());
      req.once("end", () => req.socket.destroy());
      req.resume();
      return;
    }
    if (route.handleStream) return this.serveStreaming(route, fault, { method, path: url.pathname, query: url.searchParams, params, header }, req, res);
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return; // the client went away mid-body: nothing to answer
    }
    const latency = this.latencies.get(name) ?? this.latencies.get("*") ?? 0;
    if (latency > 0) await sleep(latency);
    if (fault.kind === "delay") await sleep(fault.ms);
    if (fault.kind === "status") {
      const message = fault.message ?? `Injected ${fault.status}.`;
      return this.send(res, { status: fault.status, json: this.errorJson(fault.status, message), ...(fault.headers ? { headers: fault.headers } : {}) });
    }
    let answer: FakeResponse;
    try {
      route.check?.(header);
      if (!route.handle) throw new Error(`Route ${name} has no handler.`);
      answer = await route.handle({ method, path: url.pathname, query: url.searchParams, params, body, header });
    } catch (err) {
      if (!(err instanceof FakeHttpError)) this.unexpected.push(err);
      const refusal = err instanceof FakeHttpError ? err : new FakeHttpError(500, `The fake failed: ${String(err)}`);
      answer = { status: refusal.status, json: this.errorJson(refusal.status, refusal.message, refusal.type) };
    }
    if (fault.kind === "drop-after-body") {
      req.socket.destroy();
      return;
    }
    this.send(res, answer);
  }

  /** `serve` for a route that reads its body as it arrives: the same faults, latency after the body. */
  private async serveStreaming(
    route: FakeRoute,
    fault: Fault,
    request: Omit<FakeStreamRequest, "body">,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    let answer: FakeResponse;
    if (fault.kind === "status") {
      if (!(await drain(req))) return;
      answer = { status: fault.status, json: this.errorJson(fault.status, fault.message ?? `Injected ${fault.status}.`), ...(fault.headers ? { headers: fault.headers } : {}) };
    } else {
      try {
        route.check?.(request.header);
        answer = await (route.handleStream as NonNullable<FakeRoute["handleStream"]>)({
          ...request,
          // An early exit (a refusal mid-body) must not destroy the request: the rest is drained, then answered.
          body: req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>,
        });
      } catch (err) {
        if (req.destroyed && !req.complete) return; // the client went away mid-body: nothing to answer
        if (!(err instanceof FakeHttpError)) this.unexpected.push(err);
        const refusal = err instanceof FakeHttpError ? err : new FakeHttpError(500, `The fake failed: ${String(err)}`);
        answer = { status: refusal.status, json: this.errorJson(refusal.status, refusal.message, refusal.type) };
      }
      if (!(await drain(req))) return;
    }
    const latency = this.latencies.get(route.name) ?? this.latencies.get("*") ?? 0;
    if (latency > 0) await sleep(latency);
    if (fault.kind === "delay") await sleep(fault.ms);
    if (fault.kind === "drop-after-body") {
      req.socket.destroy();
      return;
    }
    this.send(res, answer);
  }

  private send(res: http.ServerResponse, answer: FakeResponse): void {
    if (res.destroyed) return;
    const payload = answer.json === undefined ? "" : JSON.stringify(answer.json);
    res.writeHead(answer.status ?? 200, {
      ...(answer.json === undefined ? {} : { "content-type": "application/json" }),
      ...answer.headers,
    });
    res.end(payload);
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("aborted", () => reject(new Error("client aborted")));
    req.on("error", reject);
  });
}

/** Reads and drops what is left of a body; false when the client went away first. */
async function drain(req: http.IncomingMessage): Promise<boolean> {
  if (req.complete) return true;
  try {
    for await (const _chunk of req) {
      // dropped
    }
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One part of a multipart/form-data body. */
export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/**
 * Parses a multipart/form-data body strictly: a body that does not start
 * with the boundary, a part without a name, or a body cut short of the
 * closing boundary is a 400.
 */
export function parseMultipart(contentType: string | undefined, body: Buffer): FormPart[] {
  const boundary = /^multipart\/form-data;.*\bboundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "");
  if (!boundary) throw new FakeHttpError(400, `Expected a multipart/form-data body; got content-type ${JSON.stringify(contentType)}.`, "invalid_request_error");
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  if (body.indexOf(delimiter) !== 0) throw new FakeHttpError(400, "The multipart body does not start with its boundary.", "invalid_request_error");
  const parts: FormPart[] = [];
  let position = delimiter.length;
  for (;;) {
    if (body.subarray(position, position + 2).toString() === "--") break; // the closing boundary
    if (body.subarray(position, position + 2).toString() !== "\r\n") throw malformed();
    const headerEnd = body.indexOf("\r\n\r\n", position + 2);
    if (headerEnd < 0) throw malformed();
    const headers = body.subarray(position + 2, headerEnd).toString("utf8").split("\r\n");
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headerEnd + 4);
    if (next < 0) throw malformed();
    const disposition = headers.find((line) => /^content-disposition:/i.test(line)) ?? "";
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1];
    if (!name) throw new FakeHttpError(400, "A multipart part has no name.", "invalid_request_error");
    const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1];
    const type = headers.find((line) => /^content-type:/i.test(line))?.replace(/^content-type:\s*/i, "");
    parts.push({
      name: decodeURIComponent(name),
      ...(filename === undefined ? {} : { filename: decodeURIComponent(filename) }),
      ...(type === undefined ? {} : { contentType: type }),
      data: body.subarray(headerEnd + 4, next),
    });
    position = next + 2 + delimiter.length;
  }
  return parts;
}

function malformed(): FakeHttpError {
  return new FakeHttpError(400, "The multipart body is malformed or cut short.", "invalid_request_error");
}

/** The fields of a form, refusing any not in `allowed` and any given twice. */
export function formFields(parts: FormPart[], allowed: readonly string[]): Map<string, FormPart> {
  const fields = new Map<string, FormPart>();
  for (const part of parts) {
    if (!allowed.includes(part.name)) throw new FakeHttpError(400, `Unrecognized request argument supplied: ${part.name}`, "invalid_request_error");
    if (fields.has(part.name)) throw new FakeHttpError(400, `Duplicate form field: ${part.name}`, "invalid_request_error");
    fields.set(part.name, part);
  }
  return fields;
}

/** Parses a JSON body, refusing anything but an object with only `allowed` keys. */
export function jsonObject(request: FakeRequest, allowed: readonly string[]): Record<string, unknown> {
  if (!/^application\/json\b/i.test(request.header("content-type") ?? "")) {
    throw new FakeHttpError(400, "Expected content-type application/json.", "invalid_request_error");
  }
  let value: unknown;
  try {
    value = JSON.parse(request.body.toString("utf8"));
  } catch {
    throw new FakeHttpError(400, "The body is not valid JSON.", "invalid_request_error");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new FakeHttpError(400, "The body must be a JSON object.", "invalid_request_error");
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new FakeHttpError(400, `Unrecognized request argument supplied: ${key}`, "invalid_request_error");
  }
  return value as Record<string, unknown>;
}

/** A random id with a provider's prefix. */
export function fakeId(prefix: string): string {
  return `${prefix}${Math.random().toString(36).slice(2, 12)}${Date.now().toString(36)}`;
}
