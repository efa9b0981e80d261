/**
 * `attache metrics --prometheus`: the store's metrics in the Prometheus text
 * exposition format 0.0.4, so that a node-exporter textfile collector or a
 * cron job can publish them. Every metric is a label-free gauge: each value
 * is a snapshot of the store, not a counter this process could keep.
 */
import type { Metrics } from "../index.js";

interface Gauge {
  name: string;
  help: string;
  value: (metrics: Metrics) => number | null;
}

/** The exported gauges, in output order. Names are stable; see docs/cli.md. */
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

/** Escapes HELP text as the format requires: backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as the format spells it (`+Inf`, `NaN`, or a plain number). */
function formatSample(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * Renders `metrics` as Prometheus text: for each gauge a `# HELP` line, a
 * `# TYPE … gauge` line and one sample; a gauge without a value (no expiry
 * due) keeps its HELP and TYPE lines but has no sample, as the format allows.
 */
export function renderPrometheus(metrics: Metrics): string {
  const lines: string[] = [];
  for (const gauge of PROMETHEUS_GAUGES) {
    lines.push(`# HELP ${gauge.name} ${escapeHelp(gauge.help)}`, `# TYPE ${gauge.name} gauge`);
    const value = gauge.value(metrics);
    if (value !== null) lines.push(`${gauge.name} ${formatSample(value)}`);
  }
  return lines.join("\n") + "\n";
}
