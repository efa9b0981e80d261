/**
 * The JSON schemas of the service, written once: Fastify validates requests
 * and serialises responses with them, and /openapi.json publishes the same
 * objects (src/server/openapi.ts). Shared shapes are registered with an
 * `$id` and referred to as `{ $ref: "Attachment#" }`.
 */
import { RENDER_TARGETS } from "../deliver/render-targets.js";

/** An object schema whose every property is required (all the service's answers are). */
function object<P extends Record<string, unknown>>(properties: P) {
  return { type: "object", required: Object.keys(properties) as (keyof P & string)[], properties } as const;
}

const countAndBytes = object({ count: { type: "integer" }, bytes: { type: "integer" } });

const attachmentProperties = {
  ref: { type: "string", description: "attache://<id>: safe to keep in chat history" },
  id: { type: "string" },
  scope: { type: "string" },
  name: { type: "string", description: "display name only" },
  size: { type: "integer" },
  contentType: { type: "string" },
  digest: { type: "string", description: "sha256:<hex>" },
  checksum: { type: "string", description: "the hex SHA-256 alone" },
  path: { type: ["string", "null"], description: "a file on the server's host, when one exists" },
  mode: { type: "string", enum: ["copy", "move", "reference"] },
  persist: { type: "boolean" },
  ttlMs: { type: ["integer", "null"] },
  createdAt: { type: "string", format: "date-time" },
  updatedAt: { type: "string", format: "date-time" },
  expiresAt: { type: ["string", "null"], format: "date-time" },
  source: { type: ["string", "null"] },
  metadata: { type: "object", additionalProperties: true },
} as const;

/** The shapes shared between routes, each registered with `app.addSchema`. */
export const SHARED_SCHEMAS = [
  {
    $id: "Error",
    ...object({
      error: object({
        code: { type: "string", description: "a stable code: NOT_FOUND, INVALID_ARGUMENT, UNAUTHORIZED, …" },
        message: { type: "string", description: "what went wrong and what to do" },
      }),
    }),
  },
  { $id: "Attachment", ...object(attachmentProperties) },
  {
    $id: "StageResult",
    ...object({
      ...attachmentProperties,
      created: { type: "boolean", description: "false when the scope already held these bytes and got its attachment back" },
      deduplicated: { type: "boolean", description: "true when the bytes were already stored" },
    }),
  },
  {
    $id: "AttachmentPage",
    ...object({
      items: { type: "array", items: { $ref: "Attachment#" } },
      next: { type: ["string", "null"], description: "pass as ?after= for the next page; null on the last" },
    }),
  },
  {
    $id: "ScopeUsage",
    ...object({
      scope: { type: "string" },
      attachments: { type: "integer" },
      logicalBytes: { type: "integer" },
      persistent: countAndBytes,
      expirable: countAndBytes,
      expired: countAndBytes,
      leases: { type: "integer" },
      nextExpiryAt: { type: ["string", "null"], format: "date-time" },
    }),
  },
  {
    $id: "SweepReport",
    ...object({
      expired: { type: "integer" },
      blobsDeleted: { type: "integer" },
      bytesFreed: { type: "integer" },
      orphansReclaimed: { type: "integer" },
      remoteDeleted: { type: "integer" },
      remoteFailed: { type: "integer" },
      durationMs: { type: "number" },
    }),
  },
  {
    $id: "VerifyReport",
    ...object({
      blobsChecked: { type: "integer" },
      bytesChecked: { type: "integer" },
      corrupt: { type: "array", items: { type: "string" } },
      missing: { type: "array", items: { type: "string" } },
      orphanFiles: { type: "array", items: { type: "string" } },
      repaired: { type: "integer" },
      manifestProblems: { type: "array", items: { type: "string" } },
    }),
  },
] as const;

/** A reference to a shared schema. */
export function ref(id: (typeof SHARED_SCHEMAS)[number]["$id"]): { $ref: string } {
  return { $ref: `${id}#` };
}

/** The error answers a route may give, each with the Error shape. */
export function errorResponses(...statuses: number[]): Record<number, { $ref: string; description: string }> {
  const described: Record<number, string> = {
    400: "INVALID_ARGUMENT or INVALID_SOURCE",
    401: "UNAUTHORIZED: no token, or an unknown one",
    403: "FORBIDDEN: needs an admin token",
    404: "NOT_FOUND: unknown, released, expired, or outside the token's scopes",
    413: "TOO_LARGE: more than --max-size",
    415: "UNSUPPORTED",
    422: "CHECKSUM_MISMATCH",
    500: "INTEGRITY_ERROR (logged)",
    502: "UPLOAD_FAILED",
    503: "IO_ERROR, STORE_CLOSED, BUSY (with Retry-After when retryable)",
  };
  return Object.fromEntries(statuses.map((status) => [status, { ...ref("Error"), description: described[status] ?? "an error" }]));
}

export const scopeParams = object({ scope: { type: "string", minLength: 1, maxLength: 1024, description: 'such as "telegram:chat42"' } });

export const idParams = object({ id: { type: "string", description: "the attachment's id (or its ref, URL-encoded)" } });

export const pageQuery = {
  type: "object",
  properties: {
    limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
    after: { type: "string", description: "an attachment id: continue after it (the `next` of the previous page)" },
  },
  additionalProperties: false,
} as const;

/** `update()`'s changes; `ttl` a duration ("30m", "7d", "Infinity") or milliseconds. */
export const updateBody = {
  type: "object",
  properties: {
    name: { type: "string" },
    metadata: { type: "object", additionalProperties: true },
    ttl: { type: ["string", "number"] },
    persist: { type: "boolean" },
  },
  additionalProperties: false,
} as const;

export const renderTargets = Object.keys(RENDER_TARGETS);
