/**
 * An S3 protocol server on loopback for tests: s3rver 3.7.1, run as a child
 * process, and clients configured for it.
 *
 * s3rver is what can be installed here; production targets are AWS S3, MinIO,
 * R2 and the like. Its quirks (measured with the current AWS SDK) are worked
 * around here, never in src/backends/s3:
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
 *   - IfNoneMatch is ignored and a PUT in progress is visible half-written:
 *     the product relies on neither, so nothing is done about them;
 *   - DeleteObject removes the key's parent directories once empty, racing
 *     with a PUT into the same "folder": the PUT's file stream then fails
 *     with ENOENT on an unhandled 'error' event and the whole server exits
 *     (seen with several processes writing and deleting temp objects under
 *     one tmp/). `keepEmptyDirectories: true` (off by default) has deletes
 *     leave the directories, for the multi-process tests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { CreateBucketCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";

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

/** s3rver's dummy account. */
const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

/**
 * The child: s3rver on 127.0.0.1, port 0, printing its port. It exits when
 * the parent closes its stdin (the parent died or stopped it).
 */
const SERVER_SCRIPT = String.raw`
const fs = require("node:fs");
const path = require("node:path");
const S3rver = require(process.env.S3RVER_MODULE);
const S3Error = require(path.join(path.dirname(process.env.S3RVER_MODULE), "models", "error.js"));
const dir = process.env.S3RVER_DIR;
const uploadsOf = (bucket) => path.join(dir, bucket, "._S3rver_uploads");

async function multipartAsS3Does(ctx, next) {
  const [, bucket = "", ...rest] = ctx.path.split("/");
  const key = rest.map(decodeURIComponent).join("/");
  const query = ctx.query;
  if (ctx.method === "DELETE" && key !== "" && "uploadId" in query) {
    const upload = path.join(uploadsOf(bucket), String(query.uploadId));
    if (!fs.existsSync(upload)) throw new S3Error("NoSuchUpload", "The specified upload does not exist.", { UploadId: query.uploadId });
    fs.rmSync(upload, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  if (ctx.method === "GET" && key === "" && "uploads" in query) {
    const prefix = String(query.prefix ?? "");
    const uploads = [];
    const root = uploadsOf(bucket);
    for (const uploadId of fs.existsSync(root) ? fs.readdirSync(root) : []) {
      let uploadKey;
      try { uploadKey = fs.readFileSync(path.join(root, uploadId, "key"), "utf8"); } catch { continue; }
      if (!uploadKey.startsWith(prefix)) continue;
      const initiated = fs.statSync(path.join(root, uploadId)).mtime.toISOString();
      uploads.push({ Key: uploadKey, UploadId: uploadId, Initiated: initiated, StorageClass: "STANDARD" });
    }
    uploads.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0));
    ctx.body = { ListMultipartUploadsResult: { "@": { xmlns: "http://s3.amazonaws.com/doc/2006-03-01/" }, Bucket: bucket, Prefix: prefix, MaxUploads: 1000, IsTruncated: false, Upload: uploads } };
    return;
  }
  if (ctx.method === "PUT" && "uploadId" in query && "partNumber" in query && ctx.headers["x-amz-copy-source"] !== undefined) {
    const source = decodeURIComponent(String(ctx.headers["x-amz-copy-source"])).replace(/^\//, "");
    const [sourceBucket, ...sourceKey] = source.split("/");
    const range = /^bytes=(\d+)-(\d+)$/.exec(String(ctx.headers["x-amz-copy-source-range"] ?? ""));
    const object = await ctx.store.getObject(sourceBucket, sourceKey.join("/"), range ? { start: Number(range[1]), end: Number(range[2]) } : undefined);
    if (!object) throw new S3Error("NoSuchKey", "The specified key does not exist.", { Key: sourceKey.join("/") });
    const { md5 } = await ctx.store.putPart(bucket, String(query.uploadId), String(query.partNumber), object.content);
    ctx.body = { CopyPartResult: { LastModified: new Date().toISOString(), ETag: JSON.stringify(md5) } };
    return;
  }
  return next();
}

if (process.env.S3RVER_KEEP_DIRS === "1") {
  // s3rver's deleteObject without its "clean up empty directories" loop.
  const FilesystemStore = require(path.join(path.dirname(process.env.S3RVER_MODULE), "stores", "filesystem.js"));
  FilesystemStore.prototype.deleteObject = async function deleteObject(bucket, key) {
    await Promise.all(["object", "object.md5", "metadata.json"].map((kind) =>
      fs.promises.unlink(this.getResourcePath(bucket, key, kind)).catch((err) => { if (err.code !== "ENOENT") throw err; })));
  };
}
const server = new S3rver({ address: "127.0.0.1", port: 0, directory: dir, silent: true, configureBuckets: [{ name: process.env.S3RVER_BUCKET }] });
// Before the router (the last middleware), after the one that encodes bodies as XML.
if (process.env.S3RVER_EMULATE === "1") server.middleware.splice(server.middleware.length - 1, 0, multipartAsS3Does);
server.run().then((address) => process.stdout.write(JSON.stringify({ port: address.port }) + "\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** Starts s3rver on a fresh directory; stop it with {@link S3TestServer.stop}. */
export async function startS3Server(options: S3TestServerOptions = {}): Promise<S3TestServer> {
  const bucket = options.bucket ?? "attache-test";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "attache-s3rver-"));
  const child = spawn(process.execPath, ["--openssl-legacy-provider", "-e", SERVER_SCRIPT], {
    env: {
      ...process.env,
      S3RVER_MODULE: createRequire(import.meta.url).resolve("s3rver"),
      S3RVER_DIR: dir,
      S3RVER_BUCKET: bucket,
      S3RVER_EMULATE: options.emulateMultipart === false ? "0" : "1",
      S3RVER_KEEP_DIRS: options.keepEmptyDirectories === true ? "1" : "0",
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await portOf(child);
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  return {
    endpoint,
    bucket,
    pendingUploads(name = bucket) {
      const root = path.join(dir, name, "._S3rver_uploads");
      if (!fs.existsSync(root)) return [];
      return fs.readdirSync(root).map((uploadId) => ({ uploadId, key: fs.readFileSync(path.join(root, uploadId, "key"), "utf8") }));
    },
    client(config = {}) {
      const client = s3ClientFor(endpoint, config);
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients.splice(0)) client.destroy();
      const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", () => resolve())));
      child.stdin?.end();
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A client for an s3rver at `endpoint`: path-style, dummy credentials, checksums only where required. */
export function s3ClientFor(endpoint: string, config: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...config,
  });
}

/** Creates `bucket` on the server (the one named at start exists already). */
export async function createBucket(server: S3TestServer, bucket: string): Promise<void> {
  const client = server.client();
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}

function portOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = "";
    const fail = (why: string) => reject(new Error(`s3rver did not start: ${why}`));
    child.once("error", (err) => fail(err.message));
    child.once("exit", (code) => fail(`exited with ${code}`));
    child.stdout?.on("data", (data: Buffer) => {
      output += data.toString();
      const line = output.split("\n")[0];
      if (output.includes("\n") && line !== undefined) {
        try {
          resolve((JSON.parse(line) as { port: number }).port);
        } catch {
          fail(`unexpected output ${line}`);
        }
      }
    });
  });
}
