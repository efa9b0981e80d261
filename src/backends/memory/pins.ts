/** The in-memory manifest's pins room: intents, leases and writers. */
import type { IntentRecord, LeaseRecord, PinTable, WriterRecord } from "../manifest.js";
import { isLive } from "../merge.js";
import type { MemoryState } from "./state.js";

export class MemoryPins implements PinTable {
  constructor(private readonly state: MemoryState) {}

  private insertIntent(intent: IntentRecord): void {
    this.state.intents.set(intent.id, { ...intent, linkedFrom: intent.linkedFrom ?? null, writer: intent.writer ?? null });
  }

  beginStage(intent: IntentRecord, size: number) {
    return this.state.write(() => {
      this.insertIntent(intent);
      const blob = this.state.ensureBlob(intent.digest, size, intent.createdAt);
      // A fence row (condemned while it had no row) takes the size of the bytes the stage writes again.
      if (blob.size === 0 && blob.refs === 0) blob.size = size;
      return blob.condemnedBy === null ? ("ok" as const) : ("condemned" as const);
    });
  }

  holdBlob(intent: IntentRecord) {
    return this.state.write(() => {
      const blob = this.state.blobs.get(intent.digest);
      if (blob === undefined || blob.condemnedBy !== null) return false;
      this.insertIntent(intent);
      return true;
    });
  }

  dropIntent(intentId: string) {
    return this.state.write(() => void this.state.intents.delete(intentId));
  }

  staleIntents(staleBefore: number, writer: string, limit: number) {
    return this.state.read(() =>
      [...this.state.intents.values()]
        .filter(
          (i) =>
            i.createdAt <= staleBefore &&
            (i.writer == null || i.writer === writer || !this.state.writerIsLive(i.writer, staleBefore)),
        )
        .sort((a, b) => a.createdAt - b.createdAt)
        .slice(0, limit),
    );
  }

  intentTempNames() {
    return this.state.read(() => {
      const names = new Set<string>();
      for (const intent of this.state.intents.values()) if (intent.tempName !== null) names.add(intent.tempName);
      return names;
    });
  }

  addLease(lease: LeaseRecord, scope: string | undefined, now: number) {
    return this.state.write(() => {
      const record = this.state.attachments.get(lease.attachmentId);
      if (!record || !isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
      this.state.leases.set(lease.id, { ...lease });
      return this.state.view(record);
    });
  }

  removeLease(id: string) {
    return this.state.write(() => {
      const lease = this.state.leases.get(id);
      this.state.leases.delete(id);
      return lease;
    });
  }

  hasLease(id: string) {
    return this.state.read(() => this.state.leases.has(id));
  }

  leasedDigests(digests: readonly string[], now: number) {
    return this.state.read(() => {
      const wanted = new Set(digests);
      const leased = new Set<string>();
      for (const lease of this.state.leases.values()) if (wanted.has(lease.digest) && lease.expiresAt > now) leased.add(lease.digest);
      return leased;
    });
  }

  reclaimLeases(before: number, limit: number) {
    return this.state.write(() => {
      const stale = [...this.state.leases.values()].filter((l) => l.expiresAt <= before).slice(0, limit);
      for (const lease of stale) this.state.leases.delete(lease.id);
      return stale;
    });
  }

  registerWriter(writer: WriterRecord) {
    return this.state.write(() => {
      const known = this.state.writers.get(writer.id);
      this.state.writers.set(writer.id, known === undefined ? { ...writer } : { ...known, heartbeatAt: writer.heartbeatAt });
    });
  }

  heartbeat(id: string, now: number) {
    return this.state.write(() => {
      const writer = this.state.writers.get(id);
      if (writer === undefined) return false;
      writer.heartbeatAt = now;
      return true;
    });
  }

  removeWriter(id: string) {
    return this.state.write(() => void this.state.writers.delete(id));
  }

  liveWriters(staleBefore: number) {
    return this.state.read(() => new Set([...this.state.writers.values()].filter((w) => w.heartbeatAt > staleBefore).map((w) => w.id)));
  }

  forgetStaleWriters(staleBefore: number) {
    return this.state.write(() => {
      let forgotten = 0;
      for (const writer of [...this.state.writers.values()]) {
        if (writer.heartbeatAt > staleBefore) continue;
        const holds =
          [...this.state.intents.values()].some((i) => i.writer === writer.id) ||
          [...this.state.blobs.values()].some((b) => b.condemnedBy === writer.id);
        if (holds) continue;
        this.state.writers.delete(writer.id);
        forgotten++;
      }
      return forgotten;
    });
  }
}
