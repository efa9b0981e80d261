/**
 * Multipart uploads: completing them, and finding and aborting the ones left
 * behind. Every upload the store starts is completed or aborted by whoever
 * started it (a writer, a multipart copy); the others — their process died,
 * or the abort failed — are for the sweep's `removeTemp`.
 *
 * An upload left behind is found two ways: by the id its temp object
 * records (see writer.ts), which works on any server that can abort one;
 * and by ListMultipartUploads, which also finds an upload whose temp object
 * is gone. A server that does not implement ListMultipartUploads (s3rver
 * answers 501), or a policy that does not allow it (403), is taken to have
 * none to list. What neither finds — an upload whose process died before
 * it recorded the id, a multipart copy into blobs/ cut short, an upload
 * started by an attempt whose answer was lost on a server that cannot list
 * uploads — is left to the bucket's lifecycle rule
 * (AbortIncompleteMultipartUpload), which every bucket should have.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type CompletedPart,
  type S3Client,
} from "@aws-sdk/client-s3";
import { isMissingUpload, isNotImplemented, request, s3Failure, statusOf } from "./failures.js";
import { s3Url } from "./keys.js";

export interface UploadInProgress {
  key: string;
  uploadId: string;
  initiatedMs: number;
}

/** The metadata key (`x-amz-meta-upload-id`) under which a temp object records its multipart upload. */
export const UPLOAD_ID_METADATA = "upload-id";

export class MultipartUploads {
  /** False once the server said it cannot list uploads: not asked again. */
  private listable = true;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  /**
   * Completes the upload of `size` bytes at `key`; returns the object's ETag.
   * A Complete whose answer was lost (a dropped connection) is retried by the
   * client and then meets NoSuchUpload — or, on some servers, another error —
   * although the object is in place: an object at `key` of the very size
   * written, with no upload id recorded on it, is taken as done (the key is
   * a fresh random one, or a blob's).
   */
  async complete(key: string, uploadId: string, parts: CompletedPart[], size: number): Promise<string | undefined> {
    const sorted = [...parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    try {
      const out = await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: sorted } }),
      );
      return out.ETag;
    } catch (err) {
      const there = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => undefined);
      if (there !== undefined && there.ContentLength === size && there.Metadata?.[UPLOAD_ID_METADATA] === undefined) return there.ETag;
      throw s3Failure("complete the multipart upload", s3Url(this.bucket, key), err);
    }
  }

  /** Uploads in progress under `prefix`, or `[]` where the server cannot (or may not) list them. */
  async list(prefix: string): Promise<UploadInProgress[]> {
    if (!this.listable) return [];
    const out: UploadInProgress[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        );
      } catch (err) {
        // Not implemented (s3rver), or not allowed (a policy without s3:ListBucketMultipartUploads):
        // every sweep would fail on it, so the store does without.
        if (isNotImplemented(err) || statusOf(err) === 403) {
          this.listable = false;
          return out;
        }
        throw s3Failure("list the multipart uploads in progress", s3Url(this.bucket, prefix), err);
      }
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        out.push({ key: upload.Key, uploadId: upload.UploadId, initiatedMs: upload.Initiated?.getTime() ?? 0 });
      }
      if (page.IsTruncated !== true || (page.NextKeyMarker === undefined && page.NextUploadIdMarker === undefined)) return out;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /**
   * Aborts the uploads at `key` other than `kept`, as far as the server can
   * list them. For a CreateMultipartUpload the client had to retry: an
   * attempt whose answer was lost may have started an upload nobody knows
   * the id of. Best effort: what is left is the lifecycle rule's.
   */
  async abortOthers(key: string, kept: string): Promise<void> {
    const others = (await this.list(key).catch(() => [])).filter((upload) => upload.key === key && upload.uploadId !== kept);
    for (const upload of others) await this.abort(key, upload.uploadId).catch(() => undefined);
  }

  /** Aborts the upload; one already completed or aborted is not an error. */
  async abort(key: string, uploadId: string): Promise<void> {
    await request("abort the multipart upload", s3Url(this.bucket, key), async () => {
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
      } catch (err) {
        if (!isMissingUpload(err)) throw err;
      }
    });
  }
}
