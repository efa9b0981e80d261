/**
 * `attache metrics --prometheus`: the store's metrics in the Prometheus text
 * exposition format 0.0.4, so that a node-exporter textfile collector or a
 * cron job can publish them.
 *
 *   store gauges      label-free snapshots of the store (`attache_attachments`, …)
 *   remote gauges     the upload ledger, one sample per destination key
 *                     (`attache_remote_files{destination="openai:…"}`): store-wide,
 *                     whichever process uploaded
 *   upload counters   this process's uploads, ledger hits, bytes sent, retries
 *                     and failures per destination (`uploadCounters()`): a
 *                     long-running process's own; a fresh `attache metrics`
 *                     has none, so they appear as HELP and TYPE alone
 *
 * A destination key is `<provider>:<hash>`, never a credential, so it is safe
 * as a label.
 */
import type { Metrics, UploadCounters } from "../index.js";

interface Gauge {
  name: string;
  help: string;
  value: (metrics: Metrics) => number | null;
}

/** The exported label-free gauges, in output order. Names are stable; see docs/cli.md. */
export const PROMETHEUS_GAUGES: readonly Gauge[] = [
  { name: "attache_attachments", help: "Live attachments (staged, not released, not expired).", value: (m) => m.attachments },
  { name: "attache_scopes", help: "Scopes with at least one live attachment.", value: (m) => m.scopes },
  { name: "attache_blobs", help: "Managed blobs on disk.", value: (m) => m.blobs },
  { name: "attache_logical_bytes", help: "Sum of the sizes of live attachments.", value: (m) => m.logicalBytes },
  { name: "attache_stored_bytes", help: "Sum of the sizes of managed blobs on disk.", value: (m) => m.storedBytes },
  {
    name: "attache_dedup_saved_bytes",
    help: "Bytes not stored thanks to deduplication (logical bytes minus distinct live blob bytes).",
    value: (m) => m.dedupSavedBytes,
  },
  { name: "attache_persistent_attachments", help: "Live attachments that never expire.", value: (m) => m.persistent.count },
  { name: "attache_persistent_bytes", help: "Sum of the sizes of live attachments that never expire.", value: (m) => m.persistent.bytes },
  { name: "attache_expirable_attachments", help: "Live attachments with an expiry.", value: (m) => m.expirable.count },
  { name: "attache_expirable_bytes", help: "Sum of the sizes of live attachments with an expiry.", value: (m) => m.expirable.bytes },
  { name: "attache_expired_attachments", help: "Expired attachments awaiting the sweep.", value: (m) => m.expired.count },
  { name: "attache_expired_bytes", help: "Sum of the sizes of expired attachments awaiting the sweep.", value: (m) => m.expired.bytes },
  { name: "attache_leases", help: "Leases currently pinning bytes.", value: (m) => m.leases },
  {
    name: "attache_next_expiry_timestamp_seconds",
    help: "Unix time of the earliest future expiry; absent when nothing is due to expire.",
    value: (m) => (m.nextExpiryAt === null ? null : m.nextExpiryAt.getTime() / 1000),
  },
];

/** A metric with one sample per destination key. */
interface PerDestination<T> {
  name: string;
  help: string;
  value: (entry: T) => number;
}

/** The upload ledger's gauges, from `metrics().remote.destinations`. */
export const PROMETHEUS_REMOTE_GAUGES: readonly PerDestination<{ count: number; bytes: number }>[] = [
  { name: "attache_remote_files", help: "Files held by a provider, from the upload ledger, per destination.", value: (d) => d.count },
  { name: "attache_remote_bytes", help: "Bytes held by a provider, from the upload ledger, per destination.", value: (d) => d.bytes },
];

/** This process's upload counters, from `uploadCounters()`. */
export const PROMETHEUS_UPLOAD_COUNTERS: readonly PerDestination<UploadCounters>[] = [
  { name: "attache_uploads_total", help: "Uploads this process sent to a destination (bytes went out).", value: (c) => c.uploads },
  {
    name: "attache_upload_ledger_hits_total",
    help: "Uploads this process answered from the ledger or another caller's upload, sending nothing.",
    value: (c) => c.ledgerHits,
  },
  { name: "attache_upload_bytes_sent_total", help: "Bytes this process sent to a destination, retries included.", value: (c) => c.bytesSent },
  { name: "attache_upload_retries_total", help: "Upload requests this process retried after a network error, 408, 409, 429 or 5xx.", value: (c) => c.retries },
  { name: "attache_upload_failures_total", help: "Uploads this process gave up on.", value: (c) => c.failures },
];

/** Escapes HELP text as the format requires: backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Escapes a label value as the format requires: backslash, double quote and line feed. */
function escapeLabel(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as the format spells it (`+Inf`, `NaN`, or a plain number). */
function formatSample(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** HELP, TYPE and one sample per destination (sorted by key, so output is stable). */
function perDestinationLines<T>(metric: PerDestination<T>, type: "gauge" | "counter", entries: Iterable<[string, T]>): string[] {
  const lines = [`# HELP ${metric.name} ${escapeHelp(metric.help)}`, `# TYPE ${metric.name} ${type}`];
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [destination, entry] of sorted) lines.push(`${metric.name}{destination="${escapeLabel(destination)}"} ${formatSample(metric.value(entry))}`);
  return lines;
}

/**
 * Renders `metrics` (and this process's upload `counters`) as Prometheus
 * text: for each metric a `# HELP` line and a `# TYPE` line, then its
 * samples. A metric without a value (no expiry due, no destination yet)
 * keeps its HELP and TYPE lines with no sample, as the format allows.
 */
export function renderPrometheus(metrics: Metrics, counters: ReadonlyMap<string, Readonly<UploadCounters>> = new Map()): string {
  const lines: string[] = [];
  for (const gauge of PROMETHEUS_GAUGES) {
    lines.push(`# HELP ${gauge.name} ${escapeHelp(gauge.help)}`, `# TYPE ${gauge.name} gauge`);
    const value = gauge.value(metrics);
    if (value !== null) lines.push(`${gauge.name} ${formatSample(value)}`);
  }
  for (const gauge of PROMETHEUS_REMOTE_GAUGES) lines.push(...perDestinationLines(gauge, "gauge", Object.entries(metrics.remote.destinations)));
  for (const counter of PROMETHEUS_UPLOAD_COUNTERS) lines.push(...perDestinationLines(counter, "counter", counters));
  return lines.join("\n") + "\n";
}
