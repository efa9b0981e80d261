/**
 * Scripted faults for the fake provider servers: a queue per route, one
 * fault taken per request that reaches the route, in order. A request that
 * finds its queue empty is served normally.
 *
 *   fake.faults.push("uploads.parts", pass(), rateLimited({ retryAfterMs: 20 }), dropMidBody());
 *
 * lets the first part through, answers the second with a 429 and
 * `retry-after-ms: 20`, and cuts the third's connection while its body
 * arrives.
 */

/** What a fake server does to one request instead of (or before) serving it. */
export type Fault =
  /** Serve the request normally. */
  | { kind: "pass" }
  /** Answer with this status and the provider's error JSON (after reading the body). */
  | { kind: "status"; status: number; headers?: Record<string, string>; message?: string }
  /** Destroy the connection as soon as the first bytes of the body arrive: nothing is processed. */
  | { kind: "drop-mid-body" }
  /** Process the request (its effects are kept), then destroy the connection instead of answering. */
  | { kind: "drop-after-body" }
  /** Wait this long before serving the request normally (a slow provider). */
  | { kind: "delay"; ms: number };

export const pass = (): Fault => ({ kind: "pass" });

export const failWith = (status: number, headers?: Record<string, string>, message?: string): Fault => ({
  kind: "status",
  status,
  ...(headers ? { headers } : {}),
  ...(message ? { message } : {}),
});

/** A 429, with `Retry-After` (seconds or an HTTP date) and/or `retry-after-ms`. */
export function rateLimited(wait: { retryAfter?: string; retryAfterMs?: number } = {}): Fault {
  const headers: Record<string, string> = {};
  if (wait.retryAfter !== undefined) headers["retry-after"] = wait.retryAfter;
  if (wait.retryAfterMs !== undefined) headers["retry-after-ms"] = String(wait.retryAfterMs);
  return failWith(429, headers, "Rate limit reached; slow down.");
}

export const serverError = (status = 500): Fault => failWith(status, undefined, "The server had an error while processing your request.");
export const dropMidBody = (): Fault => ({ kind: "drop-mid-body" });
export const dropAfterBody = (): Fault => ({ kind: "drop-after-body" });
export const delay = (ms: number): Fault => ({ kind: "delay", ms });

/** Faults queued per route name. */
export class FaultQueue {
  private readonly queues = new Map<string, Fault[]>();

  /** Queues `faults` for the next requests to `route`, in order. */
  push(route: string, ...faults: Fault[]): void {
    const queue = this.queues.get(route) ?? [];
    queue.push(...faults);
    this.queues.set(route, queue);
  }

  /** The fault for this request to `route`; a pass when none is queued. */
  take(route: string): Fault {
    return this.queues.get(route)?.shift() ?? { kind: "pass" };
  }

  /** Faults still queued for `route` (all routes when omitted). */
  pending(route?: string): number {
    if (route !== undefined) return this.queues.get(route)?.length ?? 0;
    let total = 0;
    for (const queue of this.queues.values()) total += queue.length;
    return total;
  }

  clear(): void {
    this.queues.clear();
  }
}
