/**
 * Server-side copy of a finished temp object to its blob key: the bytes
 * never come back to this host. Up to `multipartCopyThreshold` (at most
 * 5 GiB, CopyObject's limit) it is one CopyObject; above, a multipart copy
 * (UploadPartCopy of `partSize` ranges, `queueSize` at once — parts of one
 * size but the last, as R2 requires), aborted if any part fails.
 *
 * A multipart copy cut short by a crash, or one started by an attempt whose
 * answer was lost, is left to the bucket's lifecycle rule: other hosts may
 * be copying to the same blob key, so uploads there are never aborted but
 * by the one that started them.
 *
 * `etag`, when known, pins the source (CopySourceIfMatch): only the version
 * the writer finished is copied, never bytes that replaced it since.
 */
import { CopyObjectCommand, CreateMultipartUploadCommand, UploadPartCopyCommand, type CompletedPart, type S3Client } from "@aws-sdk/client-s3";
import { AttacheError } from "../../errors.js";
import { isMissingObject, missingObject, s3Failure } from "./failures.js";
import { copySourceOf, s3Url } from "./keys.js";
import type { MultipartUploads } from "./multipart-uploads.js";
import { S3_LIMITS } from "./options.js";

export interface CopyTarget {
  readonly client: S3Client;
  readonly bucket: string;
  readonly uploads: MultipartUploads;
  readonly partSize: number;
  readonly queueSize: number;
  readonly multipartCopyThreshold: number;
}

export interface Copy {
  from: string;
  to: string;
  size: number;
  etag?: string | undefined;
}

export async function copyObject(target: CopyTarget, copy: Copy): Promise<void> {
  const { client, bucket } = target;
  try {
    if (copy.size > target.multipartCopyThreshold) return await copyInParts(target, copy);
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: copy.to, CopySource: copySourceOf(bucket, copy.from), CopySourceIfMatch: copy.etag }));
  } catch (err) {
    // The source is what can be missing (the destination is being written): say so in the ENOENT error.
    if (isMissingObject(err)) throw missingObject(s3Url(bucket, copy.from), err);
    if (err instanceof AttacheError) throw err;
    throw s3Failure(`copy ${s3Url(bucket, copy.from)} to`, s3Url(bucket, copy.to), err);
  }
}

async function copyInParts(target: CopyTarget, copy: Copy): Promise<void> {
  const { client, bucket, uploads } = target;
  const where = s3Url(bucket, copy.to);
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: copy.to }));
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new AttacheError("IO_ERROR", `S3 started a multipart copy to ${where} without giving its id.`);
  try {
    const partSize = Math.max(target.partSize, Math.ceil(copy.size / S3_LIMITS.maxParts));
    const count = Math.ceil(copy.size / partSize);
    const parts: CompletedPart[] = [];
    let next = 1;
    let failed = false;
    const copyParts = async () => {
      while (!failed && next <= count) {
        const number = next++;
        const start = (number - 1) * partSize;
        const end = Math.min(copy.size, start + partSize) - 1;
        try {
          const out = await client.send(
            new UploadPartCopyCommand({
              Bucket: bucket,
              Key: copy.to,
              UploadId: uploadId,
              PartNumber: number,
              CopySource: copySourceOf(bucket, copy.from),
              CopySourceRange: `bytes=${start}-${end}`,
              CopySourceIfMatch: copy.etag,
            }),
          );
          const etag = out.CopyPartResult?.ETag;
          if (etag === undefined) throw new AttacheError("IO_ERROR", `S3 copied part ${number} to ${where} without giving its ETag.`);
          parts.push({ PartNumber: number, ETag: etag });
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    const settled = await Promise.allSettled(Array.from({ length: Math.min(target.queueSize, count) }, copyParts));
    const failure = settled.find((result): result is PromiseRejectedResult => result.status === "rejected");
    if (failure !== undefined) throw failure.reason;
    await uploads.complete(copy.to, uploadId, parts, copy.size);
  } catch (err) {
    await uploads.abort(copy.to, uploadId).catch(() => undefined);
    throw err;
  }
}
