// Types for s3-server.mjs (s3rver as a child process on loopback, shared by the tests and the benchmarks).
import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";

export interface S3rverOptions {
  /** The bucket created at start. */
  bucket: string;
  /** Answer AbortMultipartUpload, ListMultipartUploads and UploadPartCopy as S3 does. @default true */
  emulateMultipart?: boolean;
  /** Have DeleteObject leave empty directories in place (see test/support/s3.ts). @default false */
  keepEmptyDirectories?: boolean;
}

export interface S3rverProcess {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly bucket: string;
  /** Where s3rver keeps its objects. */
  readonly directory: string;
  /** Multipart uploads neither completed nor aborted (read from s3rver's directory). */
  pendingUploads(bucket?: string): { uploadId: string; key: string }[];
  /** Ends the child and removes its directory. */
  stop(): Promise<void>;
}

/** s3rver's dummy account (give a client a copy: the SDK writes into the object it is given). */
export const S3RVER_CREDENTIALS: Readonly<{ accessKeyId: string; secretAccessKey: string }>;

/** Starts s3rver on a fresh directory with `bucket` created. */
export function startS3rver(options: S3rverOptions): Promise<S3rverProcess>;

/** A client for an s3rver at `endpoint`: path-style, dummy credentials, checksums only where required. */
export function s3ClientFor(endpoint: string, config?: Partial<S3ClientConfig>): S3Client;
