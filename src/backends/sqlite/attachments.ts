/** The SQLite manifest's attachments room: what scopes hold. */
import type { AttachmentChanges } from "../../update-options.js";
import type { AttachmentRecord, AttachmentTable, CommitResult, ListQuery, StagedAttachment } from "../manifest.js";
import { applyChanges, intentReclaimed, isLive, mergeStaging, newRecord, withInlineFlag } from "../merge.js";
import { toBlob, toRecord, toRow, type AttachmentRow, type BlobRow, type SqliteDatabase } from "./database.js";
import type { RecordCache } from "./record-cache.js";
import { ATTACHMENT_SQL as SQL, BLOB_SQL, PIN_SQL } from "./sql.js";

/** What a committed write tells the lookup cache: the records it made or changed, or those it dropped. */
const putRecord = (result: CommitResult | "elsewhere" | AttachmentRecord | undefined, records: RecordCache) => {
  if (result === undefined || result === "elsewhere") return;
  records.put("record" in result ? result.record : result);
};
const forgetRecords = (dropped: AttachmentRecord | AttachmentRecord[] | undefined, records: RecordCache) => {
  if (dropped !== undefined) records.forget(Array.isArray(dropped) ? dropped.map((record) => record.id) : [dropped.id]);
};

export class SqliteAttachments implements AttachmentTable {
  constructor(private readonly db: SqliteDatabase) {}

  private byId(id: string): AttachmentRecord | undefined {
    const row = this.db.statement<[string], AttachmentRow>(SQL.byId).get(id);
    return row && toRecord(row);
  }

  private live(id: string, scope: string | undefined, now: number): AttachmentRecord | undefined {
    const record = this.byId(id);
    if (record === undefined || !isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
    return record;
  }

  /** Removes an attachment row and, for a managed blob, its reference count. */
  private dropRow(record: AttachmentRecord): void {
    this.db.statement(SQL.delete).run(record.id);
    if (record.referencePath === null) this.db.statement(BLOB_SQL.dropRef).run(record.digest);
  }

  private dropAll(records: AttachmentRecord[]): AttachmentRecord[] {
    for (const record of records) this.dropRow(record);
    return records;
  }

  commitStage(intentId: string | null, staged: StagedAttachment): Promise<CommitResult> {
    return this.db.write("commit the attachment to the manifest", () => {
      const db = this.db;
      if (intentId !== null && db.statement(PIN_SQL.deleteIntent).run(intentId).changes === 0) throw intentReclaimed();
      if (staged.referencePath === null) db.statement(BLOB_SQL.insert).run(staged.digest, staged.size, staged.now);
      return this.attach(staged);
    }, putRecord);
  }

  commitInline(staged: StagedAttachment, bytes: Uint8Array): Promise<(CommitResult & { wrote: boolean }) | "elsewhere"> {
    return this.db.write("commit the attachment and its bytes to the manifest", () => {
      const db = this.db;
      const blob = toBlob(db.statement<[string], BlobRow>(BLOB_SQL.get).get(staged.digest));
      if (blob === undefined) {
        db.statement(BLOB_SQL.insertInline).run(staged.digest, staged.size, staged.now);
        db.statement(BLOB_SQL.insertBytes).run(staged.digest, bytes);
      } else if (blob.inline !== true || blob.condemnedBy !== null) {
        return "elsewhere" as const;
      }
      return { ...this.attach(staged), wrote: blob === undefined };
    }, putRecord);
  }

  /** Creates the attachment for a staged blob whose row exists, or merges into the scope's own. */
  private attach(staged: StagedAttachment): CommitResult {
    const { record, merged } = this.attachRow(staged);
    const inline = record.referencePath === null && toBlob(this.db.statement<[string], BlobRow>(BLOB_SQL.get).get(staged.digest))?.inline === true;
    return { record: withInlineFlag(record, inline), merged };
  }

  private attachRow(staged: StagedAttachment): CommitResult {
    const db = this.db;
    const managed = staged.referencePath === null;
    const row = db.statement<[string, string], AttachmentRow>(SQL.byScopeDigest).get(staged.scope, staged.digest);
    if (row === undefined) {
      const record = newRecord(staged);
      db.statement(SQL.insert).run(toRow(record));
      if (managed) db.statement(BLOB_SQL.addRef).run(staged.digest);
      return { record, merged: false };
    }
    const existing = toRecord(row);
    const record = mergeStaging(existing, staged);
    db.statement(SQL.merge).run(toRow(record));
    if (existing.referencePath !== null && record.referencePath === null) db.statement(BLOB_SQL.addRef).run(staged.digest);
    return { record, merged: true };
  }

  /**
   * Lookups go through the connection's cache of records (record-cache.ts):
   * kept exact by this process's own writes, emptied when another process
   * commits, so a released attachment is never returned, whichever process
   * released it. Expiry is judged by the caller against its clock.
   */
  get(id: string): Promise<AttachmentRecord | undefined> {
    return this.db.read("read the manifest", () => {
      const records = this.db.records;
      const hit = records.get(id, this.db.dataVersion());
      if (hit !== undefined) return hit;
      const record = this.byId(id);
      if (record !== undefined) records.put(record);
      return record;
    });
  }

  list(query: ListQuery): Promise<AttachmentRecord[]> {
    return this.db.read("list attachments", () => {
      const limit = Number.isFinite(query.limit) ? query.limit : -1;
      return this.db
        .statement<object, AttachmentRow>(SQL.page(query.scope !== undefined, query.includeExpired))
        .all({ after: query.afterId ?? "", scope: query.scope, now: query.now, limit })
        .map(toRecord);
    });
  }

  update(id: string, scope: string | undefined, changes: AttachmentChanges, now: number) {
    return this.db.write("update the attachment", () => {
      const record = this.live(id, scope, now);
      if (record === undefined) return undefined;
      const updated = applyChanges(record, changes, now);
      this.db.statement(SQL.rewrite).run(toRow(updated));
      return updated;
    }, putRecord);
  }

  release(id: string, scope: string | undefined, now: number) {
    return this.db.write("release the attachment", () => {
      const record = this.live(id, scope, now);
      if (record !== undefined) this.dropRow(record);
      return record;
    }, forgetRecords);
  }

  releaseScope(scope: string, now: number) {
    return this.db.write("release the scope", () =>
      this.dropAll(this.db.statement<{ scope: string; now: number }, AttachmentRow>(SQL.liveOfScope).all({ scope, now }).map(toRecord)),
    forgetRecords);
  }

  expireDue(now: number, limit: number) {
    return this.db.write("drop expired attachments", () =>
      this.dropAll(this.db.statement<[number, number], AttachmentRow>(SQL.due).all(now, limit).map(toRecord)),
    forgetRecords);
  }

  listReferences(afterId: string | null, limit: number) {
    return this.db.read("list reference attachments", () =>
      this.db.statement<[string, number], AttachmentRow>(SQL.referencesPage).all(afterId ?? "", limit).map(toRecord),
    );
  }

  dropCondemned(digest: string, condemnedBy: string) {
    return this.db.write("drop damaged attachments", () => {
      const blob = this.db.statement<[string], BlobRow>(BLOB_SQL.get).get(digest);
      if (blob?.condemnedBy !== condemnedBy) return [];
      return this.dropAll(this.db.statement<[string], AttachmentRow>(SQL.managedOfBlob).all(digest).map(toRecord));
    }, forgetRecords);
  }

  drop(id: string) {
    return this.db.write("drop the attachment", () => {
      const record = this.byId(id);
      if (record !== undefined) this.dropRow(record);
      return record;
    }, forgetRecords);
  }
}
