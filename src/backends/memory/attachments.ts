/** The in-memory manifest's attachments room. */
import type { AttachmentChanges } from "../../update-options.js";
import type { AttachmentRecord, AttachmentTable, CommitResult, ListQuery, StagedAttachment } from "../manifest.js";
import { applyChanges, intentReclaimed, isLive, mergeStaging, newRecord } from "../merge.js";
import { clone, type MemoryState } from "./state.js";

export class MemoryAttachments implements AttachmentTable {
  constructor(private readonly state: MemoryState) {}

  private live(id: string, scope: string | undefined, now: number): AttachmentRecord | undefined {
    const record = this.state.attachments.get(id);
    if (!record || !isLive(record, now) || (scope !== undefined && record.scope !== scope)) return undefined;
    return record;
  }

  private dropAll(records: AttachmentRecord[]): AttachmentRecord[] {
    for (const record of records) this.state.dropAttachment(record);
    return records;
  }

  commitStage(intentId: string | null, staged: StagedAttachment) {
    return this.state.write(() => {
      const s = this.state;
      if (intentId !== null && !s.intents.delete(intentId)) throw intentReclaimed();
      if (staged.referencePath === null) s.ensureBlob(staged.digest, staged.size, staged.now);
      return this.attach(staged);
    });
  }

  commitInline(staged: StagedAttachment, bytes: Uint8Array) {
    return this.state.write((): (CommitResult & { wrote: boolean }) | "elsewhere" => {
      const s = this.state;
      const blob = s.blobs.get(staged.digest);
      if (blob === undefined) {
        s.blobs.set(staged.digest, { digest: staged.digest, size: staged.size, refs: 0, createdAt: staged.now, condemnedBy: null, inline: true });
        s.inlineBytes.set(staged.digest, Buffer.from(bytes));
      } else if (blob.inline !== true || blob.condemnedBy !== null) {
        return "elsewhere";
      }
      return { ...this.attach(staged), wrote: blob === undefined };
    });
  }

  /** Creates the attachment for a staged blob whose row exists, or merges into the scope's own. */
  private attach(staged: StagedAttachment): CommitResult {
    const s = this.state;
    const blob = staged.referencePath === null ? s.blobs.get(staged.digest) : undefined;
    const existingId = s.byScopeDigest.get(`${staged.scope}\0${staged.digest}`);
    const existing = existingId === undefined ? undefined : s.attachments.get(existingId);
    if (existing === undefined) {
      const record = newRecord(clone(staged));
      s.addAttachment(record);
      if (blob) blob.refs++;
      return { record: s.view(record) as AttachmentRecord, merged: false };
    }
    const record = mergeStaging(existing, staged);
    s.attachments.set(record.id, record);
    if (blob && existing.referencePath !== null && record.referencePath === null) blob.refs++;
    return { record: s.view(record) as AttachmentRecord, merged: true };
  }

  get(id: string) {
    return this.state.read(() => this.state.view(this.state.attachments.get(id)));
  }

  list(query: ListQuery) {
    return this.state.read(() => {
      const out: AttachmentRecord[] = [];
      for (const id of [...this.state.attachments.keys()].sort()) {
        if (out.length >= query.limit) break;
        if (query.afterId !== undefined && id <= query.afterId) continue;
        const record = this.state.attachments.get(id) as AttachmentRecord;
        if (query.scope !== undefined && record.scope !== query.scope) continue;
        if (!query.includeExpired && !isLive(record, query.now)) continue;
        out.push(this.state.view(record) as AttachmentRecord);
      }
      return out;
    });
  }

  update(id: string, scope: string | undefined, changes: AttachmentChanges, now: number) {
    return this.state.write(() => {
      const record = this.live(id, scope, now);
      if (record === undefined) return undefined;
      const updated = applyChanges(record, changes, now);
      this.state.attachments.set(id, updated);
      return this.state.view(updated);
    });
  }

  release(id: string, scope: string | undefined, now: number) {
    return this.state.write(() => {
      const record = this.live(id, scope, now);
      if (record) this.state.dropAttachment(record);
      return record;
    });
  }

  releaseScope(scope: string, now: number) {
    return this.state.write(() =>
      this.dropAll([...this.state.attachments.values()].filter((r) => r.scope === scope && isLive(r, now))),
    );
  }

  expireDue(now: number, limit: number) {
    return this.state.write(() =>
      this.dropAll(
        [...this.state.attachments.values()]
          .filter((r) => r.expiresAt !== null && r.expiresAt <= now)
          .sort((a, b) => (a.expiresAt as number) - (b.expiresAt as number))
          .slice(0, limit),
      ),
    );
  }

  listReferences(afterId: string | null, limit: number) {
    return this.state.read(() =>
      [...this.state.attachments.values()]
        .filter((r) => r.referencePath !== null && r.id > (afterId ?? ""))
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .slice(0, limit),
    );
  }

  dropCondemned(digest: string, condemnedBy: string) {
    return this.state.write(() => {
      if (this.state.blobs.get(digest)?.condemnedBy !== condemnedBy) return [];
      return this.dropAll([...this.state.attachments.values()].filter((r) => r.digest === digest && r.referencePath === null));
    });
  }

  drop(id: string) {
    return this.state.write(() => {
      const record = this.state.attachments.get(id);
      if (record) this.state.dropAttachment(record);
      return record;
    });
  }
}
