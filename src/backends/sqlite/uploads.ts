/** The SQLite manifest's upload ledger room. */
import type { RemoteEntry, UploadClaim, UploadLedger, UploadRow } from "../manifest.js";
import type { SqliteDatabase } from "./database.js";
import { UPLOAD_SQL as SQL } from "./sql.js";

interface Row extends Omit<UploadRow, "resume"> {
  resume: string | null;
}

function toUpload(row: Row): UploadRow {
  return { ...row, resume: row.resume === null ? null : (JSON.parse(row.resume) as unknown) };
}

export class SqliteUploads implements UploadLedger {
  constructor(private readonly db: SqliteDatabase) {}

  private row(destination: string, digest: string): UploadRow | undefined {
    const row = this.db.statement<[string, string], Row>(SQL.get).get(destination, digest);
    return row && toUpload(row);
  }

  get(destination: string, digest: string) {
    return this.db.read("read the upload ledger", () => this.row(destination, digest));
  }

  claim(destination: string, digest: string, holder: string, size: number, now: number, staleBefore: number, replace: boolean) {
    return this.db.write("claim an upload", (): UploadClaim => {
      const row = this.row(destination, digest);
      const params = { destination, digest, holder, size, now };
      if (row === undefined) {
        this.db.statement(SQL.insertClaim).run(params);
        return { kind: "claimed", resume: null };
      }
      if (row.holder !== null && row.holder !== holder && (row.heartbeatAt ?? 0) > staleBefore) return { kind: "busy", row };
      if (row.remoteId !== null && !replace) return { kind: "done", row };
      this.db.statement(SQL.takeOver).run(params);
      return { kind: "claimed", resume: row.resume };
    });
  }

  touch(destination: string, digest: string, holder: string, now: number) {
    return this.db.write("keep an upload's claim", () => this.db.statement(SQL.touch).run({ destination, digest, holder, now }).changes > 0);
  }

  checkpoint(destination: string, digest: string, holder: string, resume: unknown) {
    return this.db.write("record an upload's progress", () =>
      this.db.statement(SQL.checkpoint).run({ destination, digest, holder, resume: JSON.stringify(resume) }).changes > 0,
    );
  }

  complete(destination: string, digest: string, holder: string, remote: RemoteEntry, now: number) {
    return this.db.write("record a finished upload", () => {
      const changed = this.db.statement(SQL.complete).run({ destination, digest, holder, now, ...remote }).changes;
      return changed > 0 ? this.row(destination, digest) : undefined;
    });
  }

  release(destination: string, digest: string, holder: string) {
    return this.db.write("end an upload's claim", () => {
      this.db.statement(SQL.release).run({ destination, digest, holder });
      this.db.statement(SQL.dropIdle).run(destination, digest);
    });
  }

  drop(destination: string, digest: string, remoteId?: string) {
    return this.db.write("forget an upload", () => {
      if (remoteId === undefined) this.db.statement(SQL.drop).run(destination, digest);
      else this.db.statement(SQL.dropNamed).run(destination, digest, remoteId);
    });
  }

  unused(destination: string, now: number, afterDigest: string | null, limit: number) {
    return this.db.read("find unused uploads", () =>
      this.db
        .statement<object, Row>(SQL.unused)
        .all({ destination, now, after: afterDigest ?? "", limit })
        .map(toUpload),
    );
  }

  list(after: { destination: string; digest: string } | null, limit: number) {
    return this.db.read("list the upload ledger", () =>
      this.db
        .statement<object, Row>(SQL.list)
        .all({ destination: after?.destination ?? "", digest: after?.digest ?? "", limit })
        .map(toUpload),
    );
  }

  dropExpired(now: number) {
    return this.db.write("forget expired uploads", () => this.db.statement(SQL.dropExpired).run(now).changes);
  }

  totals() {
    return this.db.read("count uploads", () => this.db.statement<[], { destination: string; files: number; bytes: number }>(SQL.totals).all());
  }
}
