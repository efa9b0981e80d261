/** /openapi.json lists every route with the schemas the routes validate with; /metrics speaks Prometheus text. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SHARED_SCHEMAS } from "../../src/server/schemas.js";
import { stageBytes, startTestServer, type TestServer } from "./harness.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ corsOrigin: "https://app.example" });
});
afterAll(() => server.close());

interface OpenApi {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { responses: Record<string, unknown>; parameters?: { name: string; in: string }[]; requestBody?: unknown }>>;
  components: { schemas: Record<string, unknown> };
}

describe("/openapi.json", () => {
  it("is an OpenAPI 3.1 document listing every route of DESIGN.md's table", async () => {
    const doc = (await (await server.request("/openapi.json")).json()) as OpenApi;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    const expected: [string, string][] = [
      ["/v1/scopes/{scope}/attachments", "post"],
      ["/v1/scopes/{scope}/attachments", "get"],
      ["/v1/scopes/{scope}/attachments/from-url", "post"],
      ["/v1/scopes/{scope}", "delete"],
      ["/v1/attachments/{id}", "get"],
      ["/v1/attachments/{id}", "patch"],
      ["/v1/attachments/{id}", "delete"],
      ["/v1/attachments/{id}/content", "get"],
      ["/v1/attachments/{id}/render", "get"],
      ["/v1/scopes", "get"],
      ["/v1/attachments", "get"],
      ["/v1/sweep", "post"],
      ["/v1/verify", "post"],
      ["/metrics", "get"],
      ["/healthz", "get"],
      ["/openapi.json", "get"],
    ];
    for (const [path, method] of expected) {
      const operation = doc.paths[path]?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      expect(Object.keys(operation?.responses ?? {}).length).toBeGreaterThan(0);
    }
    // Every path parameter of a templated path is declared.
    for (const [path, operations] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const operation of Object.values(operations)) {
        expect((operation.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name).sort()).toEqual(names.sort());
      }
    }
    // Every $ref resolves, and the components are the schemas the routes use.
    const text = JSON.stringify(doc);
    for (const [, name] of text.matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)) expect(doc.components.schemas[name as string], name).toBeDefined();
    expect(text).not.toMatch(/"\$ref":"\w+#"/);
    expect(Object.keys(doc.components.schemas).sort()).toEqual(SHARED_SCHEMAS.map((s) => s.$id).sort());
    expect(doc.paths["/v1/scopes/{scope}/attachments"]?.post?.requestBody).toMatchObject({ content: { "application/octet-stream": {} } });
    expect(doc.paths["/v1/attachments/{id}/content"]?.get?.responses).toHaveProperty("206");
  });
});

describe("/metrics", () => {
  it("serves the CLI's Prometheus series and the HTTP request series", async () => {
    await stageBytes(server, "m", "metric bytes");
    await server.request("/v1/attachments/01hzzzzzzzzzzzzzzzzzzzzzzz");
    const response = await server.request("/metrics");
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(/^attache_attachments 1$/m);
    expect(text).toMatch(/^# TYPE attache_uploads_total counter$/m);
    expect(text).toMatch(/^attache_http_requests_total\{method="POST",route="\/v1\/scopes\/:scope\/attachments",status="201"\} 1$/m);
    expect(text).toMatch(/^attache_http_requests_total\{method="GET",route="\/v1\/attachments\/:id",status="404"\} 1$/m);
    expect(text).toMatch(/^attache_http_request_duration_seconds_bucket\{method="GET",route="\/v1\/attachments\/:id",le="\+Inf"\} 1$/m);
    expect(text).toMatch(/^attache_http_request_duration_seconds_count\{method="POST",route="\/v1\/scopes\/:scope\/attachments"\} 1$/m);
    // Every line is a comment or `name{labels} value`.
    for (const line of text.trim().split("\n")) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [-+\dInfNa.e]+)$/);
  });
});

describe("CORS (--cors)", () => {
  it("answers preflights for the configured origin only, and exposes the download headers", async () => {
    const preflight = await server.request("/v1/scopes/x/attachments", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
    const simple = await server.request("/healthz", { headers: { origin: "https://app.example" } });
    expect(simple.headers.get("access-control-expose-headers")).toMatch(/ETag/);
    const stranger = await server.request("/healthz", { headers: { origin: "https://evil.example" } });
    expect(stranger.headers.get("access-control-allow-origin")).toBeNull();
  });
});
