/**
 * The S3 blob store: bytes as objects in a bucket, shared by every host that
 * opens the store (AWS S3, MinIO, R2 and other S3-compatible servers).
 *
 *   <bucket>/<prefix>
 *     blobs/sha256/ab/cd/abcd…     one object per digest, written only by a server-side copy
 *     tmp/<writer>.<random>.tmp     a temp object: an empty marker while its writer works (with
 *                                   the id of its multipart upload, once there is one), then the
 *                                   staged bytes until `commit` copies them to blobs/
 *
 * Staging a stream: the store hashes the bytes as the writer sends them
 * under the temp key (one PutObject below `partSize`, a multipart upload
 * above: see writer.ts). The digest is known only at the end, so `commit`
 * copies the finished temp object to the blob key server-side (copy.ts) and
 * deletes the temp object; if the blob is there already with the same size
 * (HeadObject), the temp object is just deleted.
 *
 * The sweep finds temp objects with `listTemp` (ListObjectsV2 of tmp/, plus
 * uploads in progress whose marker is gone where the server lists them).
 * A temp object's mtime is its LastModified, which for a multipart upload
 * in progress is the marker's: when the writer started, however long the
 * upload runs. Such an upload is protected by its writer's heartbeat (the
 * sweep leaves live writers' temp objects alone) and ended by its `abort`;
 * a dead writer's is aborted by the sweep's `removeTemp`, which finds it by
 * the id the marker records or by ListMultipartUploads (multipart-uploads.ts).
 * Give the bucket a lifecycle rule that aborts incomplete multipart uploads
 * after a day or so, for what neither can find, and no versioning (or
 * expire noncurrent versions).
 *
 * What it assumes of the server, as AWS S3 guarantees: a PUT, a copy and a
 * completed multipart upload become visible whole or not at all (a reader
 * sees the old object or the new one), and reads, HEADs and lists see
 * every write that has returned (strong read-after-write consistency). It
 * relies on no conditional write (IfNoneMatch): two hosts committing one
 * digest at once both copy the same bytes, and either copy may win.
 *
 * Retries are the client's: the SDK's strategy (standard by default:
 * exponential backoff with jitter, a longer base for throttling, a token
 * bucket that stops retry storms) already retries every request on 5xx,
 * SlowDown, 429, timeouts and dropped connections, re-sending the part
 * buffers it was given. The store adds no loop of its own, which would
 * multiply attempts (3 × 3) under throttling and defeat the token bucket;
 * tune `maxAttempts` and `retryMode` on the client. Requests are safe to
 * retry: PUTs, copies and deletes are idempotent, and a multipart upload
 * whose Complete (or Create) answer was lost is recognised (see
 * multipart-uploads.ts). What still fails is an ENOENT-coded error for a
 * missing object and otherwise an AttacheError IO_ERROR, `retryable` for
 * throttling, 5xx and network failures (failures.ts).
 *
 * There is no `local` capability: the store keeps verified copies in its
 * local cache when a caller needs a path.
 */
import { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type _Object,
} from "@aws-sdk/client-s3";
import { tempNameFor, writerOfTemp, type BlobStore, type BlobWriter, type StoredObject, type TempObject } from "../blob-store.js";
import { AttacheError } from "../../errors.js";
import { copyObject } from "./copy.js";
import { errorNameOf, isMissingObject, isRetryableS3Failure, missingObject, request, s3Failure } from "./failures.js";
import { S3Keys, s3Url } from "./keys.js";
import { MultipartUploads, UPLOAD_ID_METADATA } from "./multipart-uploads.js";
import { resolveS3Options, S3_LIMITS, type S3BlobStoreOptions } from "./options.js";
import { S3BlobWriter } from "./writer.js";

/**
 * A blob store on an S3 bucket. Several hosts (and store handles) on the
 * same bucket and prefix share its blobs; give each its own `cacheDir`.
 *
 * @example
 * ```ts
 * import { S3Client } from "@aws-sdk/client-s3";
 * import { s3BlobStore } from "attache-store/s3";
 * const blobStore = s3BlobStore({ client: new S3Client({ region: "eu-west-1", maxAttempts: 5 }), bucket: "agent-files", prefix: "attache/" });
 * ```
 */
export function s3BlobStore(options: S3BlobStoreOptions): BlobStore {
  const resolved = resolveS3Options(options);
  const { client, bucket } = resolved;
  const keys = new S3Keys(resolved.prefix);
  const uploads = new MultipartUploads(client, bucket);
  /** ETags of the temp objects this handle's writers finished, until committed or removed. */
  const finished = new Map<string, string>();
  const target = { ...resolved, uploads, finished };
  const where = (key: string) => s3Url(bucket, key);

  async function sizeOf(key: string): Promise<number | null> {
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return out.ContentLength ?? 0;
    } catch (err) {
      if (isMissingObject(err)) return null;
      throw s3Failure("look up", where(key), err);
    }
  }

  /** Deletes `key`; S3 answers a delete of a missing key with success. */
  async function deleteKey(key: string): Promise<void> {
    await request("delete", where(key), () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
  }

  /** Every object under `prefix`, page by page. */
  async function* objectsUnder(prefix: string): AsyncGenerator<_Object> {
    let token: string | undefined;
    do {
      const page = await request("list", where(prefix), () =>
        client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })),
      );
      yield* page.Contents ?? [];
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Aborts the multipart uploads of the temp object at `key`: the one it records, and any the server lists. */
  async function abortUploadsOf(key: string): Promise<void> {
    const ids = new Set<string>();
    try {
      const marker = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      const recorded = marker.Metadata?.[UPLOAD_ID_METADATA];
      if (recorded !== undefined) ids.add(recorded);
    } catch (err) {
      if (!isMissingObject(err)) throw s3Failure("look up", where(key), err);
    }
    for (const upload of await uploads.list(key)) if (upload.key === key) ids.add(upload.uploadId);
    for (const uploadId of ids) {
      try {
        await uploads.abort(key, uploadId);
      } catch (err) {
        // Passing: keep the temp object (and its record) for the next sweep. Otherwise (no
        // permission, no AbortMultipartUpload on this server): the lifecycle rule ends it.
        if (isRetryableS3Failure(err)) throw err;
      }
    }
  }

  return {
    kind: "s3",

    async open() {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
      } catch (err) {
        if (errorNameOf(err) === "NotFound" || errorNameOf(err) === "NoSuchBucket") {
          throw new AttacheError("IO_ERROR", `The S3 bucket ${bucket} does not exist: create it, or check its name and the client's region and endpoint.`, {
            cause: err,
            retryable: false,
          });
        }
        throw s3Failure("open the bucket", `s3://${bucket}`, err);
      }
    },

    async createWriter(writer): Promise<BlobWriter> {
      const tempName = tempNameFor(writer, randomBytes(12).toString("hex"));
      const key = keys.temp(tempName);
      // The marker: the temp object is listed (and protected by the writer's heartbeat) from now on.
      await request("create the temp object", where(key), () => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(0) })));
      return new S3BlobWriter(tempName, key, target);
    },

    async commit(tempName, digest, size) {
      const from = keys.temp(tempName);
      const to = keys.blob(digest);
      const etag = finished.get(tempName);
      finished.delete(tempName);
      // Either way the blob is in place: a temp object that cannot be deleted now is a leftover the sweep removes.
      if ((await sizeOf(to)) === size) {
        await deleteKey(from).catch(() => undefined);
        return false;
      }
      await copyObject(target, { from, to, size, etag });
      await deleteKey(from).catch(() => undefined);
      return true;
    },

    stat: (digest) => sizeOf(keys.blob(digest)),

    async openRead(digest, range) {
      const key = keys.blob(digest);
      if (range !== undefined && range.end <= range.start) {
        // HTTP cannot ask for no bytes: check the blob is there, and read nothing.
        if ((await sizeOf(key)) === null) throw missingObject(where(key));
        return Readable.from([]);
      }
      try {
        const out = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: key, Range: range === undefined ? undefined : `bytes=${range.start}-${range.end - 1}` }),
        );
        const body = out.Body;
        if (body instanceof Readable) return body;
        if (body === undefined) return Readable.from([]);
        return Readable.fromWeb(body.transformToWebStream() as Parameters<typeof Readable.fromWeb>[0]);
      } catch (err) {
        // A range past the end (416) reads nothing, as a file read there does.
        if (range !== undefined && errorNameOf(err) === "InvalidRange") return Readable.from([]);
        throw s3Failure("read", where(key), err);
      }
    },

    delete: (digest) => deleteKey(keys.blob(digest)),

    async deleteMany(digests) {
      const all = [...new Set(digests)].map((digest) => keys.blob(digest));
      const failures: { key: string; code: string; message: string }[] = [];
      let requestFailure: unknown;
      for (let i = 0; i < all.length; i += S3_LIMITS.maxDeleteKeys) {
        const batch = all.slice(i, i + S3_LIMITS.maxDeleteKeys);
        try {
          const out = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
          for (const error of out.Errors ?? []) failures.push({ key: error.Key ?? "?", code: error.Code ?? "Error", message: error.Message ?? "" });
        } catch (err) {
          // The other batches are still worth deleting; this one is reported below.
          requestFailure ??= s3Failure(`delete ${batch.length} blobs`, where(keys.blobRoot), err);
        }
      }
      if (requestFailure !== undefined) throw requestFailure;
      if (failures.length > 0) {
        const first = failures.slice(0, 3).map((f) => `${f.key}: ${f.code} ${f.message}`.trim());
        const retryable = failures.every((f) => isRetryableS3Failure({ name: f.code }));
        throw new AttacheError(
          "IO_ERROR",
          `Could not delete ${failures.length} of ${all.length} blobs in s3://${bucket}: ${first.join("; ")}${failures.length > 3 ? "; …" : ""}.`,
          { retryable, cause: Object.assign(new Error(failures[0]?.message ?? ""), { name: failures[0]?.code ?? "Error" }) },
        );
      }
    },

    async *list(): AsyncIterable<StoredObject> {
      for await (const object of objectsUnder(keys.blobRoot)) {
        if (object.Key === undefined) continue;
        yield { digest: keys.digestOf(object.Key), location: object.Key, size: object.Size ?? 0 };
      }
    },

    async listTemp(): Promise<TempObject[]> {
      const out = new Map<string, TempObject>();
      for await (const object of objectsUnder(keys.tempRoot)) {
        const name = object.Key === undefined ? null : keys.tempNameOf(object.Key);
        if (name === null || object.Key === undefined) continue;
        out.set(object.Key, { name, writer: writerOfTemp(name), location: object.Key, size: object.Size ?? 0, mtimeMs: object.LastModified?.getTime() ?? 0 });
      }
      // An upload whose marker is gone (an abort that failed after deleting it) is a temp object too.
      for (const upload of await uploads.list(keys.tempRoot)) {
        const name = keys.tempNameOf(upload.key);
        if (name === null || out.has(upload.key)) continue;
        out.set(upload.key, { name, writer: writerOfTemp(name), location: upload.key, size: 0, mtimeMs: upload.initiatedMs });
      }
      return [...out.values()];
    },

    async removeTemp(tempName) {
      if (!keys.isTempName(tempName)) return;
      finished.delete(tempName);
      const key = keys.temp(tempName);
      await abortUploadsOf(key);
      await deleteKey(key);
    },

    async removeStray(location) {
      if (!keys.isUnderBlobs(location)) return;
      await deleteKey(location);
    },

    // The client is the caller's: it stays open for them to destroy.
    async close() {},
  };
}
