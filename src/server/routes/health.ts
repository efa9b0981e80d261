/** `GET /healthz`: no token; 200 `{ status: "ok" }` (once shutdown begins, Fastify answers 503 to new requests). */
import type { FastifyInstance } from "fastify";

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    "/healthz",
    {
      schema: {
        summary: "Health (no token needed)",
        tags: ["service"],
        response: { 200: { type: "object", required: ["status"], properties: { status: { type: "string", enum: ["ok"] } } } },
      },
    },
    async () => ({ status: "ok" }),
  );
}
