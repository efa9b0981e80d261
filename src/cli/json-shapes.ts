/**
 * The `--json` output of every command. These shapes are a public contract
 * (documented in docs/cli.md): keys are listed explicitly, in a fixed order,
 * so that a field added to the library's types never leaks into the CLI's
 * output unannounced. Dates are ISO-8601 strings in UTC; "never" is `null`.
 */
import type { Attachment, Metrics, ScopeMetrics, SweepReport, UploadEntry, UploadRecord, VerifyReport } from "../index.js";

/** An {@link Attachment} as JSON: the library's fields, dates as ISO strings. */
export interface AttachmentJson {
  ref: string;
  id: string;
  scope: string;
  name: string;
  size: number;
  contentType: string;
  digest: string;
  checksum: string;
  path: string | null;
  mode: string;
  persist: boolean;
  ttlMs: number | null;
  createdAt: string;
  updatedAt: string;
  expiresAt: string | null;
  source: string | null;
  metadata: Record<string, unknown>;
}

/** One element of `attache stage --json`: the attachment, and whether its bytes were already stored. */
export type StagedJson = AttachmentJson & { deduplicated: boolean };

/** {@link Metrics} as JSON: `nextExpiryAt` as an ISO string or `null`. */
export type MetricsJson = Omit<Metrics, "nextExpiryAt"> & { nextExpiryAt: string | null };

/** The `--json` form of an attachment, keys in the documented order. */
export function attachmentJson(attachment: Attachment): AttachmentJson {
  return {
    ref: attachment.ref,
    id: attachment.id,
    scope: attachment.scope,
    name: attachment.name,
    size: attachment.size,
    contentType: attachment.contentType,
    digest: attachment.digest,
    checksum: attachment.checksum,
    path: attachment.path,
    mode: attachment.mode,
    persist: attachment.persist,
    ttlMs: attachment.ttlMs,
    createdAt: attachment.createdAt.toISOString(),
    updatedAt: attachment.updatedAt.toISOString(),
    expiresAt: attachment.expiresAt === null ? null : attachment.expiresAt.toISOString(),
    source: attachment.source,
    metadata: attachment.metadata,
  };
}

/** The `--json` form of `store.metrics()`, keys in the documented order. */
export function metricsJson(metrics: Metrics): MetricsJson {
  return {
    attachments: metrics.attachments,
    blobs: metrics.blobs,
    scopes: metrics.scopes,
    logicalBytes: metrics.logicalBytes,
    storedBytes: metrics.storedBytes,
    dedupSavedBytes: metrics.dedupSavedBytes,
    persistent: { count: metrics.persistent.count, bytes: metrics.persistent.bytes },
    expirable: { count: metrics.expirable.count, bytes: metrics.expirable.bytes },
    expired: { count: metrics.expired.count, bytes: metrics.expired.bytes },
    leases: metrics.leases,
    nextExpiryAt: metrics.nextExpiryAt === null ? null : metrics.nextExpiryAt.toISOString(),
    remote: { count: metrics.remote.count, bytes: metrics.remote.bytes, destinations: { ...metrics.remote.destinations } },
  };
}

/** {@link ScopeMetrics} as JSON, keys in the documented order: `nextExpiryAt` as an ISO string or `null`. */
export type ScopeMetricsJson = Omit<ScopeMetrics, "nextExpiryAt"> & { nextExpiryAt: string | null };

export function scopeMetricsJson(m: ScopeMetrics): ScopeMetricsJson {
  return {
    scope: m.scope,
    attachments: m.attachments,
    logicalBytes: m.logicalBytes,
    persistent: { count: m.persistent.count, bytes: m.persistent.bytes },
    expirable: { count: m.expirable.count, bytes: m.expirable.bytes },
    expired: { count: m.expired.count, bytes: m.expired.bytes },
    leases: m.leases,
    nextExpiryAt: m.nextExpiryAt === null ? null : m.nextExpiryAt.toISOString(),
  };
}

/** The `--json` form of `store.verify()`, keys in the documented order. */
export function verifyReportJson(report: VerifyReport): VerifyReport {
  return {
    blobsChecked: report.blobsChecked,
    bytesChecked: report.bytesChecked,
    corrupt: report.corrupt,
    missing: report.missing,
    orphanFiles: report.orphanFiles,
    repaired: report.repaired,
    manifestProblems: report.manifestProblems,
  };
}

/** The `--json` form of `store.sweep()`, keys in the documented order (the library's). */
export function sweepReportJson(report: SweepReport): SweepReport {
  return {
    expired: report.expired,
    blobsDeleted: report.blobsDeleted,
    bytesFreed: report.bytesFreed,
    orphansReclaimed: report.orphansReclaimed,
    remoteDeleted: report.remoteDeleted,
    remoteFailed: report.remoteFailed,
    durationMs: report.durationMs,
  };
}

/** An {@link UploadEntry} (one row of the upload ledger) as JSON: dates as ISO strings, "never expires" as `null`. */
export interface UploadEntryJson {
  destination: string;
  remoteId: string;
  uri: string | null;
  digest: string;
  size: number;
  uploadedAt: string;
  expiresAt: string | null;
}

/** An {@link UploadRecord} as JSON: the ledger entry, and whether it was reused (nothing sent). */
export type UploadRecordJson = UploadEntryJson & { reused: boolean };

/** The `--json` form of a ledger entry (`attache uploads`), keys in the documented order. */
export function uploadEntryJson(entry: UploadEntry): UploadEntryJson {
  return {
    destination: entry.destination,
    remoteId: entry.remoteId,
    uri: entry.uri,
    digest: entry.digest,
    size: entry.size,
    uploadedAt: entry.uploadedAt.toISOString(),
    expiresAt: entry.expiresAt === null ? null : entry.expiresAt.toISOString(),
  };
}

/** The `--json` form of `store.upload()` (`attache upload`), keys in the documented order. */
export function uploadRecordJson(record: UploadRecord): UploadRecordJson {
  return { ...uploadEntryJson(record), reused: record.reused };
}
