/**
 * A temp object being written to S3, in bounded memory.
 *
 * The store hashes each chunk as it hands it over; the writer only stores
 * bytes. It copies every chunk into a part buffer before `write` returns
 * (the caller may reuse its chunk at once), and sends each full part
 * (`partSize` bytes) as an UploadPart of a multipart upload on the temp
 * key, with at most `queueSize` parts in flight: `write` resolves only
 * while fewer are pending, so a caller that awaits each write holds the
 * writer to `(queueSize + 1) × partSize` bytes. A temp object that ends up
 * smaller than one part goes in one PutObject at `finish` instead (the part
 * buffer grows from 64 KiB as needed, so a small stage holds little).
 *
 * The temp object exists from the start: `createWriter` puts an empty
 * marker at the key, so `listTemp` shows the writer at work, and once a
 * multipart upload starts the marker is put again with the upload's id in
 * its metadata, so a sweep can abort an upload whose writer died even on a
 * server that cannot list uploads. PutObject and CompleteMultipartUpload
 * replace the marker with the bytes (S3 makes both visible atomically).
 *
 * Every multipart upload started is completed by `finish` or aborted by
 * `abort` (parts in flight are cancelled and waited for first: S3 may keep
 * a part that lands after the abort).
 */
import { CreateMultipartUploadCommand, DeleteObjectCommand, PutObjectCommand, UploadPartCommand, type CompletedPart, type S3Client } from "@aws-sdk/client-s3";
import type { BlobWriter } from "../blob-store.js";
import { AttacheError } from "../../errors.js";
import { isRetryableS3Failure, request } from "./failures.js";
import { s3Url } from "./keys.js";
import { UPLOAD_ID_METADATA, type MultipartUploads } from "./multipart-uploads.js";
import { S3_LIMITS } from "./options.js";

/** The part buffer's first size; it doubles up to `partSize` as bytes come. */
const FIRST_BUFFER = 64 * 1024;
const EMPTY = Buffer.alloc(0);

export interface S3WriterTarget {
  readonly client: S3Client;
  readonly bucket: string;
  readonly uploads: MultipartUploads;
  readonly partSize: number;
  readonly queueSize: number;
  /** Where a finished writer leaves its temp object's ETag (by temp name), for `commit` to copy only that version. */
  readonly finished: Map<string, string>;
}

interface Part {
  number: number;
  buffer: Buffer;
  length: number;
}

export class S3BlobWriter implements BlobWriter {
  private readonly where: string;
  /** The part being filled. */
  private buffer: Buffer | undefined;
  private filled = 0;
  private size = 0;
  private sealed = 0;
  /** Full parts not yet sent (only when writes are issued without awaiting each one). */
  private readonly queued: Part[] = [];
  /** Sends in flight; they never reject (a failure is kept in `failure`). */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly spares: Buffer[] = [];
  private readonly parts: CompletedPart[] = [];
  private upload: Promise<string> | undefined;
  /** The marker's rewrite with the upload id; never rejects. */
  private recorded: Promise<void> = Promise.resolve();
  private completedUpload = false;
  /** The client retried CreateMultipartUpload: a lost attempt may have started another upload. */
  private retriedStart = false;
  private failure: unknown = undefined;
  private state: "writing" | "finishing" | "finished" | "aborted" = "writing";
  private finishing: Promise<void> | undefined;
  private aborting: Promise<void> | undefined;
  private readonly cancel = new AbortController();

  constructor(
    readonly tempName: string,
    private readonly key: string,
    private readonly target: S3WriterTarget,
  ) {
    this.where = s3Url(target.bucket, key);
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.state !== "writing") return Promise.reject(this.closed());
    if (this.failure !== undefined) return Promise.reject(this.failure);
    // Synchronous: every byte of the chunk is the writer's before anything awaits.
    let offset = 0;
    while (offset < chunk.byteLength) {
      const buffer = this.bufferFor(chunk.byteLength - offset);
      const take = Math.min(chunk.byteLength - offset, buffer.length - this.filled);
      buffer.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      this.size += take;
      offset += take;
      if (this.filled === this.target.partSize) this.seal();
      if (this.failure !== undefined) break;
    }
    this.pump();
    return this.room();
  }

  finish(): Promise<void> {
    if (this.state === "aborted") return Promise.reject(this.closed());
    this.finishing ??= this.complete();
    return this.finishing;
  }

  abort(): Promise<void> {
    this.aborting ??= this.discard().catch((err: unknown) => {
      // Another call may try again (the temp object still records the upload's id).
      this.aborting = undefined;
      throw err;
    });
    return this.aborting;
  }

  /** The part buffer, grown (or taken from the spares) to hold `more` bytes, up to a part. */
  private bufferFor(more: number): Buffer {
    const { partSize } = this.target;
    const current = this.buffer;
    const wanted = Math.min(partSize, this.filled + more);
    if (current !== undefined && current.length >= wanted) return current;
    let capacity = this.sealed > 0 ? partSize : Math.max(current?.length ?? 0, FIRST_BUFFER);
    while (capacity < wanted) capacity = Math.min(partSize, capacity * 2);
    const grown = capacity === partSize ? (this.spares.pop() ?? Buffer.allocUnsafe(partSize)) : Buffer.allocUnsafe(capacity);
    current?.copy(grown, 0, 0, this.filled);
    this.buffer = grown;
    return grown;
  }

  /** Queues the part buffer as the next part (starting the multipart upload with the first). */
  private seal(): void {
    const part: Part = { number: ++this.sealed, buffer: this.buffer as Buffer, length: this.filled };
    this.buffer = undefined;
    this.filled = 0;
    if (part.number > S3_LIMITS.maxParts) {
      this.failure ??= new AttacheError(
        "TOO_LARGE",
        `${this.where} would need more than ${S3_LIMITS.maxParts} parts of ${this.target.partSize} bytes, S3's limit; nothing was kept. Give the S3 blob store a larger partSize.`,
      );
      return;
    }
    if (this.upload === undefined) {
      const upload = this.startUpload();
      upload.catch(() => undefined);
      this.upload = upload;
    }
    this.queued.push(part);
  }

  /** Sends queued parts while fewer than `queueSize` are in flight. */
  private pump(): void {
    while (this.queued.length > 0 && this.inFlight.size < this.target.queueSize && this.failure === undefined && this.state !== "aborted") {
      const part = this.queued.shift() as Part;
      const sending: Promise<void> = this.sendPart(part)
        .then(
          () => this.release(part.buffer),
          (err: unknown) => void (this.failure ??= err),
        )
        .finally(() => {
          this.inFlight.delete(sending);
          this.pump();
        });
      this.inFlight.add(sending);
    }
  }

  /** Resolves once fewer than `queueSize` parts are pending; rejects once a send failed. */
  private async room(): Promise<void> {
    while (this.failure === undefined && this.state !== "aborted" && this.queued.length + this.inFlight.size >= this.target.queueSize) {
      if (this.inFlight.size === 0) this.pump();
      await Promise.race(this.inFlight);
    }
    if (this.state === "aborted") throw this.closed();
    if (this.failure !== undefined) throw this.failure;
  }

  private release(buffer: Buffer): void {
    if (buffer.length === this.target.partSize && this.spares.length <= this.target.queueSize && this.state === "writing") this.spares.push(buffer);
  }

  private async startUpload(): Promise<string> {
    const { client, bucket } = this.target;
    const out = await request("start a multipart upload", this.where, () => client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: this.key })));
    const uploadId = out.UploadId;
    if (uploadId === undefined) throw new AttacheError("IO_ERROR", `S3 started a multipart upload at ${this.where} without giving its id.`);
    this.retriedStart = (out.$metadata.attempts ?? 1) > 1;
    // The marker records the upload, so that a sweep can abort it if this process dies.
    this.recorded = request("record the multipart upload on its temp object", this.where, () =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: this.key, Body: EMPTY, Metadata: { [UPLOAD_ID_METADATA]: uploadId } })),
    ).then(
      () => undefined,
      (err: unknown) => void (this.failure ??= err),
    );
    return uploadId;
  }

  private async sendPart(part: Part): Promise<void> {
    const uploadId = await (this.upload as Promise<string>);
    const { client, bucket } = this.target;
    const out = await request(`upload part ${part.number}`, this.where, () =>
      client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: this.key,
          UploadId: uploadId,
          PartNumber: part.number,
          Body: part.buffer.subarray(0, part.length),
          ContentLength: part.length,
        }),
        { abortSignal: this.cancel.signal },
      ),
    );
    if (out.ETag === undefined) throw new AttacheError("IO_ERROR", `S3 took part ${part.number} of ${this.where} without giving its ETag.`);
    this.parts.push({ PartNumber: part.number, ETag: out.ETag });
  }

  private async complete(): Promise<void> {
    this.state = "finishing";
    const { client, bucket } = this.target;
    if (this.failure !== undefined) throw this.failure;
    if (this.upload === undefined) {
      // Less than a part: one PutObject, over the marker.
      const body = this.buffer === undefined ? EMPTY : this.buffer.subarray(0, this.filled);
      const out = await request("write the temp object", this.where, () =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key: this.key, Body: body, ContentLength: body.length })),
      );
      if (out.ETag !== undefined) this.target.finished.set(this.tempName, out.ETag);
    } else {
      if (this.filled > 0) this.seal(); // the last part, shorter than the others
      this.pump();
      while (this.failure === undefined && this.inFlight.size > 0) await Promise.race(this.inFlight);
      await this.recorded;
      if (this.failure !== undefined) throw this.failure;
      const uploadId = await this.upload;
      const etag = await this.target.uploads.complete(this.key, uploadId, this.parts, this.size);
      this.completedUpload = true;
      if (this.retriedStart) await this.target.uploads.abortOthers(this.key, uploadId);
      if (etag !== undefined) this.target.finished.set(this.tempName, etag);
    }
    this.buffer = undefined;
    this.spares.length = 0;
    this.state = "finished";
  }

  private async discard(): Promise<void> {
    if (this.state !== "aborted") {
      this.state = "aborted";
      this.cancel.abort();
      this.queued.length = 0;
      this.buffer = undefined;
      this.spares.length = 0;
    }
    await Promise.allSettled([...this.inFlight]);
    await this.finishing?.catch(() => undefined);
    this.target.finished.delete(this.tempName);
    const uploadId = this.upload === undefined ? undefined : await this.upload.catch(() => undefined);
    // After the upload's start (which sets it): the record lands before the temp object is deleted.
    await this.recorded;
    if (uploadId !== undefined && !this.completedUpload) {
      try {
        await this.target.uploads.abort(this.key, uploadId);
        if (this.retriedStart) await this.target.uploads.abortOthers(this.key, uploadId);
      } catch (err) {
        // A passing failure: the temp object stays, recording the upload, for a later abort or the sweep.
        // Any other (no permission, a server without AbortMultipartUpload): the bucket's lifecycle rule is left to end it.
        if (!isRetryableS3Failure(err)) await this.deleteTemp().catch(() => undefined);
        throw err;
      }
    }
    await this.deleteTemp();
  }

  private async deleteTemp(): Promise<void> {
    const { client, bucket } = this.target;
    await request("delete the temp object", this.where, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: this.key })));
  }

  private closed(): Error {
    return new AttacheError("IO_ERROR", `The writer of ${this.where} was ${this.state === "aborted" ? "aborted" : "finished"}; it takes no more bytes.`, {
      retryable: false,
    });
  }
}
