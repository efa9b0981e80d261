import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, json, runCli, tempDir } from "./cli-harness.js";

interface ParsedMetric {
  help: string;
  type: string;
  /** The sample, or `null` for a metric with HELP and TYPE but no sample. */
  value: number | null;
}

/**
 * A strict reader of the Prometheus text format 0.0.4 for label-free
 * samples: every line is a HELP, a TYPE or a sample; HELP and TYPE come once
 * per metric and before its sample; values are floats or +Inf/-Inf/NaN.
 */
function parsePrometheus(text: string): Map<string, ParsedMetric> {
  expect(text.endsWith("\n")).toBe(true);
  const metrics = new Map<string, ParsedMetric>();
  const name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  for (const line of text.slice(0, -1).split("\n")) {
    const help = new RegExp(`^# HELP (${name}) (.*)$`).exec(line);
    const type = new RegExp(`^# TYPE (${name}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    const sample = new RegExp(`^(${name}) ([-+]?(?:\\d+(?:\\.\\d*)?(?:[eE][-+]?\\d+)?|Inf|NaN))$`).exec(line);
    if (help) {
      expect(metrics.has(help[1] as string), `second HELP for ${help[1]}`).toBe(false);
      metrics.set(help[1] as string, { help: help[2] as string, type: "", value: null });
    } else if (type) {
      const metric = metrics.get(type[1] as string);
      expect(metric?.type, `TYPE for ${type[1]} without HELP, or twice`).toBe("");
      (metric as ParsedMetric).type = type[2] as string;
    } else if (sample) {
      const metric = metrics.get(sample[1] as string);
      expect(metric?.type, `sample of ${sample[1]} before its TYPE`).toBeTruthy();
      expect(metric?.value, `second sample of ${sample[1]}`).toBeNull();
      (metric as ParsedMetric).value = Number(sample[2]?.replace(/^([-+]?)Inf$/, "$1Infinity"));
    } else {
      throw new Error(`not a Prometheus 0.0.4 line: ${JSON.stringify(line)}`);
    }
  }
  return metrics;
}

const { dir, cleanup } = tempDir();
const store = path.join(dir, "store");
const attache = (args: string[], input?: string) => runCli(["--dir", store, ...args], input === undefined ? {} : { input });

beforeAll(async () => {
  assertCliBuilt();
  // Two scopes, a duplicate, a persistent attachment and an expired one.
  for (const args of [["--scope", "a"], ["--scope", "b"], ["--scope", "a", "--persist"], ["--scope", "a", "--ttl", "0"]]) {
    const text = args.includes("--persist") ? "forever" : args.includes("0") ? "short-lived" : "shared bytes";
    expect((await attache(["stage", "-", "-q", ...args], text)).code).toBe(0);
  }
});
afterAll(cleanup);

describe.concurrent("attache metrics", () => {
  it("prints every metric as JSON with a fixed key set", async () => {
    const metrics = json<Record<string, unknown>>(await attache(["metrics", "--json"]));
    expect(Object.keys(metrics)).toEqual([
      "attachments",
      "blobs",
      "scopes",
      "logicalBytes",
      "storedBytes",
      "dedupSavedBytes",
      "persistent",
      "expirable",
      "expired",
      "leases",
      "nextExpiryAt",
      "remote",
    ]);
    expect(metrics).toMatchObject({
      attachments: 3,
      scopes: 2,
      logicalBytes: 12 + 12 + 7,
      dedupSavedBytes: 12,
      persistent: { count: 1, bytes: 7 },
      expirable: { count: 2, bytes: 24 },
      expired: { count: 1, bytes: 11 },
      leases: 0,
    });
    expect(Object.keys(metrics.expired as object)).toEqual(["count", "bytes"]);
    expect(Date.parse(metrics.nextExpiryAt as string)).toBeGreaterThan(Date.now());
  });

  it("prints Prometheus text that parses back to the same values", async () => {
    const result = await attache(["metrics", "--prometheus"]);
    expect(result.code).toBe(0);
    const parsed = parsePrometheus(result.stdout);
    const metrics = json<{ [key: string]: number | { count: number; bytes: number } | string }>(await attache(["metrics", "--json"]));
    for (const [name, metric] of parsed) {
      expect(name).toMatch(/^attache_[a-z_]+$/);
      // Counters (this process's uploads) end in _total, as Prometheus names them; the rest are gauges.
      expect(metric.type).toBe(name.endsWith("_total") ? "counter" : "gauge");
      expect(metric.help.length).toBeGreaterThan(10);
    }
    const expected: Record<string, unknown> = {
      attache_attachments: metrics.attachments,
      attache_scopes: metrics.scopes,
      attache_blobs: metrics.blobs,
      attache_logical_bytes: metrics.logicalBytes,
      attache_stored_bytes: metrics.storedBytes,
      attache_dedup_saved_bytes: metrics.dedupSavedBytes,
      attache_persistent_attachments: 1,
      attache_persistent_bytes: 7,
      attache_expirable_attachments: 2,
      attache_expirable_bytes: 24,
      attache_expired_attachments: 1,
      attache_expired_bytes: 11,
      attache_leases: 0,
      attache_next_expiry_timestamp_seconds: Date.parse(metrics.nextExpiryAt as string) / 1000,
      // Per-destination series: HELP and TYPE only while nothing was uploaded (test/cli/deliver.test.ts has samples).
      attache_remote_files: null,
      attache_remote_bytes: null,
      attache_uploads_total: null,
      attache_upload_ledger_hits_total: null,
      attache_upload_bytes_sent_total: null,
      attache_upload_retries_total: null,
      attache_upload_failures_total: null,
    };
    expect(Object.fromEntries([...parsed].map(([name, metric]) => [name, metric.value]))).toEqual(expected);
  });

  it("prints a readable summary by default", async () => {
    const result = await attache(["metrics"]);
    expect(result.stdout).toMatch(/^attachments\s+3 in 2 scopes\n/);
    expect(result.stdout).toMatch(/\nexpired\s+1 \(11 B\) awaiting sweep\n/);
    expect(result.stdout).toMatch(/\nnext expiry\s+in 23h 59m\nremote\s+none\n$/);
  });

  it("leaves the next-expiry gauge without a sample when nothing is due", async () => {
    const { dir: empty, cleanup: done } = tempDir();
    try {
      const result = await runCli(["--dir", empty, "metrics", "--prometheus"]);
      const parsed = parsePrometheus(result.stdout);
      expect(parsed.get("attache_next_expiry_timestamp_seconds")).toMatchObject({ type: "gauge", value: null });
      expect(parsed.get("attache_attachments")?.value).toBe(0);
    } finally {
      done();
    }
  });
});
