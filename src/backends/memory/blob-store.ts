/**
 * An in-memory blob store, for tests and short-lived stores. Bytes live in a
 * Map, so it has no local files (no `local` capability): like a remote store,
 * it relies on the store's local cache when a caller needs a path. Several
 * store handles in one process may share one instance, as processes share a
 * bucket.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { tempNameFor, writerOfTemp, type BlobStore, type BlobWriter, type StoredObject, type TempObject } from "../blob-store.js";

export interface MemoryBlobStoreOptions {
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

  function enoent(digest: string): Error {
    return Object.assign(new Error(`blob ${digest} is not in the memory store`), { code: "ENOENT" });
  }

  return {
    kind: "memory",
    async open() {},

    async createWriter(writer): Promise<BlobWriter> {
      const tempName = tempNameFor(writer, randomBytes(12).toString("hex"));
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

    async stat(digest) {
      return blobs.get(digest)?.length ?? null;
    },

    async openRead(digest, range) {
      const bytes = blobs.get(digest);
      if (!bytes) throw enoent(digest);
      return Readable.from([range === undefined ? bytes : bytes.subarray(range.start, Math.max(range.start, range.end))]);
    },

    async delete(digest) {
      blobs.delete(digest);
    },

    async deleteMany(digests) {
      for (const digest of digests) blobs.delete(digest);
    },

    async *list(): AsyncIterable<StoredObject> {
      for (const [digest, bytes] of blobs) yield { digest, location: digest, size: bytes.length };
    },

    async listTemp(): Promise<TempObject[]> {
      return [...temps].map(([name, temp]) => ({ name, writer: writerOfTemp(name), location: name, size: temp.size, mtimeMs: temp.mtimeMs }));
    },

    async removeTemp(tempName) {
      temps.delete(tempName);
    },

    async removeStray(location) {
      blobs.delete(location);
    },

    async close() {},
  };
}
