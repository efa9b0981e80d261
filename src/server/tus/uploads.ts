/**
 * The tus uploads of one server: created, appended to, finished (staged into
 * the store), terminated and expired. HTTP stays in index.ts; this file
 * speaks records, offsets and refusals.
 *
 * A complete upload is staged with mode "move": on the store's filesystem
 * its bytes file is hashed in place and linked into the blob store, never
 * copied. Staging happens under the upload's lock, after the last PATCH, or
 * at the next HEAD or PATCH if the server stopped in between; until it
 * succeeds the bytes stay where they are.
 */
import type { Readable } from "node:stream";
import { AttacheError, isAttacheError } from "../../errors.js";
import { newId } from "../../ids.js";
import type { Store } from "../../index.js";
import type { Principal } from "../context.js";
import { writeBody } from "./patch-body.js";
import type { UploadFiles, UploadRecord } from "./upload-files.js";
import { UploadLocks, type UploadLock } from "./upload-locks.js";

/** A tus protocol answer that has no AttacheError code of its own (409, 410, 412, 415, 460). */
export class TusRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TusUploadsOptions {
  files: UploadFiles;
  store: Store;
  expiryMs: number;
  /** "move" when the upload directory lies outside the store's directory (the store refuses to move its own files). */
  stageMode: "move" | "copy";
  shutdown: AbortSignal;
  beginUpload(): () => void;
}

export interface NewUpload {
  scope: string;
  length: number;
  rawMetadata: string;
  name: string | null;
  ttl: string | null;
  contentType: string | null;
}

export interface UploadState {
  record: UploadRecord;
  offset: number;
}

export interface AppendRequest {
  offset: number;
  /** The expected SHA-256 of this body (`Upload-Checksum`), or null. */
  checksum: Buffer | null;
  /** Content-Length, when sent: a body that cannot fit is refused before a byte is read. */
  contentLength: number | null;
  body: Readable;
}

export class TusUploads {
  private readonly locks: UploadLocks;

  constructor(private readonly options: TusUploadsOptions) {
    this.locks = new UploadLocks(options.shutdown);
  }

  async create(upload: NewUpload): Promise<UploadRecord> {
    const now = Date.now();
    const record: UploadRecord = { id: newId(), ...upload, createdAt: now, expiresAt: now + this.options.expiryMs, ref: null, verifyingFrom: null };
    await this.options.files.create(record);
    return record;
  }

  /** The upload as `principal` may see it, without waiting for requests on it (`GET /v1/uploads/{id}`). */
  async peek(id: string, principal: Principal): Promise<UploadState> {
    const record = await this.find(id, principal);
    return { record, offset: await this.options.files.offset(record) };
  }

  /** HEAD: takes the upload over from a request still writing to it, and finishes it if its bytes are all there. */
  async status(id: string, principal: Principal): Promise<UploadState> {
    await this.find(id, principal);
    return this.holding(id, async (lock) => {
      const record = await this.find(id, principal);
      const offset = await this.options.files.offset(record);
      if (record.ref === null && offset === record.length) await this.finish(record, lock);
      return { record, offset };
    });
  }

  /** PATCH (and the body of a creation-with-upload POST). */
  async append(id: string, principal: Principal, request: AppendRequest): Promise<UploadState> {
    await this.find(id, principal);
    return this.holding(id, async (lock) => {
      const { files } = this.options;
      const record = await this.find(id, principal);
      const current = await files.offset(record);
      if (request.offset !== current) {
        throw new TusRefusal(409, "OFFSET_MISMATCH", `Upload-Offset is ${request.offset} but the upload holds ${current} bytes; send HEAD and resume from there.`);
      }
      if (request.contentLength !== null && current + request.contentLength > record.length) {
        throw new AttacheError("TOO_LARGE", `The body (${request.contentLength} bytes at offset ${current}) goes past Upload-Length (${record.length} bytes).`);
      }
      if (record.ref === null && current < record.length) {
        await this.writeChunk(record, current, request, lock);
      }
      const offset = await files.offset(record);
      if (record.ref === null && offset === record.length) await this.finish(record, lock);
      return { record, offset: await files.offset(record) };
    });
  }

  /** DELETE: the upload's bytes and record go (a staged attachment stays). */
  async terminate(id: string, principal: Principal): Promise<void> {
    await this.find(id, principal);
    await this.holding(id, async () => {
      await this.options.files.remove(id);
    });
  }

  /** Deletes every expired upload that no request is using right now. */
  async removeExpired(): Promise<number> {
    const { files } = this.options;
    let removed = 0;
    for (const id of await files.ids()) {
      const record = await files.load(id).catch(() => null);
      if (record === null || record.expiresAt > Date.now() || this.locks.busy(id)) continue;
      await files.remove(id);
      removed++;
    }
    return removed;
  }

  /** 404 for an upload that is not there or not the principal's (never 403), 410 once expired. */
  private async find(id: string, principal: Principal): Promise<UploadRecord> {
    const record = await this.options.files.load(id);
    if (record === null || !principal.allows(record.scope)) {
      throw new AttacheError("NOT_FOUND", `No upload ${id} here: it was never created with this token's scopes, or it was terminated or has expired and was deleted.`);
    }
    if (record.expiresAt <= Date.now()) {
      throw new TusRefusal(410, "NOT_FOUND", `Upload ${id} expired at ${new Date(record.expiresAt).toISOString()}; start a new upload.`);
    }
    return record;
  }

  private async holding<T>(id: string, work: (lock: UploadLock) => Promise<T>): Promise<T> {
    const lock = await this.locks.acquire(id);
    try {
      if (lock.signal.aborted) throw interrupted(this.options.shutdown);
      return await work(lock);
    } finally {
      lock.release();
    }
  }

  private async writeChunk(record: UploadRecord, offset: number, request: AppendRequest, lock: UploadLock): Promise<void> {
    const { files } = this.options;
    const done = this.options.beginUpload();
    try {
      if (request.checksum !== null) {
        record.verifyingFrom = offset;
        await files.save(record);
      }
      const body = await writeBody(request.body, files.partPath(record.id), {
        offset,
        maxBytes: record.length - offset,
        hash: request.checksum !== null,
        signal: lock.signal,
      });
      const mismatch = request.checksum !== null && body.interruption === null && !body.sha256?.equals(request.checksum);
      // Unverified bytes never count: a checksummed body is kept whole and matching, or not at all.
      if (body.tooLarge || (request.checksum !== null && (mismatch || body.interruption !== null))) {
        await files.truncate(record.id, offset);
      }
      record.verifyingFrom = null;
      record.expiresAt = Date.now() + this.options.expiryMs;
      await files.save(record);
      if (body.tooLarge) {
        throw new AttacheError("TOO_LARGE", `The body goes past Upload-Length (${record.length} bytes); nothing of it was kept.`);
      }
      if (mismatch) {
        throw new TusRefusal(460, "CHECKSUM_MISMATCH", "The body does not match Upload-Checksum; nothing of it was kept. Send it again.");
      }
      if (body.interruption !== null) throw interrupted(this.options.shutdown);
    } finally {
      done();
    }
  }

  /** Stages the complete bytes and records the ref; on failure the bytes stay for the next HEAD or PATCH. */
  private async finish(record: UploadRecord, lock: UploadLock): Promise<void> {
    const { files, store } = this.options;
    let staged;
    try {
      staged = await store.stage(files.partPath(record.id), {
        scope: record.scope,
        name: record.name ?? "attachment",
        ...(record.ttl === null ? {} : { ttl: record.ttl }),
        ...(record.contentType === null ? {} : { contentType: record.contentType }),
        source: "tus",
        mode: this.options.stageMode,
        signal: lock.signal,
      });
    } catch (err) {
      if (isAttacheError(err, "ABORTED")) throw interrupted(this.options.shutdown);
      throw err;
    }
    record.ref = staged.ref;
    await files.save(record);
    // A copy (the upload directory is inside the store's) leaves the bytes file behind.
    if (this.options.stageMode === "copy") await files.removeBytes(record.id);
  }
}

function interrupted(shutdown: AbortSignal): Error {
  if (shutdown.aborted) {
    return new AttacheError("IO_ERROR", "The server is shutting down; the bytes received so far are kept. Resume the upload in a moment.", { retryable: true });
  }
  return new TusRefusal(409, "OFFSET_MISMATCH", "A newer request on this upload took it over, or the body ended early; send HEAD and resume from its offset.");
}
