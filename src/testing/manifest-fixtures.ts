/** Records the manifest suite's cases build: staged attachments, intents, leases and writers at fixed times. */
import { newId } from "../ids.js";
import type { CommitResult, IntentRecord, LeaseRecord, Manifest, StagedAttachment, WriterRecord } from "../backends/manifest.js";
import type { HandlePair } from "./support.js";

/** The suite's epoch: every record is stamped relative to it. */
export const T0 = 1_000_000;
export const HOUR = 3_600_000;
/** A grace period for the writer cases: a heartbeat at or before `now - GRACE` is gone. */
export const GRACE = 60_000;

/** The `n`th digest: 64 hex digits. */
export const hex = (n: number): string => n.toString(16).padStart(64, "0");

/** How the cases reach the backend under test. */
export interface ManifestSuiteContext {
  /** A fresh backend: its first handle, and a way to a second one (both closed after the test). */
  open(): Promise<HandlePair<Manifest>>;
  /** How many rounds each concurrent case runs. */
  readonly rounds: number;
}

export function staged(overrides: Partial<StagedAttachment> = {}): StagedAttachment {
  return {
    id: newId(), scope: "s", digest: hex(1), size: 10, name: "n", contentType: "text/plain", mode: "copy",
    referencePath: null, persist: false, ttlMs: HOUR, now: T0, source: null, metadata: {}, ...overrides,
  };
}

export function intent(overrides: Partial<IntentRecord> = {}): IntentRecord {
  return { id: newId(), digest: hex(1), tempName: null, linkedFrom: null, writer: null, createdAt: T0, ...overrides };
}

export function lease(attachmentId: string, overrides: Partial<LeaseRecord> = {}): LeaseRecord {
  return { id: newId(), attachmentId, digest: hex(1), createdAt: T0, expiresAt: T0 + HOUR, ...overrides };
}

export function writer(heartbeatAt: number, id = newId()): WriterRecord {
  return { id, host: "suite-host", pid: 4242, startedAt: heartbeatAt, heartbeatAt };
}

/** Registers a writer with a heartbeat at `heartbeatAt`; returns its id. */
export async function registered(m: Manifest, heartbeatAt: number): Promise<string> {
  const record = writer(heartbeatAt);
  await m.pins.registerWriter(record);
  return record.id;
}

/** A whole managed stage (intent, then commit), or a reference one (commit only), as the store runs it. */
export async function stage(m: Manifest, overrides: Partial<StagedAttachment> = {}, by: string | null = null): Promise<CommitResult> {
  const s = staged(overrides);
  if (s.referencePath !== null) return m.attachments.commitStage(null, s);
  const pin = intent({ digest: s.digest, tempName: `${newId()}.tmp`, writer: by, createdAt: s.now });
  await m.pins.beginStage(pin, s.size);
  return m.attachments.commitStage(pin.id, s);
}

/** A blob row that nothing needs any more: staged, then released. */
export async function releasedBlob(m: Manifest, digest: string, size = 10): Promise<void> {
  const { record } = await stage(m, { digest, size });
  await m.attachments.release(record.id, undefined, T0);
}

/** The digests of some records, sorted. */
export const digestsOf = (records: readonly { digest: string }[]): string[] => records.map((r) => r.digest).sort();
