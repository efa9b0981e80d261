/**
 * An in-memory manifest: the same semantics as the SQLite one, for tests and
 * for stores that need no persistence. Several stores in one process may
 * share one instance (each is a writer of its own, as processes sharing a
 * SQLite file are). Every write runs on one mutex, so each is one atomic step.
 */
import type { AttachmentRecord, Manifest, ManifestMetrics, ManifestScopeMetrics } from "../manifest.js";
import { MemoryAttachments } from "./attachments.js";
import { MemoryBlobs } from "./blobs.js";
import { MemoryPins } from "./pins.js";
import { MemoryState } from "./state.js";
import { MemoryUploads } from "./uploads.js";

export function memoryManifest(): Manifest {
  return new MemoryManifest();
}

class MemoryManifest implements Manifest {
  readonly kind = "memory";
  private readonly state = new MemoryState();
  readonly attachments = new MemoryAttachments(this.state);
  readonly blobs = new MemoryBlobs(this.state);
  readonly pins = new MemoryPins(this.state);
  readonly uploads = new MemoryUploads(this.state);

  async open(): Promise<void> {}

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
      blobs: this.state.blobs.size,
      storedBytes: 0,
      persistent: { count: 0, bytes: 0 },
      expirable: { count: 0, bytes: 0 },
      expired: { count: 0, bytes: 0 },
      leases: 0,
      nextExpiryAt: null,
    };
    const scopes = new Set<string>();
    const digests = new Map<string, number>();
    for (const r of this.state.attachments.values()) {
      const bucket = r.expiresAt === null ? m.persistent : r.expiresAt > now ? m.expirable : m.expired;
      bucket.count++;
      bucket.bytes += r.size;
      if (bucket === m.expired) continue;
      scopes.add(r.scope);
      digests.set(r.digest, r.size);
      if (r.expiresAt !== null && (m.nextExpiryAt === null || r.expiresAt < m.nextExpiryAt)) m.nextExpiryAt = r.expiresAt;
    }
    for (const blob of this.state.blobs.values()) m.storedBytes += blob.size;
    for (const lease of this.state.leases.values()) if (lease.expiresAt > now) m.leases++;
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
    for (const id of this.state.byScope.get(scope) ?? []) {
      const r = this.state.attachments.get(id) as AttachmentRecord;
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
    for (const lease of this.state.leases.values()) {
      if (lease.expiresAt > now && this.state.attachments.get(lease.attachmentId)?.scope === m.scope) m.leases++;
    }
    return m;
  }

  async scopeMetrics(scope: string, now: number): Promise<ManifestScopeMetrics> {
    return this.withLeases(this.scopeUsage(scope, now), now);
  }

  /** Sums every scope (this backend keeps no ordered totals; it serves tests and small stores). */
  async largestScopes(limit: number, now: number): Promise<ManifestScopeMetrics[]> {
    const scopes = [...this.state.byScope.keys()].map((scope) => this.scopeUsage(scope, now)).filter((m) => m.attachments > 0);
    // Ties in SQLite's order: scopes compared as UTF-8 bytes.
    scopes.sort((a, b) => b.logicalBytes - a.logicalBytes || Buffer.compare(Buffer.from(a.scope), Buffer.from(b.scope)));
    return scopes.slice(0, limit).map((m) => this.withLeases(m, now));
  }

  reset() {
    return this.state.write(() => {
      const s = this.state;
      s.attachments.clear();
      s.byScopeDigest.clear();
      s.byScope.clear();
      for (const blob of s.blobs.values()) blob.refs = 0;
      s.intents.clear();
      s.leases.clear();
    });
  }

  async close() {}
}
