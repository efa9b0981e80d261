/**
 * The PostgreSQL manifest's attachments room: what scopes hold.
 *
 * Concurrency, per method (every write is one READ COMMITTED transaction):
 * - commitStage: deleting the intent decides a race with a sweep reclaiming
 *   it (one of the two deletes the row). `INSERT … ON CONFLICT (scope, digest)
 *   DO NOTHING` decides a race with another commit of the same bytes in the
 *   same scope: the loser waits for the winner's transaction, then merges into
 *   its row under `SELECT … FOR UPDATE`.
 * - commitInline: the attachment first, exactly as commitStage (so the locks,
 *   and the running totals the triggers lock, go in the same order: the
 *   attachment and its scope's totals, then the blob row and the shards).
 *   Then the blob: a new inline row with its bytes and its reference, in one
 *   `INSERT … ON CONFLICT DO NOTHING` — of two commits of the same new
 *   digest the second waits for the first, then finds its row — or, when the
 *   digest has a row, that row locked (by adding the reference, or `FOR
 *   SHARE` when the scope's attachment had it already) and checked: a row
 *   whose bytes are in the blob store, or condemned, ends the transaction
 *   in a ROLLBACK and answers "elsewhere". Taking the blob row before the
 *   attachment (a `FOR SHARE` first, then the reference's update) would let
 *   a release of the same scope's attachment and this commit each wait for
 *   the other, and two commits of one known digest deadlock on upgrading
 *   their shared locks.
 * - update, release, drop: the row under `FOR UPDATE`, then checked and changed.
 * - releaseScope: the scope's live rows under `FOR UPDATE`, in id order.
 * - expireDue: `FOR UPDATE SKIP LOCKED`: two sweepers at once drop disjoint rows.
 * - dropCondemned: the blob's attachments under `FOR UPDATE`, then its row
 *   `FOR SHARE` to check the condemnation (locks always go attachments, then blobs).
 * Dropping rows takes their blob references off in one statement, after
 * locking those blob rows in digest order.
 *
 * No lookup cache (SQLite's keeps records while `data_version` says nothing
 * changed). Here a cache must learn of other hosts' commits: a change
 * counter read on every lookup costs the very round trip the cache would
 * save, and LISTEN/NOTIFY arrives asynchronously — a lookup right after
 * another host released an attachment could still return it from the
 * cache, and a released attachment must be NOT_FOUND at once. `get()` is one
 * primary-key read (with its blob's `inline` by primary key too).
 */
import type { AttachmentChanges } from "../../update-options.js";
import type { AttachmentRecord, AttachmentTable, BlobRecord, CommitResult, ListQuery, StagedAttachment } from "../manifest.js";
import { applyChanges, intentReclaimed, isLive, mergeStaging, newRecord, withInlineFlag } from "../merge.js";
import { attachmentValues, limitOf, toRecord, type AttachmentRow, type PostgresDatabase, type Session } from "./database.js";

/** Where a blob row's bytes are, and whether it is condemned. */
interface Placement {
  inline: boolean;
  condemnedBy: string | null;
}

/** A commit's result, its record saying whether the blob's bytes are inline (no `inline` key when they are not, as read). */
function withInline(result: CommitResult, inline: boolean): CommitResult {
  return { record: withInlineFlag(result.record, inline), merged: result.merged };
}

export class PostgresAttachments implements AttachmentTable {
  private readonly sql;
  private readonly blobSql;

  constructor(private readonly db: PostgresDatabase) {
    this.sql = db.sql.attachments;
    this.blobSql = db.sql.blobs;
  }

  private async locked(session: Session, id: string): Promise<AttachmentRecord | undefined> {
    const row = await session.row<AttachmentRow>(this.sql.byIdLocked("UPDATE"), [id]);
    return row && toRecord(row);
  }

  private async liveLocked(session: Session, id: string, scope: string | undefined, now: number): Promise<AttachmentRecord | undefined> {
    const record = await this.locked(session, id);
    if (record === undefined || !isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
    return record;
  }

  /** Deletes locked attachment rows and takes their managed blobs' references off. */
  private async dropAll(session: Session, records: AttachmentRecord[]): Promise<AttachmentRecord[]> {
    if (records.length === 0) return records;
    await session.run(this.sql.deleteMany, [records.map((r) => r.id)]);
    const refs = new Map<string, number>();
    for (const r of records) if (r.referencePath === null) refs.set(r.digest, (refs.get(r.digest) ?? 0) + 1);
    if (refs.size > 0) {
      const digests = [...refs.keys()].sort();
      if (digests.length > 1) await session.run(this.blobSql.lockForRefs, [digests]);
      await session.run(this.blobSql.dropRefs, [digests, digests.map((d) => refs.get(d))]);
    }
    return records;
  }

  commitStage(intentId: string | null, staged: StagedAttachment): Promise<CommitResult> {
    return this.db.transaction("commit the attachment to the manifest", async (session) => {
      if (intentId !== null && (await session.run(this.db.sql.pins.deleteIntent, [intentId])) === 0) throw intentReclaimed();
      const { result, addRef } = await this.attach(session, staged);
      if (staged.referencePath !== null) return result;
      await session.run(this.blobSql.ensure, [staged.digest, staged.size, staged.now]);
      // Another handle may keep these bytes inline (its inlineMaxSize is larger): the record says so.
      const blob = await session.row<Placement>(addRef ? this.blobSql.addRef : this.blobSql.placement, [staged.digest]);
      return withInline(result, blob?.inline === true);
    });
  }

  commitInline(staged: StagedAttachment, bytes: Uint8Array): Promise<(CommitResult & { wrote: boolean }) | "elsewhere"> {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.db.transaction("commit the attachment and its bytes to the manifest", async (session) => {
      const { result, addRef } = await this.attach(session, staged);
      for (;;) {
        const values = [staged.digest, staged.size, staged.now, addRef ? 1 : 0, buffer];
        if ((await session.run(this.blobSql.insertInline, values)) === 1) return { ...withInline(result, true), wrote: true };
        // The digest has a row: checked under its lock (the reference's update, or FOR SHARE).
        const blob = await session.row<Placement>(addRef ? this.blobSql.addRef : this.blobSql.getShared, [staged.digest]);
        // Deleted since the insert met it (a sweep dropped it, unneeded): insert it again.
        if (blob === undefined) continue;
        if (blob.inline && blob.condemnedBy === null) return { ...withInline(result, true), wrote: false };
        session.rollbackInstead();
        return "elsewhere" as const;
      }
    });
  }

  /**
   * Creates the attachment for a staged blob, or merges into the one the
   * scope already holds for these bytes; says whether that adds a reference
   * to the blob row (a new managed attachment, or a reference made managed).
   */
  private async attach(session: Session, staged: StagedAttachment): Promise<{ result: CommitResult; addRef: boolean }> {
    const managed = staged.referencePath === null;
    for (;;) {
      const record = newRecord(staged);
      if ((await session.run(this.sql.insert, attachmentValues(record))) === 1) return { result: { record, merged: false }, addRef: managed };
      // The scope holds these bytes. If that row is gone by the time it is locked (released meanwhile), insert again.
      const row = await session.row<AttachmentRow>(this.sql.byScopeDigestLocked, [staged.scope, staged.digest]);
      if (row === undefined) continue;
      const existing = toRecord(row);
      const merged = mergeStaging(existing, staged);
      await session.run(this.sql.merge, [
        merged.id, merged.mode, merged.referencePath, merged.persist, merged.ttlMs, merged.updatedAt, merged.expiresAt,
      ]);
      return { result: { record: merged, merged: true }, addRef: existing.referencePath !== null && merged.referencePath === null };
    }
  }

  get(id: string): Promise<AttachmentRecord | undefined> {
    return this.db.statement("read the manifest", async (session) => {
      const row = await session.row<AttachmentRow>(this.sql.byId, [id]);
      return row && toRecord(row);
    });
  }

  list(query: ListQuery): Promise<AttachmentRecord[]> {
    return this.db.statement("list attachments", async (session) => {
      const values = [query.afterId ?? "", limitOf(query.limit), query.includeExpired ? null : query.now, query.scope ?? null];
      return (await session.rows<AttachmentRow>(this.sql.page, values)).map(toRecord);
    });
  }

  update(id: string, scope: string | undefined, changes: AttachmentChanges, now: number) {
    return this.db.transaction("update the attachment", async (session) => {
      const record = await this.liveLocked(session, id, scope, now);
      if (record === undefined) return undefined;
      const updated = applyChanges(record, changes, now);
      await session.run(this.sql.rewrite, [
        updated.id, updated.name, JSON.stringify(updated.metadata), updated.persist, updated.ttlMs, updated.updatedAt, updated.expiresAt,
      ]);
      return updated;
    });
  }

  release(id: string, scope: string | undefined, now: number) {
    return this.db.transaction("release the attachment", async (session) => {
      const record = await this.liveLocked(session, id, scope, now);
      if (record !== undefined) await this.dropAll(session, [record]);
      return record;
    });
  }

  releaseScope(scope: string, now: number) {
    return this.db.transaction("release the scope", async (session) =>
      this.dropAll(session, (await session.rows<AttachmentRow>(this.sql.liveOfScopeLocked, [scope, now])).map(toRecord)),
    );
  }

  expireDue(now: number, limit: number) {
    return this.db.transaction("drop expired attachments", async (session) =>
      this.dropAll(session, (await session.rows<AttachmentRow>(this.sql.dueLocked, [now, limitOf(limit)])).map(toRecord)),
    );
  }

  listReferences(afterId: string | null, limit: number) {
    return this.db.statement("list reference attachments", async (session) =>
      (await session.rows<AttachmentRow>(this.sql.referencesPage, [afterId ?? "", limitOf(limit)])).map(toRecord),
    );
  }

  dropCondemned(digest: string, condemnedBy: string) {
    return this.db.transaction("drop damaged attachments", async (session) => {
      const records = (await session.rows<AttachmentRow>(this.sql.managedOfBlobLocked, [digest])).map(toRecord);
      const blob = await session.row<BlobRecord>(this.blobSql.getShared, [digest]);
      if (blob?.condemnedBy !== condemnedBy) return [];
      return this.dropAll(session, records);
    });
  }

  drop(id: string) {
    return this.db.transaction("drop the attachment", async (session) => {
      const record = await this.locked(session, id);
      if (record !== undefined) await this.dropAll(session, [record]);
      return record;
    });
  }
}
