/**
 * An in-memory blob store, for tests and short-lived stores. Bytes live in a
 * Map; `localPath` writes a blob to a private temp directory the first time a
 * caller needs a path (tools and subprocesses want files), and `delete` and
 * `close` remove those files again.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import type { BlobStore, BlobWriter, StoredObject, TempObject } from "../blob-store.js";

export interface MemoryBlobStoreOptions {
  /** Where `localPath` materialises blobs. @default a new directory under os.tmpdir() */
  spillDir?: string;
  /** Epoch ms for temp objects' mtimes. @default Date.now */
  clock?: () => number;
}

interface TempBuffer {
  chunks: Buffer[];
  mtimeMs: number;
  size: number;
}

export function memoryBlobStore(options: MemoryBlobStoreOptions = {}): BlobStore {
  const clock = options.clock ?? Date.now;
  const blobs = new Map<string, Buffer>();
  const temps = new Map<string, TempBuffer>();
  const spilled = new Map<string, string>();
  let spillDir = options.spillDir ?? "";

  function enoent(digest: string): Error {
    return Object.assign(new Error(`blob ${digest} is not in the memory store`), { code: "ENOENT" });
  }

  return {
    kind: "memory",
    async open() {
      if (spillDir === "") spillDir = await fs.mkdtemp(path.join(os.tmpdir(), "attache-memory-"));
    },

    async createWriter(): Promise<BlobWriter> {
      const tempName = `${randomBytes(12).toString("hex")}.tmp`;
      const temp: TempBuffer = { chunks: [], mtimeMs: clock(), size: 0 };
      temps.set(tempName, temp);
      return {
        tempName,
        async write(chunk) {
          if (!temps.has(tempName)) throw Object.assign(new Error("temp object was removed"), { code: "ENOENT" });
          temp.chunks.push(Buffer.from(chunk));
          temp.size += chunk.byteLength;
          temp.mtimeMs = clock();
        },
        async finish() {
          if (!temps.has(tempName)) throw Object.assign(new Error("temp object was removed"), { code: "ENOENT" });
        },
        async abort() {
          temps.delete(tempName);
        },
      };
    },

    async commit(tempName, digest, size) {
      const temp = temps.get(tempName);
      temps.delete(tempName);
      if (blobs.get(digest)?.length === size) return false;
      if (!temp) throw Object.assign(new Error(`temp object ${tempName} is gone`), { code: "ENOENT" });
      blobs.set(digest, Buffer.concat(temp.chunks));
      return true;
    },

    async localDevice() {
      return null;
    },

    async stat(digest) {
      return blobs.get(digest)?.length ?? null;
    },

    async openRead(digest) {
      const bytes = blobs.get(digest);
      if (!bytes) throw enoent(digest);
      return Readable.from([bytes]);
    },

    pathOf: (digest) => path.join(spillDir, digest),

    async localPath(digest) {
      const bytes = blobs.get(digest);
      if (!bytes) throw enoent(digest);
      const known = spilled.get(digest);
      if (known) return known;
      const file = path.join(spillDir, digest);
      // Read-only like the filesystem store's blobs: a tool cannot change them by accident.
      await fs.writeFile(file, bytes, { mode: 0o400 });
      spilled.set(digest, file);
      return file;
    },

    async delete(digest) {
      blobs.delete(digest);
      const file = spilled.get(digest);
      spilled.delete(digest);
      if (file) await fs.rm(file, { force: true });
    },

    async *list(): AsyncIterable<StoredObject> {
      for (const [digest, bytes] of blobs) yield { digest, location: digest, size: bytes.length };
    },

    async listTemp(): Promise<TempObject[]> {
      return [...temps].map(([name, temp]) => ({ name, location: name, size: temp.size, mtimeMs: temp.mtimeMs }));
    },

    async removeTemp(tempName) {
      temps.delete(tempName);
    },

    async removeStray(location) {
      blobs.delete(location);
    },

    async close() {
      if (spillDir !== "" && options.spillDir === undefined) {
        await fs.rm(spillDir, { recursive: true, force: true });
        spillDir = "";
      }
      spilled.clear();
    },
  };
}
