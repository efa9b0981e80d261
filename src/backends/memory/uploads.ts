/** The in-memory manifest's upload ledger room. */
import type { RemoteEntry, UploadClaim, UploadLedger, UploadRow } from "../manifest.js";
import { isLive } from "../merge.js";
import type { MemoryState } from "./state.js";

const keyOf = (destination: string, digest: string) => `${destination}\0${digest}`;
const byKey = (a: UploadRow, b: UploadRow) => (keyOf(a.destination, a.digest) < keyOf(b.destination, b.digest) ? -1 : 1);

export class MemoryUploads implements UploadLedger {
  constructor(private readonly state: MemoryState) {}

  get(destination: string, digest: string) {
    return this.state.read(() => this.state.uploads.get(keyOf(destination, digest)));
  }

  claim(destination: string, digest: string, holder: string, size: number, now: number, staleBefore: number, replace: boolean) {
    return this.state.write((): UploadClaim => {
      const key = keyOf(destination, digest);
      const row = this.state.uploads.get(key);
      if (row === undefined) {
        this.state.uploads.set(key, {
          destination, digest, size, remoteId: null, uri: null, uploadedAt: null, expiresAt: null, holder, heartbeatAt: now, resume: null,
        });
        return { kind: "claimed", resume: null };
      }
      if (row.holder !== null && row.holder !== holder && (row.heartbeatAt ?? 0) > staleBefore) return { kind: "busy", row };
      if (row.remoteId !== null && !replace) return { kind: "done", row };
      Object.assign(row, { holder, heartbeatAt: now, size, remoteId: null, uri: null, uploadedAt: null, expiresAt: null });
      return { kind: "claimed", resume: row.resume };
    });
  }

  private held(destination: string, digest: string, holder: string): UploadRow | undefined {
    const row = this.state.uploads.get(keyOf(destination, digest));
    return row?.holder === holder ? row : undefined;
  }

  touch(destination: string, digest: string, holder: string, now: number) {
    return this.state.write(() => {
      const row = this.held(destination, digest, holder);
      if (row) row.heartbeatAt = now;
      return row !== undefined;
    });
  }

  checkpoint(destination: string, digest: string, holder: string, resume: unknown) {
    return this.state.write(() => {
      const row = this.held(destination, digest, holder);
      if (row) row.resume = structuredClone(resume);
      return row !== undefined;
    });
  }

  complete(destination: string, digest: string, holder: string, remote: RemoteEntry, now: number) {
    return this.state.write(() => {
      const row = this.held(destination, digest, holder);
      if (row) Object.assign(row, { ...remote, uploadedAt: now, holder: null, heartbeatAt: null, resume: null });
      return row;
    });
  }

  release(destination: string, digest: string, holder: string) {
    return this.state.write(() => {
      const row = this.held(destination, digest, holder);
      if (row === undefined) return;
      Object.assign(row, { holder: null, heartbeatAt: null });
      if (row.remoteId === null && row.resume === null) this.state.uploads.delete(keyOf(destination, digest));
    });
  }

  drop(destination: string, digest: string, remoteId?: string) {
    return this.state.write(() => {
      const key = keyOf(destination, digest);
      if (remoteId === undefined || this.state.uploads.get(key)?.remoteId === remoteId) this.state.uploads.delete(key);
    });
  }

  unused(destination: string, now: number, afterDigest: string | null, limit: number) {
    return this.state.read(() => {
      const live = new Set<string>();
      for (const record of this.state.attachments.values()) if (isLive(record, now)) live.add(record.digest);
      return [...this.state.uploads.values()]
        .filter((r) => r.destination === destination && r.remoteId !== null && r.digest > (afterDigest ?? "") && !live.has(r.digest))
        .sort(byKey)
        .slice(0, limit);
    });
  }

  list(after: { destination: string; digest: string } | null, limit: number) {
    return this.state.read(() => {
      const from = after === null ? "" : keyOf(after.destination, after.digest);
      return [...this.state.uploads.values()]
        .filter((r) => r.remoteId !== null && keyOf(r.destination, r.digest) > from)
        .sort(byKey)
        .slice(0, limit);
    });
  }

  dropExpired(now: number) {
    return this.state.write(() => {
      let dropped = 0;
      for (const [key, row] of this.state.uploads) {
        if (row.remoteId !== null && row.expiresAt !== null && row.expiresAt <= now) {
          this.state.uploads.delete(key);
          dropped++;
        }
      }
      return dropped;
    });
  }

  totals() {
    return this.state.read(() => {
      const totals = new Map<string, { destination: string; files: number; bytes: number }>();
      for (const row of this.state.uploads.values()) {
        if (row.remoteId === null) continue;
        const total = totals.get(row.destination) ?? { destination: row.destination, files: 0, bytes: 0 };
        total.files++;
        total.bytes += row.size;
        totals.set(row.destination, total);
      }
      return [...totals.values()].sort((a, b) => (a.destination < b.destination ? -1 : 1));
    });
  }
}
