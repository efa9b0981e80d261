/** The SQLite manifest's blobs room: the bytes' rows and the condemn → delete → forget fence. */
import type { BlobRecord, BlobTable, CondemnedBlob } from "../manifest.js";
import { toBlob, type BlobRow, type SqliteDatabase } from "./database.js";
import { BLOB_SQL as SQL } from "./sql.js";

export class SqliteBlobs implements BlobTable {
  constructor(private readonly db: SqliteDatabase) {}

  private row(digest: string): BlobRecord | undefined {
    return toBlob(this.db.statement<[string], BlobRow>(SQL.get).get(digest));
  }

  private needed(digest: string, now: number): boolean {
    return this.db.statement<{ digest: string; now: number }, { needed: number }>(SQL.needed).get({ digest, now })?.needed === 1;
  }

  private writerIsLive(writer: string, staleBefore: number): boolean {
    return this.db.statement<[string, number], { found: number }>(SQL.writerIsLive).get(writer, staleBefore) !== undefined;
  }

  get(digest: string) {
    return this.db.read("read the manifest", () => this.row(digest));
  }

  hasSize(size: number) {
    return this.db.read("read the manifest", () => this.db.statement<[number], { found: number }>(SQL.ofSize).get(size) !== undefined);
  }

  list(afterDigest: string | null, limit: number) {
    return this.db.read("list blobs", () => this.db.statement<[string, number], BlobRow>(SQL.page).all(afterDigest ?? "", limit).map((row) => toBlob(row)));
  }

  unreferenced(afterDigest: string | null, limit: number) {
    return this.db.read("find unreferenced blobs", () =>
      this.db.statement<[string, number], BlobRow>(SQL.unreferenced).all(afterDigest ?? "", limit).map((row) => toBlob(row)),
    );
  }

  condemn(digests: readonly string[], now: number, writer: string) {
    return this.db.write("condemn unneeded blobs", () => {
      const condemned: CondemnedBlob[] = [];
      for (const digest of new Set(digests)) {
        const blob = this.row(digest);
        if (blob?.condemnedBy != null || this.needed(digest, now)) continue;
        if (blob === undefined) {
          // No row: bytes a stage put in place after its intent was dropped under it. Nothing can need them.
          this.db.statement(SQL.insertCondemned).run(digest, 0, now, writer);
          condemned.push({ digest, size: 0, refs: 0, createdAt: now, condemnedBy: writer, rowless: true });
          continue;
        }
        if (blob.inline === true) {
          // No bytes outside this transaction: gone with the row.
          this.db.statement(SQL.delete).run(digest);
          condemned.push(blob);
          continue;
        }
        this.db.statement(SQL.condemn).run(writer, digest);
        condemned.push({ ...blob, condemnedBy: writer });
      }
      return condemned;
    });
  }

  condemnDamaged(digest: string, writer: string, options: { rowless?: boolean; size?: number } = {}) {
    return this.db.write("condemn damaged bytes", () => {
      // A stage in flight may be putting these very bytes in place: its outcome is for the next verify to judge.
      if (this.db.statement<[string], { found: number }>(SQL.intentOf).get(digest) !== undefined) return undefined;
      const blob = this.row(digest);
      if (options.rowless === true) {
        if (blob !== undefined) return undefined;
        const size = options.size ?? 0;
        this.db.statement(SQL.insertCondemned).run(digest, size, 0, writer);
        return { digest, size, refs: 0, createdAt: 0, condemnedBy: writer };
      }
      if (blob === undefined || blob.condemnedBy !== null) return undefined;
      this.db.statement(SQL.condemn).run(writer, digest);
      return { ...blob, condemnedBy: writer };
    });
  }

  forget(digests: readonly string[], writer: string, now: number) {
    return this.db.write("forget deleted blobs", () => {
      const forgotten: BlobRecord[] = [];
      for (const digest of new Set(digests)) {
        const blob = this.row(digest);
        if (blob?.condemnedBy !== writer) continue;
        if (this.needed(digest, now)) {
          // A stage met the condemnation and waits for it to end; it writes the bytes again
          // (to the blob store: the inline bytes of a damaged row go).
          this.db.statement(SQL.spare).run(digest, writer);
          this.db.statement(SQL.uninline).run(digest);
          continue;
        }
        this.db.statement(SQL.delete).run(digest);
        forgotten.push(blob);
      }
      return forgotten;
      // A kept row that lost its inline bytes changes what its attachments' records read.
    }, (_forgotten, records) => records.clear());
  }

  spare(digests: readonly string[], writer: string) {
    return this.db.write("call off a blob deletion", () => {
      for (const digest of new Set(digests)) this.db.statement(SQL.spare).run(digest, writer);
    });
  }

  claimAbandoned(staleBefore: number, writer: string, limit: number) {
    return this.db.write("take over abandoned blob deletions", () => {
      const abandoned = this.db
        .statement<{ staleBefore: number; writer: string; limit: number }, BlobRow>(SQL.abandoned)
        .all({ staleBefore, writer, limit });
      for (const blob of abandoned) this.db.statement(SQL.reassign).run(writer, blob.digest);
      return abandoned.map((blob) => ({ ...toBlob(blob), condemnedBy: writer }));
    });
  }

  reviveAbandoned(digest: string, staleBefore: number, orWriter?: string) {
    return this.db.write("revive a blob whose deletion was abandoned", () => {
      const blob = this.row(digest);
      if (blob?.condemnedBy == null) return true;
      if (blob.condemnedBy !== orWriter && this.writerIsLive(blob.condemnedBy, staleBefore)) return false;
      this.db.statement(SQL.spare).run(digest, blob.condemnedBy);
      // Condemned inline bytes were found damaged: the waiting stage writes them to the blob store.
      this.db.statement(SQL.uninline).run(digest);
      return true;
    }, (_revived, records) => records.clear());
  }

  readInline(digest: string) {
    return this.db.read("read inline bytes", () => this.db.statement<[string], { bytes: Buffer }>(SQL.bytes).get(digest)?.bytes);
  }
}
