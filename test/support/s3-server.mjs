// s3rver 3.7.1 as a child process on loopback, with its quirks worked
// around, shared by the tests (test/support/s3.ts, which describes the
// quirks) and the benchmarks (bench/scenarios/fleet.js): plain JavaScript so
// that both can import it without a build step.
//
//   <tmp>/attache-s3rver-XXXXXX/
//     <bucket>/                  s3rver's objects (one directory per key, files not fsynced)
//     <bucket>/._S3rver_uploads/ its multipart uploads: <uploadId>/key, parts
//
// The child runs with --openssl-legacy-provider (s3rver signs continuation
// tokens with DES) and exits when this process closes its stdin (it stopped
// the server, or died).
import { spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";

/** s3rver's dummy account. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

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

const FilesystemStore = require(path.join(path.dirname(process.env.S3RVER_MODULE), "stores", "filesystem.js"));

// s3rver writes an object's file in place, and answers a PUT before its bytes
// reach the file: a reader sees an object half-written (a second host copying
// a digest onto a blob another host reads gave a short body). S3 makes a PUT,
// a copy and a completed multipart upload visible whole or not at all, and
// readable once answered: write beside the object, then rename. The partial
// file is never listed (its name does not end in the object suffix).
{
  const crypto = require("node:crypto");
  const { pipeline } = require("node:stream/promises");
  async function placeWhole(file, write) {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const partial = file + "." + crypto.randomBytes(6).toString("hex") + ".partial";
    try {
      await write(partial);
      await fs.promises.rename(partial, file);
    } catch (err) {
      await fs.promises.rm(partial, { force: true });
      throw err;
    }
  }
  FilesystemStore.prototype.putObject = async function putObject(object) {
    const hash = crypto.createHash("md5");
    let size = 0;
    const content = Buffer.isBuffer(object.content) ? [object.content] : object.content;
    await placeWhole(this.getResourcePath(object.bucket, object.key, "object"), (partial) =>
      pipeline(content, async function* (chunks) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      }, fs.createWriteStream(partial)));
    const md5 = hash.digest("hex");
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size, md5 };
  };
  const { ALLOWED_METADATA } = require(path.join(path.dirname(process.env.S3RVER_MODULE), "models", "object.js"));
  // Its two small files too: a reader must not see an empty .md5 (an ETag of "") while one is rewritten.
  FilesystemStore.prototype.putMetadata = async function putMetadata(bucket, key, metadata, md5) {
    const kept = Object.entries(metadata).filter(([name]) => ALLOWED_METADATA.includes(name) || name.startsWith("x-amz-meta-"));
    if (md5) await placeWhole(this.getResourcePath(bucket, key, "object.md5"), (partial) => fs.promises.writeFile(partial, md5));
    await placeWhole(this.getResourcePath(bucket, key, "metadata.json"), (partial) =>
      fs.promises.writeFile(partial, JSON.stringify(Object.fromEntries(kept), null, 2)));
  };
  FilesystemStore.prototype.copyObject = async function copyObject(srcBucket, srcKey, destBucket, destKey, replacementMetadata) {
    const source = this.getResourcePath(srcBucket, srcKey, "object");
    const dest = this.getResourcePath(destBucket, destKey, "object");
    if (source !== dest) await placeWhole(dest, (partial) => fs.promises.copyFile(source, partial));
    if (replacementMetadata) await this.putMetadata(destBucket, destKey, replacementMetadata);
    else if (source !== dest) {
      await Promise.all(["metadata.json", "object.md5"].map((kind) =>
        placeWhole(this.getResourcePath(destBucket, destKey, kind), (partial) => fs.promises.copyFile(this.getResourcePath(srcBucket, srcKey, kind), partial))));
    }
    return this.getMetadata(destBucket, destKey);
  };
}

if (process.env.S3RVER_KEEP_DIRS === "1") {
  // s3rver's deleteObject without its "clean up empty directories" loop.
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

/** Starts s3rver on a fresh directory with `bucket` created; stop it with `stop()`. */
export async function startS3rver({ bucket, emulateMultipart = true, keepEmptyDirectories = false }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "attache-s3rver-"));
  const child = spawn(process.execPath, ["--openssl-legacy-provider", "-e", SERVER_SCRIPT], {
    env: {
      ...process.env,
      S3RVER_MODULE: createRequire(import.meta.url).resolve("s3rver"),
      S3RVER_DIR: dir,
      S3RVER_BUCKET: bucket,
      S3RVER_EMULATE: emulateMultipart ? "1" : "0",
      S3RVER_KEEP_DIRS: keepEmptyDirectories ? "1" : "0",
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let port;
  try {
    port = await portOf(child);
  } catch (err) {
    child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    directory: dir,
    pendingUploads(name = bucket) {
      const root = path.join(dir, name, "._S3rver_uploads");
      if (!fs.existsSync(root)) return [];
      const uploads = [];
      for (const uploadId of fs.readdirSync(root)) {
        // s3rver may still be serving a killed client's Create (the directory comes before its key file)
        // or Abort (the directory goes whole): that upload is not pending yet, or no longer.
        let key;
        try {
          key = fs.readFileSync(path.join(root, uploadId, "key"), "utf8");
        } catch (err) {
          if (err.code === "ENOENT") continue;
          throw err;
        }
        uploads.push({ uploadId, key });
      }
      return uploads;
    },
    async stop() {
      const exited = new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
      child.stdin?.end();
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A client for an s3rver at `endpoint`: path-style, dummy credentials, checksums only where required. */
export function s3ClientFor(endpoint, config = {}) {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    // A copy: the SDK marks the object it is given with where the credentials came from.
    credentials: { ...S3RVER_CREDENTIALS },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...config,
  });
}

function portOf(child) {
  return new Promise((resolve, reject) => {
    let output = "";
    const fail = (why) => reject(new Error(`s3rver did not start: ${why}`));
    child.once("error", (err) => fail(err.message));
    child.once("exit", (code) => fail(`exited with ${code}`));
    child.stdout?.on("data", (data) => {
      output += data.toString();
      const line = output.split("\n")[0];
      if (output.includes("\n") && line !== undefined) {
        try {
          resolve(JSON.parse(line).port);
        } catch {
          fail(`unexpected output ${line}`);
        }
      }
    });
  });
}
