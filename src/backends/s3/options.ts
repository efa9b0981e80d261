/** The S3 blob store's options, and the limits S3 sets on them, resolved once. */
import type { S3Client } from "@aws-sdk/client-s3";
import { invalidArgument } from "../../errors.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** S3's limits on multipart uploads and copies (AWS, and what MinIO and R2 follow). */
export const S3_LIMITS = {
  /** Smallest part but the last. */
  minPartSize: 5 * MiB,
  /** Largest part, and largest object a single CopyObject copies. */
  maxPartSize: 5 * GiB,
  /** Most parts in one multipart upload. */
  maxParts: 10_000,
  /** Most keys in one DeleteObjects request. */
  maxDeleteKeys: 1000,
} as const;

export interface S3BlobStoreOptions {
  /**
   * The client to send every request with; the store never destroys it. Its
   * configuration is yours: region, endpoint (and `forcePathStyle` for MinIO
   * and the like), credentials, and — since the store relies on the SDK's
   * retry strategy rather than wrapping its own around it — `maxAttempts`
   * and `retryMode` (S3 answers bursts with 503 SlowDown: `maxAttempts: 5`
   * or `retryMode: "adaptive"` rides them out better than the default 3),
   * and request timeouts on its `requestHandler` (none by default).
   */
  client: S3Client;
  /** The bucket; it must exist. Use a bucket without versioning, or expire noncurrent versions: temp objects and deleted blobs would otherwise stay as old versions. */
  bucket: string;
  /**
   * Prepended to every key: blobs are `<prefix>blobs/sha256/ab/cd/<hex>`,
   * temp objects `<prefix>tmp/<writer>.<random>.tmp`. Usually ends with `/`;
   * two stores with the same bucket and prefix are one store.
   * @default ""
   */
  prefix?: string;
  /**
   * Bytes per part of a multipart upload (and per part of a multipart copy):
   * a staged stream is sent in parts of this size as it is read, and a blob
   * smaller than this goes in one PutObject. Between S3's limits, 5 MiB and
   * 5 GiB; the largest blob is 10,000 parts (78 GiB at the default).
   * @default 8 MiB
   */
  partSize?: number;
  /**
   * Parts of one writer in flight at once. A writer holds at most
   * `(queueSize + 1) × partSize` bytes: the parts in flight and the one being
   * filled; a write waits while `queueSize` parts are in flight.
   * @default 4
   */
  queueSize?: number;
  /**
   * Blobs larger than this are put in place by a multipart copy
   * (UploadPartCopy, `partSize` a part, `queueSize` at once) rather than one
   * CopyObject. At most 5 GiB, the largest object CopyObject takes.
   * @default 5 GiB
   */
  multipartCopyThreshold?: number;
}

export interface ResolvedS3Options {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly partSize: number;
  readonly queueSize: number;
  readonly multipartCopyThreshold: number;
}

export function resolveS3Options(options: S3BlobStoreOptions): ResolvedS3Options {
  if (options === null || typeof options !== "object" || options.client === undefined || options.client === null) {
    throw invalidArgument("s3BlobStore needs a `client` (an S3Client from @aws-sdk/client-s3).");
  }
  if (typeof options.bucket !== "string" || options.bucket === "") {
    throw invalidArgument("s3BlobStore needs a `bucket` name.");
  }
  const prefix = options.prefix ?? "";
  // Keys with empty, "." or ".." segments may be normalised into other keys on the way (see keys.ts).
  if (typeof prefix !== "string" || prefix.split("/").some((segment, i, all) => (segment === "" && i < all.length - 1) || segment === "." || segment === "..")) {
    throw invalidArgument(`The S3 prefix must be a string with no empty, "." or ".." segment (like "attache/"); got ${JSON.stringify(prefix)}.`);
  }
  const partSize = integerIn("partSize", options.partSize ?? 8 * MiB, S3_LIMITS.minPartSize, S3_LIMITS.maxPartSize);
  return {
    client: options.client,
    bucket: options.bucket,
    prefix,
    partSize,
    queueSize: integerIn("queueSize", options.queueSize ?? 4, 1, 1000),
    multipartCopyThreshold: integerIn("multipartCopyThreshold", options.multipartCopyThreshold ?? S3_LIMITS.maxPartSize, 0, S3_LIMITS.maxPartSize),
  };
}

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidArgument(`The S3 blob store's ${name} must be a whole number from ${min} to ${max}; got ${value}.`);
  }
  return value;
}
