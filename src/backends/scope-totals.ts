/**
 * One scope's metrics from its running totals (all attachments, and those
 * without expiry) corrected by its expired attachments awaiting the sweep:
 * the arithmetic every manifest with `scope_totals` shares.
 */
import type { ManifestScopeMetrics } from "./manifest.js";

export interface ScopeTotals {
  scope: string;
  /** Every attachment row of the scope, live or expired. */
  count: number;
  bytes: number;
  /** Those without expiry. */
  persistentCount: number;
  persistentBytes: number;
  /** Those expired at the time asked, awaiting the sweep. */
  expiredCount: number;
  expiredBytes: number;
}

export function scopeMetricsOf(totals: ScopeTotals, leases: number, nextExpiryAt: number | null): ManifestScopeMetrics {
  const expiring = { count: totals.count - totals.persistentCount, bytes: totals.bytes - totals.persistentBytes };
  const expirable = { count: expiring.count - totals.expiredCount, bytes: expiring.bytes - totals.expiredBytes };
  return {
    scope: totals.scope,
    attachments: totals.persistentCount + expirable.count,
    logicalBytes: totals.persistentBytes + expirable.bytes,
    persistent: { count: totals.persistentCount, bytes: totals.persistentBytes },
    expirable,
    expired: { count: totals.expiredCount, bytes: totals.expiredBytes },
    leases,
    nextExpiryAt,
  };
}
