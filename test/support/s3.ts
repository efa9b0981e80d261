/**
 * An S3 protocol server on loopback for tests: s3rver 3.7.1, run as a child
 * process, and clients configured for it.
 *
 * s3rver is what can be installed here; production targets are AWS S3, MinIO,
 * R2 and the like. Its quirks (measured with the current AWS SDK) are worked
 * around here and in s3-server.mjs (the child process and its middleware,
 * shared with the benchmarks), never in src/backends/s3:
 *
 *   - paged ListObjectsV2 signs its continuation token with DES, which
 *     Node 20's OpenSSL 3 refuses: the server runs in a child process with
 *     `--openssl-legacy-provider` (in-process, every second page fails);
 *   - streamed request bodies keep their aws-chunked framing unless both
 *     checksum options are "WHEN_REQUIRED": {@link s3ClientFor} sets them;
 *   - AbortMultipartUpload answers 405, ListMultipartUploads 501 and
 *     UploadPartCopy 501. With `emulateMultipart` (the default) a small
 *     middleware in front of s3rver's router answers the three as S3 does,
 *     from s3rver's own upload directory, so the product's real-S3 paths run
 *     and {@link S3TestServer.pendingUploads} can check that no multipart
 *     upload is left behind. `emulateMultipart: false` is plain s3rver, for
 *     the tests that show the product copes with a server lacking them;
 *   - IfNoneMatch is ignored: the product does not rely on it;
 *   - objects are written in place and a PUT is answered before its bytes
 *     are in the file, so a reader could see an object half-written (a host
 *     reading a blob while another copied the same digest onto it got a
 *     short body). S3 makes a PUT, a copy and a completed multipart upload
 *     visible whole or not at all: the child writes every object (and its
 *     .md5 and metadata files) beside its final name and renames it;
 *   - DeleteObject removes the key's parent directories once empty, racing
 *     with a PUT into the same "folder": the PUT's file stream then fails
 *     with ENOENT on an unhandled 'error' event and the whole server exits
 *     (seen with several processes writing and deleting temp objects under
 *     one tmp/). `keepEmptyDirectories: true` (off by default) has deletes
 *     leave the directories, for the multi-process tests.
 */
import { CreateBucketCommand, type S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { s3ClientFor as s3rverClientFor, startS3rver } from "./s3-server.mjs";

export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** The bucket created at start. */
  readonly bucket: string;
  /** Multipart uploads neither completed nor aborted (read from s3rver's directory). */
  pendingUploads(bucket?: string): { uploadId: string; key: string }[];
  /** A client for this server; `config` is merged over the test defaults. */
  client(config?: Partial<S3ClientConfig>): S3Client;
  stop(): Promise<void>;
}

export interface S3TestServerOptions {
  /** Answer AbortMultipartUpload, ListMultipartUploads and UploadPartCopy as S3 does. @default true */
  emulateMultipart?: boolean;
  /** @default "attache-test" */
  bucket?: string;
  /**
   * Have DeleteObject leave empty directories in place, so that it cannot
   * race a PUT into the same "folder" and crash s3rver (see the file's comment).
   * @default false
   */
  keepEmptyDirectories?: boolean;
}

/** Starts s3rver on a fresh directory; stop it with {@link S3TestServer.stop}. */
export async function startS3Server(options: S3TestServerOptions = {}): Promise<S3TestServer> {
  const server = await startS3rver({
    bucket: options.bucket ?? "attache-test",
    emulateMultipart: options.emulateMultipart !== false,
    keepEmptyDirectories: options.keepEmptyDirectories === true,
  });
  const clients: S3Client[] = [];
  return {
    endpoint: server.endpoint,
    bucket: server.bucket,
    pendingUploads: (name) => server.pendingUploads(name),
    client(config = {}) {
      const client = s3ClientFor(server.endpoint, config);
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients.splice(0)) client.destroy();
      await server.stop();
    },
  };
}

/** A client for an s3rver at `endpoint`: path-style, dummy credentials, checksums only where required. */
export function s3ClientFor(endpoint: string, config: Partial<S3ClientConfig> = {}): S3Client {
  return s3rverClientFor(endpoint, config);
}

/** Creates `bucket` on the server (the one named at start exists already). */
export async function createBucket(server: S3TestServer, bucket: string): Promise<void> {
  const client = server.client();
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}
