/**
 * The dashboard at `/`: one static page, one script, one stylesheet, no
 * framework and no build step. The page holds no data; its script reads the
 * same JSON endpoints and tokens as any client (see assets/script.ts), so the
 * page itself needs no token. A strict Content-Security-Policy allows only
 * this origin's script and style, images from blob: URLs (the previews) and
 * requests to this origin: no inline script can run even if a name slipped
 * into the page as markup.
 *
 *   GET /                       the page
 *   GET /dashboard/app.js       the script (a module)
 *   GET /dashboard/style.css    the stylesheet
 *   GET /dashboard/icon.svg     the tab's icon
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import type { ServerContext } from "../context.js";
import { DASHBOARD_ICON, DASHBOARD_PAGE } from "./assets/page.js";
import { DASHBOARD_SCRIPT } from "./assets/script.js";
import { DASHBOARD_STYLE } from "./assets/style.js";

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function asset(reply: FastifyReply, type: string, body: string, headers: Record<string, string> = {}): FastifyReply {
  return reply
    .type(type)
    .headers({ "cache-control": "no-cache", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", ...headers })
    .send(body);
}

/** Serves the dashboard. `ctx` is unused: the page's script authenticates each request it makes. */
export async function dashboardRoutes(app: FastifyInstance, _ctx: ServerContext): Promise<void> {
  const doc = (summary: string) => ({ schema: { summary, tags: ["dashboard"] } });
  app.get("/", doc("The dashboard (HTML; its script uses the JSON endpoints with the user's token)"), async (_request, reply) =>
    asset(reply, "text/html; charset=utf-8", DASHBOARD_PAGE, { "content-security-policy": DASHBOARD_CSP, "x-frame-options": "DENY" }),
  );
  app.get("/dashboard/app.js", doc("The dashboard's script"), async (_request, reply) => asset(reply, "text/javascript; charset=utf-8", DASHBOARD_SCRIPT));
  app.get("/dashboard/icon.svg", doc("The dashboard's icon"), async (_request, reply) => asset(reply, "image/svg+xml", DASHBOARD_ICON));
  app.get("/dashboard/style.css", doc("The dashboard's stylesheet"), async (_request, reply) => asset(reply, "text/css; charset=utf-8", DASHBOARD_STYLE));
}
