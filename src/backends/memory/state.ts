/**
 * What the in-memory manifest's rooms share: the maps, and one mutex on
 * which every write runs (so a write's checks and changes are one atomic
 * step, as a transaction is in SQLite). Records go in and out as clones.
 */
import { Mutex } from "../../mutex.js";
import type { AttachmentRecord, BlobRecord, IntentRecord, LeaseRecord, UploadRow, WriterRecord } from "../manifest.js";

export const clone = <T>(value: T): T => structuredClone(value);

export class MemoryState {
  readonly attachments = new Map<string, AttachmentRecord>();
  readonly byScopeDigest = new Map<string, string>();
  /** Attachment ids by scope, so one scope's metrics cost that scope's attachments, not the store's. */
  readonly byScope = new Map<string, Set<string>>();
  readonly blobs = new Map<string, BlobRecord>();
  /** The bytes of inline blobs (`BlobRecord.inline`), by digest. */
  readonly inlineBytes = new Map<string, Buffer>();
  readonly intents = new Map<string, IntentRecord>();
  readonly leases = new Map<string, LeaseRecord>();
  readonly writers = new Map<string, WriterRecord>();
  /** The upload ledger, by `${destination}\0${digest}`. */
  readonly uploads = new Map<string, UploadRow>();
  private readonly writes = new Mutex();

  write<T>(fn: () => T): Promise<T> {
    return this.writes.run(() => clone(fn()));
  }

  async read<T>(fn: () => T): Promise<T> {
    return clone(fn());
  }

  ensureBlob(digest: string, size: number, now: number): BlobRecord {
    let blob = this.blobs.get(digest);
    if (blob === undefined) {
      blob = { digest, size, refs: 0, createdAt: now, condemnedBy: null };
      this.blobs.set(digest, blob);
    }
    return blob;
  }

  /** An attachment as read: `inline` when its blob's bytes are inline right now. */
  view(record: AttachmentRecord | undefined): AttachmentRecord | undefined {
    if (record === undefined) return undefined;
    const { inline: _stored, ...rest } = record;
    return record.referencePath === null && this.blobs.get(record.digest)?.inline === true ? { ...rest, inline: true } : rest;
  }

  /** Drops a blob row, and its bytes if they are inline. */
  dropBlob(digest: string): void {
    this.blobs.delete(digest);
    this.inlineBytes.delete(digest);
  }

  /** An inline row kept for a stage that writes its bytes again: they go to the blob store now. */
  uninline(blob: BlobRecord): void {
    if (blob.inline !== true) return;
    delete blob.inline;
    this.inlineBytes.delete(blob.digest);
  }

  addAttachment(record: AttachmentRecord): void {
    this.attachments.set(record.id, record);
    this.byScopeDigest.set(`${record.scope}\0${record.digest}`, record.id);
    const ids = this.byScope.get(record.scope) ?? new Set<string>();
    this.byScope.set(record.scope, ids.add(record.id));
  }

  dropAttachment(record: AttachmentRecord): void {
    this.attachments.delete(record.id);
    this.byScopeDigest.delete(`${record.scope}\0${record.digest}`);
    const ids = this.byScope.get(record.scope);
    ids?.delete(record.id);
    if (ids?.size === 0) this.byScope.delete(record.scope);
    const blob = this.blobs.get(record.digest);
    if (record.referencePath === null && blob && blob.refs > 0) blob.refs--;
  }

  /** Whether an attachment, an intent or a lease unexpired at `now` needs the blob. */
  needed(digest: string, now: number): boolean {
    if ((this.blobs.get(digest)?.refs ?? 0) > 0) return true;
    for (const intent of this.intents.values()) if (intent.digest === digest) return true;
    for (const lease of this.leases.values()) if (lease.digest === digest && lease.expiresAt > now) return true;
    return false;
  }

  hasIntentFor(digest: string): boolean {
    for (const intent of this.intents.values()) if (intent.digest === digest) return true;
    return false;
  }

  /** A writer whose heartbeat is later than `staleBefore`. */
  writerIsLive(id: string, staleBefore: number): boolean {
    const writer = this.writers.get(id);
    return writer !== undefined && writer.heartbeatAt > staleBefore;
  }
}
