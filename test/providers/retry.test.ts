import { describe, expect, it } from "vitest";
import { AttacheError } from "../../src/errors.js";
import type { RetryPolicy } from "../../src/providers/destination.js";
import { describeRequestFailure, HttpStatusError, parseRetryAfter } from "../../src/providers/http-status.js";
import { withRetries, type RetryOptions } from "../../src/providers/retry.js";

const POLICY: RetryPolicy = { retries: 5, minDelayMs: 100, maxDelayMs: 1_000 };

/** An error as the SDKs shape theirs. */
function httpError(status: number, headers: Record<string, string> = {}): Error {
  return new HttpStatusError(status, new Headers(headers), "");
}

function networkError(): Error {
  return new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) });
}

/** Runs withRetries with a recording sleep and a fixed jitter; `outcomes` are thrown in turn, then "ok". */
async function run(outcomes: unknown[], options: Partial<RetryOptions> = {}) {
  const waits: number[] = [];
  let attempts = 0;
  const result = withRetries(
    async () => {
      const outcome = outcomes[attempts++];
      if (outcome !== undefined) throw outcome;
      return "ok";
    },
    {
      policy: POLICY,
      destination: "openai:abc",
      what: "upload x",
      sleep: async (ms) => void waits.push(ms),
      random: () => 1 - Number.EPSILON,
      ...options,
    },
  );
  return { result: await result.catch((err: unknown) => err), waits, attempts: () => attempts };
}

describe("withRetries", () => {
  it("backs off exponentially up to maxDelay, with full jitter", async () => {
    const failures = Array.from({ length: 5 }, () => httpError(503));
    const { result, waits } = await run(failures);
    expect(result).toBe("ok");
    expect(waits).toEqual([100, 200, 400, 800, 1_000]);
    const jittered = await run(failures, { random: () => 0.5 });
    expect(jittered.waits).toEqual([50, 100, 200, 400, 500]);
  });

  it("retries network errors, 408, 409, 429 and 5xx", async () => {
    const { result, attempts } = await run([networkError(), httpError(408), httpError(409), httpError(429), httpError(500)]);
    expect(result).toBe("ok");
    expect(attempts()).toBe(6);
  });

  it("waits what the provider asks: retry-after-ms, Retry-After in seconds, or as a date", async () => {
    const date = new Date(Date.now() + 600_000).toUTCString();
    const { waits } = await run([httpError(429, { "retry-after-ms": "250" }), httpError(503, { "retry-after": "0.5" })]);
    expect(waits).toEqual([250, 500]);
    const far = await run([httpError(429, { "retry-after": date })]);
    expect(far.result).toMatchObject({ code: "UPLOAD_FAILED", retryable: true, status: 429 });
    expect(far.waits).toEqual([]);
  });

  it("fails other 4xx at once, not retryable, with the status, the destination and the cause", async () => {
    const cause = httpError(401);
    const { result, attempts } = await run([cause]);
    expect(result).toMatchObject({ code: "UPLOAD_FAILED", retryable: false, status: 401, destination: "openai:abc", cause });
    expect(attempts()).toBe(1);
  });

  it("turns a 413 into TOO_LARGE", async () => {
    expect((await run([httpError(413)])).result).toMatchObject({ code: "TOO_LARGE", status: 413, retryable: false });
  });

  it("gives up after `retries` retries with UPLOAD_FAILED, retryable", async () => {
    const { result, attempts } = await run(Array.from({ length: 10 }, () => networkError()), { policy: { ...POLICY, retries: 2 } });
    expect(result).toMatchObject({ code: "UPLOAD_FAILED", retryable: true });
    expect((result as AttacheError).status).toBeUndefined();
    expect(attempts()).toBe(3);
  });

  it("passes an AttacheError through untouched", async () => {
    const integrity = new AttacheError("INTEGRITY_ERROR", "bad bytes");
    const { result, attempts } = await run([integrity]);
    expect(result).toBe(integrity);
    expect(attempts()).toBe(1);
  });

  it("does not retry an error that is neither a network error nor an HTTP status", async () => {
    expect((await run([new Error("Could not resolve authentication method")])).result).toMatchObject({ code: "UPLOAD_FAILED", retryable: false });
  });

  it("stops with ABORTED when the signal aborts, during a wait too", async () => {
    const controller = new AbortController();
    controller.abort();
    expect((await run([], { signal: controller.signal })).result).toMatchObject({ code: "ABORTED" });

    const later = new AbortController();
    const pending = withRetries(
      async () => {
        throw httpError(503);
      },
      { policy: { retries: 3, minDelayMs: 60_000, maxDelayMs: 60_000 }, destination: "d", what: "w", signal: later.signal, random: () => 0.99 },
    );
    setTimeout(() => later.abort(), 10);
    await expect(pending).rejects.toMatchObject({ code: "ABORTED" });
  });

  it("tells onRetry about each retry", async () => {
    const notices: unknown[] = [];
    await run([httpError(429, { "retry-after-ms": "7" })], { onRetry: (notice) => notices.push(notice) });
    expect(notices).toEqual([expect.objectContaining({ attempt: 0, delayMs: 7, status: 429 })]);
  });
});

describe("describeRequestFailure and parseRetryAfter", () => {
  it("reads the SDKs' status and headers, as a Headers or a plain record", () => {
    expect(describeRequestFailure(Object.assign(new Error("x"), { status: 429, headers: { "Retry-After": "2" } }))).toEqual({
      status: 429,
      retryable: true,
      retryAfterMs: 2_000,
    });
    expect(describeRequestFailure(Object.assign(new Error("x"), { status: 404 }))).toEqual({ status: 404, retryable: false });
  });

  it("counts timeouts and connection errors as network errors", () => {
    class APIConnectionTimeoutError extends Error {}
    expect(describeRequestFailure(new APIConnectionTimeoutError("Request timed out."))).toEqual({ retryable: true });
    expect(describeRequestFailure(new DOMException("The operation timed out.", "TimeoutError"))).toEqual({ retryable: true });
    expect(describeRequestFailure(networkError())).toEqual({ retryable: true });
  });

  it("ignores unreadable Retry-After values", () => {
    expect(parseRetryAfter(new Headers({ "retry-after": "soon" }))).toBeUndefined();
    expect(parseRetryAfter(new Headers({ "retry-after": new Date(0).toUTCString() }))).toBe(0);
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
