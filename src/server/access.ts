/**
 * What a request may reach. A scope outside the token's patterns, and an
 * attachment in one, are answered exactly as an unknown one is (404
 * NOT_FOUND, the same message): a token cannot learn that another scope's
 * attachment exists, even by guessing its id.
 */
import type { FastifyRequest } from "fastify";
import { AttacheError, type Attachment } from "../index.js";
import { notFound } from "../errors.js";
import type { ServerContext } from "./context.js";

/** The scope named in the path, when the request's token may reach it; else NOT_FOUND. */
export function reachableScope(ctx: ServerContext, request: FastifyRequest, scope: string): string {
  if (!ctx.authenticate(request).allows(scope)) {
    throw new AttacheError("NOT_FOUND", `No scope ${JSON.stringify(scope)} here for this token: check the scope and the token's "scopes" patterns.`);
  }
  return scope;
}

/** The live attachment `id`, when the request's token reaches its scope; else NOT_FOUND. */
export async function reachableAttachment(ctx: ServerContext, request: FastifyRequest, id: string): Promise<Attachment> {
  const principal = ctx.authenticate(request);
  const attachment = await ctx.store.get(id);
  if (!principal.allows(attachment.scope)) throw notFound(attachment.ref);
  return attachment;
}
