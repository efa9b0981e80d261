/** The in-memory manifest's blobs room: the same fence as SQLite's (see ../manifest.ts). */
import type { BlobRecord, BlobTable, CondemnedBlob } from "../manifest.js";
import type { MemoryState } from "./state.js";

const byDigest = (a: BlobRecord, b: BlobRecord) => (a.digest < b.digest ? -1 : 1);

export class MemoryBlobs implements BlobTable {
  constructor(private readonly state: MemoryState) {}

  get(digest: string) {
    return this.state.read(() => this.state.blobs.get(digest));
  }

  hasSize(size: number) {
    return this.state.read(() => [...this.state.blobs.values()].some((blob) => blob.size === size));
  }

  list(afterDigest: string | null, limit: number) {
    return this.state.read(() =>
      [...this.state.blobs.values()].filter((b) => b.digest > (afterDigest ?? "")).sort(byDigest).slice(0, limit),
    );
  }

  unreferenced(afterDigest: string | null, limit: number) {
    return this.state.read(() =>
      [...this.state.blobs.values()]
        .filter((b) => b.refs === 0 && b.condemnedBy === null && b.digest > (afterDigest ?? ""))
        .sort(byDigest)
        .slice(0, limit),
    );
  }

  condemn(digests: readonly string[], now: number, writer: string) {
    return this.state.write(() => {
      const condemned: CondemnedBlob[] = [];
      for (const digest of new Set(digests)) {
        const blob = this.state.blobs.get(digest);
        if (blob?.condemnedBy != null || this.state.needed(digest, now)) continue;
        if (blob?.inline === true) {
          // No bytes outside this step: gone with the row.
          this.state.dropBlob(digest);
          condemned.push(blob);
          continue;
        }
        // No row: bytes a stage put in place after its intent was dropped under it. Nothing can need them.
        const condemnedBlob = blob ?? this.state.ensureBlob(digest, 0, now);
        condemnedBlob.condemnedBy = writer;
        condemned.push(blob === undefined ? { ...condemnedBlob, rowless: true } : condemnedBlob);
      }
      return condemned;
    });
  }

  condemnDamaged(digest: string, writer: string, options: { rowless?: boolean; size?: number } = {}) {
    return this.state.write(() => {
      if (this.state.hasIntentFor(digest)) return undefined;
      const blob = this.state.blobs.get(digest);
      if (options.rowless === true) {
        if (blob !== undefined) return undefined;
        const inserted = this.state.ensureBlob(digest, options.size ?? 0, 0);
        inserted.condemnedBy = writer;
        return inserted;
      }
      if (blob === undefined || blob.condemnedBy !== null) return undefined;
      blob.condemnedBy = writer;
      return blob;
    });
  }

  forget(digests: readonly string[], writer: string, now: number) {
    return this.state.write(() => {
      const forgotten: BlobRecord[] = [];
      for (const digest of new Set(digests)) {
        const blob = this.state.blobs.get(digest);
        if (blob?.condemnedBy !== writer) continue;
        if (this.state.needed(digest, now)) {
          blob.condemnedBy = null;
          this.state.uninline(blob);
          continue;
        }
        this.state.dropBlob(digest);
        forgotten.push(blob);
      }
      return forgotten;
    });
  }

  spare(digests: readonly string[], writer: string) {
    return this.state.write(() => {
      for (const digest of digests) {
        const blob = this.state.blobs.get(digest);
        if (blob?.condemnedBy === writer) blob.condemnedBy = null;
      }
    });
  }

  claimAbandoned(staleBefore: number, writer: string, limit: number) {
    return this.state.write(() => {
      const abandoned = [...this.state.blobs.values()]
        .filter((b) => b.condemnedBy !== null && (b.condemnedBy === writer || !this.state.writerIsLive(b.condemnedBy, staleBefore)))
        .sort(byDigest)
        .slice(0, limit);
      for (const blob of abandoned) blob.condemnedBy = writer;
      return abandoned;
    });
  }

  reviveAbandoned(digest: string, staleBefore: number, orWriter?: string) {
    return this.state.write(() => {
      const blob = this.state.blobs.get(digest);
      if (blob?.condemnedBy == null) return true;
      if (blob.condemnedBy !== orWriter && this.state.writerIsLive(blob.condemnedBy, staleBefore)) return false;
      blob.condemnedBy = null;
      // Condemned inline bytes were found damaged: the waiting stage writes them to the blob store.
      this.state.uninline(blob);
      return true;
    });
  }

  readInline(digest: string) {
    return this.state.read(() => this.state.inlineBytes.get(digest)).then((bytes) => (bytes === undefined ? undefined : Buffer.from(bytes)));
  }
}
