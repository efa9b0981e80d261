/**
 * The PostgreSQL manifest's blobs room: the bytes' rows and the condemn →
 * delete → forget fence.
 *
 * The blob row is the lock on its digest: a transaction that decides on a
 * condemnation (condemn, condemnDamaged, forget, reviveAbandoned) takes it
 * `FOR UPDATE`, and one that pins the bytes (beginStage, holdBlob in
 * pins.ts) takes it `FOR SHARE` before recording its intent. So the two
 * never interleave: whichever locks second sees what the first committed, as
 * SQLite's BEGIN IMMEDIATE would have shown it. Where no row exists (a
 * rowless condemnation), `INSERT … ON CONFLICT DO NOTHING` decides: of two
 * inserts of one digest, the second waits for the first and then finds it.
 *
 * Concurrency, per method:
 * - condemn: candidates `FOR UPDATE SKIP LOCKED` (a row another transaction
 *   has in hand is left alone: it is in use, or another sweeper is
 *   condemning it), so two sweepers at once condemn disjoint sets and
 *   neither waits; rowless digests by insert-or-nothing. An unneeded inline
 *   row has no bytes outside the manifest: it is deleted there and then
 *   (its bytes with it, by trigger), returned with `condemnedBy: null`.
 * - forget, reviveAbandoned: a row kept for a stage that needs it loses its
 *   inline bytes (they were found damaged): the stage writes them to the
 *   blob store.
 * - condemnDamaged, forget, reviveAbandoned: rows `FOR UPDATE` (waiting: a
 *   repair or the end of one's own deletion must get its answer).
 * - spare: the writer's rows `FOR UPDATE` in digest order, then one update.
 * - claimAbandoned: one statement, `FOR UPDATE SKIP LOCKED`: disjoint takeovers.
 */
import type { BlobRecord, BlobTable, CondemnedBlob } from "../manifest.js";
import { limitOf, toBlob, type BlobRow, type PostgresDatabase, type Session } from "./database.js";

const byDigest = (a: BlobRecord, b: BlobRecord) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);

export class PostgresBlobs implements BlobTable {
  private readonly sql;

  constructor(private readonly db: PostgresDatabase) {
    this.sql = db.sql.blobs;
  }

  /** Which of `digests` something needs at `now` (an attachment, an intent, an unexpired lease). */
  private async needed(session: Session, digests: string[], now: number): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    return new Set((await session.rows<{ digest: string }>(this.sql.needed, [digests, now])).map((row) => row.digest));
  }

  /** Blob rows as records. */
  private async blobs(session: Session, text: string, values: readonly unknown[]): Promise<BlobRecord[]> {
    return (await session.rows<BlobRow>(text, values)).map((row) => toBlob(row));
  }

  private async blob(session: Session, text: string, values: readonly unknown[]): Promise<BlobRecord | undefined> {
    return toBlob(await session.row<BlobRow>(text, values));
  }

  get(digest: string) {
    return this.db.statement("read the manifest", (session) => this.blob(session, this.sql.get, [digest]));
  }

  hasSize(size: number) {
    return this.db.statement("read the manifest", async (session) => (await session.row<{ found: boolean }>(this.sql.ofSize, [size]))?.found === true);
  }

  list(afterDigest: string | null, limit: number) {
    return this.db.statement("list blobs", (session) => this.blobs(session, this.sql.page, [afterDigest ?? "", limitOf(limit)]));
  }

  unreferenced(afterDigest: string | null, limit: number) {
    return this.db.statement("find unreferenced blobs", (session) =>
      this.blobs(session, this.sql.unreferenced, [afterDigest ?? "", limitOf(limit)]),
    );
  }

  condemn(digests: readonly string[], now: number, writer: string) {
    return this.db.transaction("condemn unneeded blobs", async (session) => {
      const wanted = [...new Set(digests)].sort();
      if (wanted.length === 0) return [];
      const existing = new Set((await session.rows<{ digest: string }>(this.sql.existing, [wanted])).map((row) => row.digest));
      const locked = (await this.blobs(session, this.sql.lockCandidates, [wanted])).filter((blob) => blob.condemnedBy === null);
      // Rows that exist but were not locked are another transaction's: left alone. Digests with no row may be condemned rowless.
      const rowless = wanted.filter((digest) => !existing.has(digest));
      const needed = await this.needed(session, [...locked.map((blob) => blob.digest), ...rowless], now);
      const unneeded = locked.filter((blob) => !needed.has(blob.digest));
      // Inline rows: no bytes outside this transaction, so gone with the row (the caller deletes and forgets nothing).
      const inline = unneeded.filter((blob) => blob.inline === true);
      if (inline.length > 0) await session.run(this.sql.deleteMany, [inline.map((blob) => blob.digest)]);
      const condemned: CondemnedBlob[] = unneeded.filter((blob) => blob.inline !== true).map((blob) => ({ ...blob, condemnedBy: writer }));
      if (condemned.length > 0) await session.run(this.sql.condemnMany, [condemned.map((blob) => blob.digest), writer]);
      condemned.push(...inline);
      // No row: bytes a stage put in place after its intent was dropped under it. Nothing can need them. A row that
      // appeared meanwhile (a stage began, another sweeper condemned them) is not this call's to condemn.
      const unowned = rowless.filter((digest) => !needed.has(digest));
      if (unowned.length > 0) {
        for (const blob of await this.blobs(session, this.sql.insertCondemnedMany, [unowned, now, writer])) {
          condemned.push({ ...blob, rowless: true });
        }
      }
      return condemned.sort(byDigest);
    });
  }

  condemnDamaged(digest: string, writer: string, options: { rowless?: boolean; size?: number } = {}) {
    return this.db.transaction("condemn damaged bytes", async (session): Promise<BlobRecord | undefined> => {
      const blob = await this.blob(session, this.sql.getLocked, [digest]);
      // A stage in flight may be putting these very bytes in place: its outcome is for the next verify to judge.
      if ((await session.row<{ found: boolean }>(this.sql.intentOf, [digest]))?.found === true) return undefined;
      if (options.rowless === true) {
        if (blob !== undefined) return undefined;
        const inserted = await this.blob(session, this.sql.insertCondemned, [digest, options.size ?? 0, 0, writer]);
        return inserted;
      }
      if (blob === undefined || blob.condemnedBy !== null) return undefined;
      await session.run(this.sql.condemnMany, [[digest], writer]);
      return { ...blob, condemnedBy: writer };
    });
  }

  forget(digests: readonly string[], writer: string, now: number) {
    return this.db.transaction("forget deleted blobs", async (session) => {
      const wanted = [...new Set(digests)].sort();
      if (wanted.length === 0) return [];
      const mine = await this.blobs(session, this.sql.condemnedByLocked, [wanted, writer]);
      const needed = await this.needed(session, mine.map((blob) => blob.digest), now);
      // A stage met the condemnation and waits for it to end (it writes the bytes again), or a lease needs them: kept.
      const revived = mine.filter((blob) => needed.has(blob.digest)).map((blob) => blob.digest);
      const forgotten = mine.filter((blob) => !needed.has(blob.digest));
      if (revived.length > 0) {
        await session.run(this.sql.spare, [revived, writer]);
        // Kept inline bytes were found damaged (only a repair condemns a needed row): the waiting stage writes them to the blob store.
        await session.run(this.sql.uninline, [revived]);
      }
      if (forgotten.length > 0) await session.run(this.sql.deleteMany, [forgotten.map((blob) => blob.digest)]);
      return forgotten;
    });
  }

  spare(digests: readonly string[], writer: string) {
    return this.db.transaction("call off a blob deletion", async (session) => {
      const wanted = [...new Set(digests)].sort();
      if (wanted.length === 0) return;
      const mine = await session.rows<{ digest: string }>(this.sql.lockCondemnedBy, [wanted, writer]);
      if (mine.length > 0) await session.run(this.sql.spare, [mine.map((row) => row.digest), writer]);
    });
  }

  claimAbandoned(staleBefore: number, writer: string, limit: number) {
    return this.db.statement("take over abandoned blob deletions", async (session) =>
      (await this.blobs(session, this.sql.claimAbandoned, [staleBefore, writer, limitOf(limit)])).sort(byDigest),
    );
  }

  reviveAbandoned(digest: string, staleBefore: number, orWriter?: string) {
    return this.db.transaction("revive a blob whose deletion was abandoned", async (session) => {
      const blob = await this.blob(session, this.sql.getLocked, [digest]);
      if (blob?.condemnedBy == null) return true;
      if (blob.condemnedBy !== orWriter) {
        const live = await session.row<{ live: boolean }>(this.sql.writerIsLive, [blob.condemnedBy, staleBefore]);
        if (live?.live === true) return false;
      }
      await session.run(this.sql.spare, [[digest], blob.condemnedBy]);
      // Condemned inline bytes were found damaged: the waiting stage writes them to the blob store.
      if (blob.inline === true) await session.run(this.sql.uninline, [[digest]]);
      return true;
    });
  }

  readInline(digest: string) {
    return this.db.statement("read inline bytes", async (session) => (await session.row<{ bytes: Buffer }>(this.sql.bytes, [digest]))?.bytes);
  }
}
