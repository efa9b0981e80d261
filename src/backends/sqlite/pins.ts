/** The SQLite manifest's pins room: intents, leases and the writers that hold them. */
import type { AttachmentRecord, BlobRecord, IntentRecord, LeaseRecord, PinTable, WriterRecord } from "../manifest.js";
import { isLive } from "../merge.js";
import { toBlob, toRecord, type AttachmentRow, type BlobRow, type SqliteDatabase } from "./database.js";
import { ATTACHMENT_SQL, BLOB_SQL, PIN_SQL as SQL } from "./sql.js";

export class SqlitePins implements PinTable {
  constructor(private readonly db: SqliteDatabase) {}

  private insertIntent(intent: IntentRecord): void {
    this.db.statement(SQL.insertIntent).run({ ...intent, linkedFrom: intent.linkedFrom ?? null, writer: intent.writer ?? null });
  }

  private blob(digest: string): BlobRecord | undefined {
    return toBlob(this.db.statement<[string], BlobRow>(BLOB_SQL.get).get(digest));
  }

  beginStage(intent: IntentRecord, size: number) {
    return this.db.write("record the stage's intent in the manifest", () => {
      this.insertIntent(intent);
      this.db.statement(BLOB_SQL.insert).run(intent.digest, size, intent.createdAt);
      if (size > 0) this.db.statement(BLOB_SQL.sizeFence).run(size, intent.digest);
      return this.blob(intent.digest)?.condemnedBy == null ? ("ok" as const) : ("condemned" as const);
    });
  }

  holdBlob(intent: IntentRecord) {
    return this.db.write("pin a blob", () => {
      const blob = this.blob(intent.digest);
      if (blob === undefined || blob.condemnedBy !== null) return false;
      this.insertIntent(intent);
      return true;
    });
  }

  dropIntent(intentId: string) {
    return this.db.write("drop an intent", () => {
      this.db.statement(SQL.deleteIntent).run(intentId);
    });
  }

  staleIntents(staleBefore: number, writer: string, limit: number) {
    return this.db.read("find unfinished stages", () =>
      this.db.statement<{ staleBefore: number; writer: string; limit: number }, IntentRecord>(SQL.staleIntents).all({ staleBefore, writer, limit }),
    );
  }

  intentTempNames() {
    return this.db.read("list intents", () => new Set(this.db.statement<[], { tempName: string }>(SQL.intentTemps).all().map((row) => row.tempName)));
  }

  addLease(lease: LeaseRecord, scope: string | undefined, now: number) {
    return this.db.write("record the lease", () => {
      const row = this.db.statement<[string], AttachmentRow>(ATTACHMENT_SQL.byId).get(lease.attachmentId);
      const record: AttachmentRecord | undefined = row && toRecord(row);
      if (record === undefined || !isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
      this.db.statement(SQL.insertLease).run(lease);
      return record;
    });
  }

  removeLease(id: string) {
    return this.db.write("end the lease", () => {
      const lease = this.db.statement<[string], LeaseRecord>(SQL.leaseById).get(id);
      if (lease !== undefined) this.db.statement(SQL.deleteLease).run(id);
      return lease;
    });
  }

  hasLease(id: string) {
    return this.db.read("read the manifest", () => this.db.statement<[string], LeaseRecord>(SQL.leaseById).get(id) !== undefined);
  }

  leasedDigests(digests: readonly string[], now: number) {
    return this.db.read("find leased blobs", () => {
      const leased = this.db.statement<[string, number], { found: number }>(SQL.leased);
      return new Set(digests.filter((digest) => leased.get(digest, now) !== undefined));
    });
  }

  reclaimLeases(before: number, limit: number) {
    return this.db.write("drop stale leases", () => {
      const leases = this.db.statement<[number, number], LeaseRecord>(SQL.staleLeases).all(before, limit);
      for (const lease of leases) this.db.statement(SQL.deleteLease).run(lease.id);
      return leases;
    });
  }

  registerWriter(writer: WriterRecord) {
    return this.db.write("register this store with the manifest", () => {
      this.db.statement(SQL.registerWriter).run(writer);
    });
  }

  heartbeat(id: string, now: number) {
    return this.db.write("refresh this store's heartbeat", () => this.db.statement(SQL.heartbeat).run(now, id).changes > 0);
  }

  removeWriter(id: string) {
    return this.db.write("unregister this store", () => {
      this.db.statement(SQL.deleteWriter).run(id);
    });
  }

  liveWriters(staleBefore: number) {
    return this.db.read("list live writers", () =>
      new Set(this.db.statement<{ staleBefore: number }, { id: string }>(SQL.liveWriters).all({ staleBefore }).map((row) => row.id)),
    );
  }

  forgetStaleWriters(staleBefore: number) {
    return this.db.write("forget stale writers", () => this.db.statement(SQL.forgetStaleWriters).run(staleBefore).changes);
  }
}
