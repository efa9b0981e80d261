/**
 * `GET /metrics`: Prometheus text. The store's gauges and this process's
 * upload counters exactly as `attache metrics --prometheus` prints them
 * (src/cli/prometheus.ts), then the service's own series:
 *
 *   attache_http_requests_total{method,route,status}            counter
 *   attache_http_request_duration_seconds{method,route}         histogram
 *
 * `route` is the route's pattern (`/v1/attachments/:id`), never the raw URL,
 * so ids do not make new series; unmatched requests count as `unmatched`.
 * Needs an admin token when tokens are configured.
 */
import type { FastifyInstance } from "fastify";
import { renderPrometheus } from "../cli/prometheus.js";
import { uploadCounters } from "../index.js";
import type { ServerContext } from "./context.js";
import { errorResponses } from "./schemas.js";
import { forbidden } from "./service-errors.js";

/** Histogram buckets in seconds: 1 ms to 1 min. */
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** The service's request counters and latency histograms. */
export class HttpMetrics {
  private readonly requests = new Map<string, number>();
  private readonly durations = new Map<string, Histogram>();

  record(method: string, route: string, status: number, seconds: number): void {
    const labels = `method="${escapeLabel(method)}",route="${escapeLabel(route)}"`;
    const requestKey = `${labels},status="${status}"`;
    this.requests.set(requestKey, (this.requests.get(requestKey) ?? 0) + 1);
    let histogram = this.durations.get(labels);
    if (histogram === undefined) {
      histogram = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.durations.set(labels, histogram);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= (BUCKETS[i] as number)) (histogram.counts[i] as number)++;
    histogram.sum += seconds;
    histogram.count++;
  }

  render(): string {
    const lines = [
      "# HELP attache_http_requests_total HTTP requests answered, by method, route pattern and status.",
      "# TYPE attache_http_requests_total counter",
    ];
    for (const [labels, count] of [...this.requests].sort()) lines.push(`attache_http_requests_total{${labels}} ${count}`);
    lines.push(
      "# HELP attache_http_request_duration_seconds Time from a request's arrival to its response's end, by method and route pattern.",
      "# TYPE attache_http_request_duration_seconds histogram",
    );
    for (const [labels, histogram] of [...this.durations].sort(([a], [b]) => (a < b ? -1 : 1))) {
      BUCKETS.forEach((bound, i) => lines.push(`attache_http_request_duration_seconds_bucket{${labels},le="${bound}"} ${histogram.counts[i]}`));
      lines.push(
        `attache_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${histogram.count}`,
        `attache_http_request_duration_seconds_sum{${labels}} ${histogram.sum}`,
        `attache_http_request_duration_seconds_count{${labels}} ${histogram.count}`,
      );
    }
    return lines.join("\n") + "\n";
  }
}

function escapeLabel(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Counts every response (hooked at the root, so the tus and dashboard routes count too) and serves /metrics. */
export async function metricsRoutes(app: FastifyInstance, ctx: ServerContext, metrics: HttpMetrics): Promise<void> {
  app.get(
    "/metrics",
    {
      schema: {
        summary: "Prometheus text: the store's gauges, upload counters, and HTTP request series (admin when tokens are configured)",
        tags: ["service"],
        response: errorResponses(401, 403),
      },
      config: { openapi: { responses: { 200: { description: "Prometheus text format 0.0.4", content: { "text/plain": { schema: { type: "string" } } } } } } },
    },
    async (request, reply) => {
      if (!ctx.authenticate(request).admin) throw forbidden("/metrics");
      const text = renderPrometheus(await ctx.store.metrics(), uploadCounters()) + metrics.render();
      return reply.type("text/plain; version=0.0.4; charset=utf-8").send(text);
    },
  );
}
