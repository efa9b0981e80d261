/**
 * An in-memory manifest: the same semantics as the SQLite one, for tests and
 * for stores that need no persistence. Several stores in one process may
 * share one instance. Every write runs on a mutex, so the blob-deletion fence
 * (which spans an await) serialises against stages exactly as in SQLite.
 */
import { Mutex } from "../../mutex.js";
import type { AttachmentChanges } from "../../update-options.js";
import { applyChanges, intentReclaimed, isLive, mergeStaging, newRecord } from "../merge.js";
import type {
  AttachmentRecord,
  BlobRecord,
  BlobRepair,
  IntentRecord,
  LeaseRecord,
  ListQuery,
  Manifest,
  ManifestMetrics,
  ManifestScopeMetrics,
  StagedAttachment,
} from "../manifest.js";

export function memoryManifest(): Manifest {
  return new MemoryManifest();
}

const clone = <T>(value: T): T => structuredClone(value);

class MemoryManifest implements Manifest {
  readonly kind = "memory";
  private readonly attachments = new Map<string, AttachmentRecord>();
  private readonly byScopeDigest = new Map<string, string>();
  /** Attachment ids by scope, so one scope's metrics cost that scope's attachments, not the store's. */
  private readonly byScope = new Map<string, Set<string>>();
  private readonly blobs = new Map<string, BlobRecord>();
  private readonly intents = new Map<string, IntentRecord>();
  private readonly leases = new Map<string, LeaseRecord>();
  private readonly writes = new Mutex();

  async open(): Promise<void> {}

  private write<T>(fn: () => T): Promise<T> {
    return this.writes.run(() => clone(fn()));
  }

  private ensureBlob(digest: string, size: number, now: number): void {
    if (!this.blobs.has(digest)) this.blobs.set(digest, { digest, size, refs: 0, createdAt: now });
  }

  private dropRow(record: AttachmentRecord): void {
    this.attachments.delete(record.id);
    this.byScopeDigest.delete(`${record.scope}\0${record.digest}`);
    const ids = this.byScope.get(record.scope);
    ids?.delete(record.id);
    if (ids?.size === 0) this.byScope.delete(record.scope);
    const blob = this.blobs.get(record.digest);
    if (record.referencePath === null && blob && blob.refs > 0) blob.refs--;
  }

  private liveOf(id: string, scope: string | undefined, now: number): AttachmentRecord | undefined {
    const record = this.attachments.get(id);
    if (!record || !isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
    return record;
  }

  beginStage(intent: IntentRecord, size: number) {
    return this.write(() => {
      this.intents.set(intent.id, { ...intent });
      this.ensureBlob(intent.digest, size, intent.createdAt);
    });
  }

  commitStage(intentId: string | null, staged: StagedAttachment) {
    return this.write(() => {
      if (intentId !== null && !this.intents.delete(intentId)) throw intentReclaimed();
      const managed = staged.referencePath === null;
      if (managed) this.ensureBlob(staged.digest, staged.size, staged.now);
      const key = `${staged.scope}\0${staged.digest}`;
      const existingId = this.byScopeDigest.get(key);
      const existing = existingId === undefined ? undefined : this.attachments.get(existingId);
      if (existing === undefined) {
        const record = newRecord(clone(staged));
        this.attachments.set(record.id, record);
        this.byScopeDigest.set(key, record.id);
        const ids = this.byScope.get(record.scope) ?? new Set<string>();
        this.byScope.set(record.scope, ids.add(record.id));
        if (managed) (this.blobs.get(staged.digest) as BlobRecord).refs++;
        return { record, merged: false };
      }
      const record = mergeStaging(existing, staged);
      this.attachments.set(record.id, record);
      if (existing.referencePath !== null && record.referencePath === null) {
        (this.blobs.get(staged.digest) as BlobRecord).refs++;
      }
      return { record, merged: true };
    });
  }

  abandonStage(intentId: string) {
    return this.write(() => void this.intents.delete(intentId));
  }

  async getAttachment(id: string) {
    const record = this.attachments.get(id);
    return record && clone(record);
  }

  async listAttachments(query: ListQuery) {
    const out: AttachmentRecord[] = [];
    const ids = [...this.attachments.keys()].sort();
    for (const id of ids) {
      if (out.length >= query.limit) break;
      if (query.afterId !== undefined && id <= query.afterId) continue;
      const record = this.attachments.get(id) as AttachmentRecord;
      if (query.scope !== undefined && record.scope !== query.scope) continue;
      if (!query.includeExpired && !isLive(record, query.now)) continue;
      out.push(clone(record));
    }
    return out;
  }

  updateAttachment(id: string, scope: string | undefined, changes: AttachmentChanges, now: number) {
    return this.write(() => {
      const record = this.liveOf(id, scope, now);
      if (record === undefined) return undefined;
      const updated = applyChanges(record, changes, now);
      this.attachments.set(id, updated);
      return updated;
    });
  }

  releaseAttachment(id: string, scope: string | undefined, now: number) {
    return this.write(() => {
      const record = this.liveOf(id, scope, now);
      if (record) this.dropRow(record);
      return record;
    });
  }

  releaseScope(scope: string, now: number) {
    return this.write(() => {
      const records = [...this.attachments.values()].filter((r) => r.scope === scope && isLive(r, now));
      for (const record of records) this.dropRow(record);
      return records;
    });
  }

  addLease(lease: LeaseRecord, scope: string | undefined, now: number) {
    return this.write(() => {
      const record = this.liveOf(lease.attachmentId, scope, now);
      if (record) this.leases.set(lease.id, { ...lease });
      return record;
    });
  }

  async hasLease(id: string) {
    return this.leases.has(id);
  }

  removeLease(id: string) {
    return this.write(() => {
      const lease = this.leases.get(id);
      this.leases.delete(id);
      return lease;
    });
  }

  expireDue(now: number, limit: number) {
    return this.write(() => {
      const due = [...this.attachments.values()]
        .filter((r) => r.expiresAt !== null && r.expiresAt <= now)
        .sort((a, b) => (a.expiresAt as number) - (b.expiresAt as number))
        .slice(0, limit);
      for (const record of due) this.dropRow(record);
      return due;
    });
  }

  async unreferencedBlobs(afterDigest: string | null, limit: number) {
    return [...this.blobs.values()]
      .filter((b) => b.refs === 0 && b.digest > (afterDigest ?? ""))
      .sort((a, b) => (a.digest < b.digest ? -1 : 1))
      .slice(0, limit)
      .map(clone);
  }

  deleteBlobIfUnneeded(digest: string, now: number, remove: () => Promise<void>) {
    return this.writes.run(async () => {
      const blob = this.blobs.get(digest);
      if (blob !== undefined && blob.refs > 0) return undefined;
      for (const intent of this.intents.values()) if (intent.digest === digest) return undefined;
      for (const lease of this.leases.values()) if (lease.digest === digest && lease.expiresAt > now) return undefined;
      // No row: bytes a stage put in place after its intent was dropped under it; nothing can need them.
      await remove();
      if (blob === undefined) return undefined;
      this.blobs.delete(digest);
      return clone(blob);
    });
  }

  whileBlobKept(digest: string, swap: () => Promise<void>) {
    return this.writes.run(async () => {
      if (!this.blobs.has(digest)) return false;
      await swap();
      return true;
    });
  }

  async staleIntents(before: number, limit: number) {
    return [...this.intents.values()]
      .filter((i) => i.createdAt <= before)
      .sort((a, b) => a.createdAt - b.createdAt)
      .slice(0, limit)
      .map(clone);
  }

  async intentTempNames() {
    const names = new Set<string>();
    for (const intent of this.intents.values()) if (intent.tempName !== null) names.add(intent.tempName);
    return names;
  }

  reclaimLeases(before: number, limit: number) {
    return this.write(() => {
      const stale = [...this.leases.values()].filter((l) => l.expiresAt <= before).slice(0, limit);
      for (const lease of stale) this.leases.delete(lease.id);
      return stale;
    });
  }

  async getBlob(digest: string) {
    const blob = this.blobs.get(digest);
    return blob && clone(blob);
  }

  async hasBlobOfSize(size: number) {
    for (const blob of this.blobs.values()) if (blob.size === size) return true;
    return false;
  }

  async listBlobs(afterDigest: string | null, limit: number) {
    return [...this.blobs.values()]
      .filter((b) => b.digest > (afterDigest ?? ""))
      .sort((a, b) => (a.digest < b.digest ? -1 : 1))
      .slice(0, limit)
      .map(clone);
  }

  async listReferences(afterId: string | null, limit: number) {
    return [...this.attachments.values()]
      .filter((r) => r.referencePath !== null && r.id > (afterId ?? ""))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .slice(0, limit)
      .map(clone);
  }

  dropAttachmentsOfBlob(digest: string) {
    return this.write(() => {
      const records = [...this.attachments.values()].filter((r) => r.digest === digest && r.referencePath === null);
      for (const record of records) this.dropRow(record);
      return records;
    });
  }

  repairBlob(
    digest: string,
    now: number,
    recheck: () => Promise<boolean>,
    remove: () => Promise<void>,
  ): Promise<BlobRepair | undefined> {
    return this.writes.run(async () => {
      // A stage in flight may be putting these very bytes in place: its outcome is for the next verify to judge.
      for (const intent of this.intents.values()) if (intent.digest === digest) return undefined;
      if (!(await recheck())) return undefined;
      const dropped = [...this.attachments.values()].filter((r) => r.digest === digest && r.referencePath === null);
      // Like SQLite's ROLLBACK: a failed removal leaves the attachments in place.
      await remove();
      for (const record of dropped) this.dropRow(record);
      const blob = this.blobs.get(digest);
      let leased = false;
      for (const lease of this.leases.values()) if (lease.digest === digest && lease.expiresAt > now) leased = true;
      if (blob === undefined || leased) return clone({ dropped, deletedBlob: undefined });
      this.blobs.delete(digest);
      return clone({ dropped, deletedBlob: blob });
    });
  }

  dropAttachment(id: string) {
    return this.write(() => {
      const record = this.attachments.get(id);
      if (record) this.dropRow(record);
      return record;
    });
  }

  /** Nothing to check: the maps cannot be damaged the way a file can. */
  async checkIntegrity(): Promise<string[]> {
    return [];
  }

  async metrics(now: number): Promise<ManifestMetrics> {
    const m: ManifestMetrics = {
      attachments: 0,
      scopes: 0,
      logicalBytes: 0,
      distinctLiveBytes: 0,
      blobs: this.blobs.size,
      storedBytes: 0,
      persistent: { count: 0, bytes: 0 },
      expirable: { count: 0, bytes: 0 },
      expired: { count: 0, bytes: 0 },
      leases: 0,
      nextExpiryAt: null,
    };
    const scopes = new Set<string>();
    const digests = new Map<string, number>();
    for (const r of this.attachments.values()) {
      const bucket = r.expiresAt === null ? m.persistent : r.expiresAt > now ? m.expirable : m.expired;
      bucket.count++;
      bucket.bytes += r.size;
      if (bucket === m.expired) continue;
      scopes.add(r.scope);
      digests.set(r.digest, r.size);
      if (r.expiresAt !== null && (m.nextExpiryAt === null || r.expiresAt < m.nextExpiryAt)) m.nextExpiryAt = r.expiresAt;
    }
    for (const blob of this.blobs.values()) m.storedBytes += blob.size;
    for (const lease of this.leases.values()) if (lease.expiresAt > now) m.leases++;
    m.attachments = m.persistent.count + m.expirable.count;
    m.logicalBytes = m.persistent.bytes + m.expirable.bytes;
    m.scopes = scopes.size;
    for (const size of digests.values()) m.distinctLiveBytes += size;
    return m;
  }

  /** One scope's metrics, all but its leases: from the scope's own attachments. */
  private scopeUsage(scope: string, now: number): ManifestScopeMetrics {
    const none = () => ({ count: 0, bytes: 0 });
    const m: ManifestScopeMetrics = {
      scope, attachments: 0, logicalBytes: 0, persistent: none(), expirable: none(), expired: none(), leases: 0, nextExpiryAt: null,
    };
    for (const id of this.byScope.get(scope) ?? []) {
      const r = this.attachments.get(id) as AttachmentRecord;
      const bucket = r.expiresAt === null ? m.persistent : r.expiresAt > now ? m.expirable : m.expired;
      bucket.count++;
      bucket.bytes += r.size;
      if (r.expiresAt !== null && r.expiresAt > now && (m.nextExpiryAt === null || r.expiresAt < m.nextExpiryAt)) m.nextExpiryAt = r.expiresAt;
    }
    m.attachments = m.persistent.count + m.expirable.count;
    m.logicalBytes = m.persistent.bytes + m.expirable.bytes;
    return m;
  }

  /** Leases unexpired at `now` on attachments of `scope` still recorded (as SQLite counts them). */
  private withLeases(m: ManifestScopeMetrics, now: number): ManifestScopeMetrics {
    for (const lease of this.leases.values()) {
      if (lease.expiresAt > now && this.attachments.get(lease.attachmentId)?.scope === m.scope) m.leases++;
    }
    return m;
  }

  async scopeMetrics(scope: string, now: number): Promise<ManifestScopeMetrics> {
    return this.withLeases(this.scopeUsage(scope, now), now);
  }

  /** Sums every scope (this backend keeps no ordered totals; it serves tests and small stores). */
  async largestScopes(limit: number, now: number): Promise<ManifestScopeMetrics[]> {
    const scopes = [...this.byScope.keys()].map((scope) => this.scopeUsage(scope, now)).filter((m) => m.attachments > 0);
    // Ties in SQLite's order: scopes compared as UTF-8 bytes.
    scopes.sort((a, b) => b.logicalBytes - a.logicalBytes || Buffer.compare(Buffer.from(a.scope), Buffer.from(b.scope)));
    return scopes.slice(0, limit).map((m) => this.withLeases(m, now));
  }

  reset() {
    return this.write(() => {
      this.attachments.clear();
      this.byScopeDigest.clear();
      this.byScope.clear();
      for (const blob of this.blobs.values()) blob.refs = 0;
      this.intents.clear();
      this.leases.clear();
    });
  }

  async close() {}
}
