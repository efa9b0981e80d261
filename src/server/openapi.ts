/**
 * `GET /openapi.json`: the OpenAPI 3.1 document of the service, generated
 * from the routes themselves: every route registered on the app (an
 * `onRoute` hook collects them, the tus and dashboard plugins' included)
 * contributes its path, method and the very JSON schemas Fastify validates
 * and serialises with (params → path parameters, querystring → query
 * parameters, body → request body, response → responses). The shared
 * shapes of src/server/schemas.ts become `components.schemas`. A route's
 * `config.openapi` adds what JSON schemas cannot say (a binary body, a
 * response that is not JSON). OpenAPI 3.1 schemas are JSON Schema 2020-12,
 * so the route schemas go in unchanged apart from `$ref`s.
 */
import type { FastifyInstance, RouteOptions } from "fastify";
import { SHARED_SCHEMAS } from "./schemas.js";

type Json = Record<string, unknown>;

// The documentation keys of a route's schema (Fastify ignores them; the document reads them), as @fastify/swagger declares them.
declare module "fastify" {
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: readonly string[];
  }
}

/** What a route may add to its operation through `config: { openapi }`. */
export interface OpenApiExtras {
  requestBody?: Json;
  responses?: Record<string, Json>;
  /** Leave the route out of the document (a dashboard asset). */
  hidden?: boolean;
}

/** `{ $ref: "Attachment#" }` → `{ $ref: "#/components/schemas/Attachment" }`, everywhere in a schema. */
function withComponentRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withComponentRefs);
  if (value === null || typeof value !== "object") return value;
  const out: Json = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === "$ref" && typeof inner === "string" && inner.endsWith("#")) out[key] = `#/components/schemas/${inner.slice(0, -1)}`;
    else if (key !== "$id") out[key] = withComponentRefs(inner);
  }
  return out;
}

/** `/v1/attachments/:id` → `/v1/attachments/{id}`. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}").replace(/\*$/, "{path}");
}

function parametersOf(schema: Json | undefined, where: "path" | "query"): Json[] {
  if (schema === undefined) return [];
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(description === undefined ? {} : { description }),
      schema: withComponentRefs(rest),
    };
  });
}

function responsesOf(response: Json | undefined, extras: Record<string, Json> | undefined): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [status, schema] of Object.entries(response ?? {})) {
    const { description, ...rest } = schema as Json;
    out[status] = {
      description: typeof description === "string" ? description : status.startsWith("2") ? "OK" : "an error",
      content: { "application/json": { schema: withComponentRefs(rest) } },
    };
  }
  return { ...out, ...extras };
}

function operationOf(route: RouteOptions): Json {
  const schema = (route.schema ?? {}) as Json;
  const extras = ((route.config as { openapi?: OpenApiExtras } | undefined)?.openapi ?? {}) as OpenApiExtras;
  const operation: Json = {};
  for (const key of ["summary", "description", "tags"] as const) if (schema[key] !== undefined) operation[key] = schema[key];
  const pathParameters = parametersOf(schema.params as Json | undefined, "path");
  // A route without a params schema still has its path's parameters.
  for (const [, name] of openApiPath(route.url).matchAll(/\{(\w+)\}/g)) {
    if (!pathParameters.some((p) => p.name === name)) pathParameters.push({ name, in: "path", required: true, schema: { type: "string" } });
  }
  const parameters = [...pathParameters, ...parametersOf(schema.querystring as Json | undefined, "query")];
  if (parameters.length > 0) operation.parameters = parameters;
  if (extras.requestBody !== undefined) operation.requestBody = extras.requestBody;
  else if (schema.body !== undefined) operation.requestBody = { required: true, content: { "application/json": { schema: withComponentRefs(schema.body) } } };
  const responses = responsesOf(schema.response as Json | undefined, extras.responses);
  operation.responses = Object.keys(responses).length > 0 ? responses : { default: { description: "see the description" } };
  return operation;
}

/** Collects the app's routes from now on; call before registering them. */
export function collectRoutes(app: FastifyInstance): RouteOptions[] {
  const routes: RouteOptions[] = [];
  app.addHook("onRoute", (route) => {
    routes.push(route);
  });
  return routes;
}

/** The document for the routes collected. Paths without a `/v1/`, `/metrics`, `/healthz` or `/openapi.json` prefix are kept too (the dashboard's `/`). */
export function openApiDocument(routes: readonly RouteOptions[], info: { version: string }): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const extras = (route.config as { openapi?: OpenApiExtras } | undefined)?.openapi;
    if (extras?.hidden === true) continue;
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toLowerCase());
    for (const method of methods) {
      // Fastify adds a HEAD for every GET; OPTIONS routes are CORS or tus plumbing.
      if (method === "head" && methods.length === 1 && routes.some((r) => r.url === route.url && r.method === "GET")) continue;
      const path = openApiPath(route.url);
      (paths[path] ??= {})[method] = operationOf(route);
    }
  }
  const components: Json = {
    schemas: Object.fromEntries(SHARED_SCHEMAS.map((schema) => [schema.$id, withComponentRefs(schema)])),
    securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "a token from the server's tokens file (none needed when it runs without one, on loopback)" } },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "attache",
      version: info.version,
      description: "The attache store over HTTP: stage, read, list and release the files AI agents work with. Errors are { error: { code, message } }.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    security: [{ bearer: [] }],
    paths,
    components,
  };
}

/** Registers `GET /openapi.json` (no token needed). */
export async function openApiRoutes(app: FastifyInstance, routes: readonly RouteOptions[], version: string): Promise<void> {
  let document: Json | undefined;
  app.get("/openapi.json", { schema: { summary: "This document (no token needed)", tags: ["service"] } }, async () => {
    document ??= openApiDocument(routes, { version });
    return document;
  });
}
