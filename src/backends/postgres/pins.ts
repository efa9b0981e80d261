/**
 * The PostgreSQL manifest's pins room: intents, leases and the writers that
 * hold them.
 *
 * Concurrency, per method:
 * - beginStage, holdBlob: one transaction that takes the blob row `FOR SHARE`
 *   (creating it first for a stage) before recording the intent, so a
 *   condemnation is decided either wholly before (the stage sees it) or
 *   wholly after (the condemner sees the intent); see blobs.ts. A stage that
 *   finds a fence row of size 0 gives it its size first (an update, so its
 *   row lock is the stronger one, taken before the share lock, never after).
 * - addLease: the attachment `FOR SHARE` (a release or update waits), then
 *   the lease: a lease is only ever recorded on a row that was live.
 * - reclaimLeases: one statement, `FOR UPDATE SKIP LOCKED`: two sweepers at
 *   once reclaim disjoint leases.
 * - dropIntent, removeLease, registerWriter (an upsert), heartbeat,
 *   removeWriter, forgetStaleWriters: one statement each (a row lock
 *   serialises a heartbeat with the forget, which re-checks the heartbeat
 *   on the row it locked).
 */
import type { AttachmentRecord, IntentRecord, LeaseRecord, PinTable, WriterRecord } from "../manifest.js";
import { isLive } from "../merge.js";
import { limitOf, toRecord, type AttachmentRow, type PostgresDatabase, type Session } from "./database.js";

export class PostgresPins implements PinTable {
  private readonly sql;

  constructor(private readonly db: PostgresDatabase) {
    this.sql = db.sql.pins;
  }

  private insertIntent(session: Session, intent: IntentRecord): Promise<number> {
    return session.run(this.sql.insertIntent, [
      intent.id, intent.digest, intent.tempName, intent.linkedFrom ?? null, intent.writer ?? null, intent.createdAt,
    ]);
  }

  beginStage(intent: IntentRecord, size: number) {
    return this.db.transaction("record the stage's intent in the manifest", async (session) => {
      const blobs = this.db.sql.blobs;
      let blob: { condemnedBy: string | null } | undefined;
      // A row deleted between the insert and the lock (a forget) is inserted again.
      while (blob === undefined) {
        // A fence row met here (size 0: condemned while it had no row) takes the stage's size, the totals with it (trigger).
        if ((await session.run(blobs.ensure, [intent.digest, size, intent.createdAt])) === 0 && size > 0) {
          await session.run(blobs.sizeFence, [intent.digest, size]);
        }
        blob = await session.row<{ condemnedBy: string | null }>(blobs.getShared, [intent.digest]);
      }
      await this.insertIntent(session, intent);
      return blob.condemnedBy === null ? ("ok" as const) : ("condemned" as const);
    });
  }

  holdBlob(intent: IntentRecord) {
    return this.db.transaction("pin a blob", async (session) => {
      const blob = await session.row<{ condemnedBy: string | null }>(this.db.sql.blobs.getShared, [intent.digest]);
      if (blob === undefined || blob.condemnedBy !== null) return false;
      await this.insertIntent(session, intent);
      return true;
    });
  }

  dropIntent(intentId: string) {
    return this.db.statement("drop an intent", async (session) => {
      await session.run(this.sql.deleteIntent, [intentId]);
    });
  }

  staleIntents(staleBefore: number, writer: string, limit: number) {
    return this.db.statement("find unfinished stages", (session) =>
      session.rows<IntentRecord>(this.sql.staleIntents, [staleBefore, writer, limitOf(limit)]),
    );
  }

  intentTempNames() {
    return this.db.statement("list intents", async (session) =>
      new Set((await session.rows<{ tempName: string }>(this.sql.intentTemps)).map((row) => row.tempName)),
    );
  }

  addLease(lease: LeaseRecord, scope: string | undefined, now: number) {
    return this.db.transaction("record the lease", async (session) => {
      const row = await session.row<AttachmentRow>(this.db.sql.attachments.byIdLocked("SHARE"), [lease.attachmentId]);
      const record: AttachmentRecord | undefined = row && toRecord(row);
      if (record === undefined || !isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
      await session.run(this.sql.insertLease, [lease.id, lease.attachmentId, lease.digest, lease.createdAt, lease.expiresAt]);
      return record;
    });
  }

  removeLease(id: string) {
    return this.db.statement("end the lease", (session) => session.row<LeaseRecord>(this.sql.deleteLease, [id]));
  }

  hasLease(id: string) {
    return this.db.statement("read the manifest", async (session) => (await session.row(this.sql.leaseById, [id])) !== undefined);
  }

  leasedDigests(digests: readonly string[], now: number) {
    return this.db.statement("find leased blobs", async (session) => {
      if (digests.length === 0) return new Set<string>();
      return new Set((await session.rows<{ digest: string }>(this.sql.leased, [[...new Set(digests)], now])).map((row) => row.digest));
    });
  }

  reclaimLeases(before: number, limit: number) {
    return this.db.statement("drop stale leases", async (session) =>
      (await session.rows<LeaseRecord>(this.sql.reclaimLeases, [before, limitOf(limit)])).sort(
        (a, b) => a.expiresAt - b.expiresAt || (a.id < b.id ? -1 : 1),
      ),
    );
  }

  registerWriter(writer: WriterRecord) {
    return this.db.statement("register this store with the manifest", async (session) => {
      await session.run(this.sql.registerWriter, [writer.id, writer.host, writer.pid, writer.startedAt, writer.heartbeatAt]);
    });
  }

  heartbeat(id: string, now: number) {
    return this.db.statement("refresh this store's heartbeat", async (session) => (await session.run(this.sql.heartbeat, [id, now])) > 0);
  }

  removeWriter(id: string) {
    return this.db.statement("unregister this store", async (session) => {
      await session.run(this.sql.deleteWriter, [id]);
    });
  }

  liveWriters(staleBefore: number) {
    return this.db.statement("list live writers", async (session) =>
      new Set((await session.rows<{ id: string }>(this.sql.liveWriters, [staleBefore])).map((row) => row.id)),
    );
  }

  forgetStaleWriters(staleBefore: number) {
    return this.db.statement("forget stale writers", (session) => session.run(this.sql.forgetStaleWriters, [staleBefore]));
  }
}
