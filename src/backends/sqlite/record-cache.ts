/**
 * The lookup cache of the SQLite manifest: attachment records by id, one
 * cache per connection (so every store a process opens on one file shares
 * it, and sees the others' writes).
 *
 * - This process's own writes keep it current: a committed write hands the
 *   records it created or changed to {@link RecordCache.put} and the ids it
 *   dropped to {@link RecordCache.forget}, synchronously after its COMMIT
 *   and before anything else runs (see group-commit.ts), so no lookup can
 *   see a record its own process has released.
 * - Another process's commit changes SQLite's `PRAGMA data_version`; every
 *   lookup reads it (one statement, no I/O) and a changed value empties the
 *   cache first.
 * - A write that changes what records read without naming them (a blob's
 *   bytes leaving the manifest, a reset) empties it ({@link RecordCache.clear}).
 *
 * Expiry is judged by the caller against its clock on every lookup, so a
 * cached record that expires meanwhile is never returned as live. At most
 * {@link CACHED_RECORDS} records are kept; past that the older half goes
 * (generations.ts: constant work per lookup).
 */
import { Generations } from "../../generations.js";
import type { AttachmentRecord } from "../manifest.js";

/** The most records kept (generations.ts). */
const CACHED_RECORDS = 10_000;

export class RecordCache {
  private readonly records = new Generations<string, AttachmentRecord>(CACHED_RECORDS);
  private dataVersion = -1;

  /** The cached record of `id`, after emptying the cache if another connection committed since (`dataVersion`). */
  get(id: string, dataVersion: number): AttachmentRecord | undefined {
    if (dataVersion !== this.dataVersion) {
      this.records.clear();
      this.dataVersion = dataVersion;
    }
    return this.records.get(id);
  }

  /** Keeps a record read or written at the current `dataVersion`. */
  put(record: AttachmentRecord): void {
    this.records.set(record.id, Object.freeze({ ...record }));
  }

  forget(ids: Iterable<string>): void {
    for (const id of ids) this.records.delete(id);
  }

  clear(): void {
    this.records.clear();
  }
}
