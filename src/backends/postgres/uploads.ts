/**
 * The PostgreSQL manifest's upload ledger room.
 *
 * Concurrency, per method: `claim` is one transaction — `INSERT … ON
 * CONFLICT DO NOTHING` for a new row (of two claimants, the second waits for
 * the first and then finds its row), else the row `FOR UPDATE`, judged and
 * taken over. `release` is one transaction (end the claim, then drop the row
 * if nothing is left in it). The others are one statement each, guarded by
 * the holder in their WHERE clause, which PostgreSQL re-checks on the row it
 * locks: a holder that lost its claim changes nothing.
 */
import type { RemoteEntry, UploadClaim, UploadLedger, UploadRow } from "../manifest.js";
import { limitOf, type PostgresDatabase } from "./database.js";

interface Row extends Omit<UploadRow, "resume"> {
  resume: string | null;
}

function toUpload(row: Row): UploadRow {
  return { ...row, resume: row.resume === null ? null : (JSON.parse(row.resume) as unknown) };
}

export class PostgresUploads implements UploadLedger {
  private readonly sql;

  constructor(private readonly db: PostgresDatabase) {
    this.sql = db.sql.uploads;
  }

  get(destination: string, digest: string) {
    return this.db.statement("read the upload ledger", async (session) => {
      const row = await session.row<Row>(this.sql.get, [destination, digest]);
      return row && toUpload(row);
    });
  }

  claim(destination: string, digest: string, holder: string, size: number, now: number, staleBefore: number, replace: boolean) {
    return this.db.transaction("claim an upload", async (session): Promise<UploadClaim> => {
      for (;;) {
        if ((await session.run(this.sql.insertClaim, [destination, digest, size, holder, now])) === 1) return { kind: "claimed", resume: null };
        const locked = await session.row<Row>(this.sql.getLocked, [destination, digest]);
        // Dropped between the insert and the lock: insert again.
        if (locked === undefined) continue;
        const row = toUpload(locked);
        if (row.holder !== null && row.holder !== holder && (row.heartbeatAt ?? 0) > staleBefore) return { kind: "busy", row };
        if (row.remoteId !== null && !replace) return { kind: "done", row };
        await session.run(this.sql.takeOver, [destination, digest, holder, size, now]);
        return { kind: "claimed", resume: row.resume };
      }
    });
  }

  touch(destination: string, digest: string, holder: string, now: number) {
    return this.db.statement("keep an upload's claim", async (session) => (await session.run(this.sql.touch, [destination, digest, holder, now])) > 0);
  }

  checkpoint(destination: string, digest: string, holder: string, resume: unknown) {
    return this.db.statement("record an upload's progress", async (session) =>
      (await session.run(this.sql.checkpoint, [destination, digest, holder, JSON.stringify(resume)])) > 0,
    );
  }

  complete(destination: string, digest: string, holder: string, remote: RemoteEntry, now: number) {
    return this.db.statement("record a finished upload", async (session) => {
      const row = await session.row<Row>(this.sql.complete, [destination, digest, holder, remote.remoteId, remote.uri, now, remote.expiresAt]);
      return row && toUpload(row);
    });
  }

  release(destination: string, digest: string, holder: string) {
    return this.db.transaction("end an upload's claim", async (session) => {
      await session.run(this.sql.release, [destination, digest, holder]);
      await session.run(this.sql.dropIdle, [destination, digest]);
    });
  }

  drop(destination: string, digest: string, remoteId?: string) {
    return this.db.statement("forget an upload", async (session) => {
      if (remoteId === undefined) await session.run(this.sql.drop, [destination, digest]);
      else await session.run(this.sql.dropNamed, [destination, digest, remoteId]);
    });
  }

  unused(destination: string, now: number, afterDigest: string | null, limit: number) {
    return this.db.statement("find unused uploads", async (session) =>
      (await session.rows<Row>(this.sql.unused, [destination, now, afterDigest ?? "", limitOf(limit)])).map(toUpload),
    );
  }

  list(after: { destination: string; digest: string } | null, limit: number) {
    return this.db.statement("list the upload ledger", async (session) =>
      (await session.rows<Row>(this.sql.list, [after?.destination ?? "", after?.digest ?? "", limitOf(limit)])).map(toUpload),
    );
  }

  dropExpired(now: number) {
    return this.db.statement("forget expired uploads", (session) => session.run(this.sql.dropExpired, [now]));
  }

  totals() {
    return this.db.statement("count uploads", (session) =>
      session.rows<{ destination: string; files: number; bytes: number }>(this.sql.totals),
    );
  }
}
