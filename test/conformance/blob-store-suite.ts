/** What every BlobStore must do. Backend test files call `describeBlobStore` with a factory. */
import { buffer as drain } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import type { BlobStore } from "../../src/index.js";
import { sha256 } from "../support/fixtures.js";

async function put(store: BlobStore, bytes: Buffer): Promise<{ digest: string; wrote: boolean }> {
  const writer = await store.createWriter();
  await writer.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
  await writer.write(bytes.subarray(Math.floor(bytes.length / 2)));
  await writer.finish();
  const digest = sha256(bytes);
  return { digest, wrote: await store.commit(writer.tempName, digest, bytes.length) };
}

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export function describeBlobStore(name: string, make: () => Promise<BlobStore>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    it("writes through a temp object and commits under the digest", async () => {
      const store = await make();
      const bytes = Buffer.from("blob bytes");
      const { digest, wrote } = await put(store, bytes);
      expect(wrote).toBe(true);
      expect(await store.stat(digest)).toBe(bytes.length);
      expect(await drain(await store.openRead(digest))).toEqual(bytes);
      expect(await store.listTemp()).toEqual([]);
      const local = await store.localPath(digest);
      expect(local).toBe(store.pathOf(digest));
      const fs = await import("node:fs/promises");
      expect(await fs.readFile(local)).toEqual(bytes);
    });

    it("keeps writes in order when many are in flight", async () => {
      const store = await make();
      const writer = await store.createWriter();
      const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(70_000, i));
      for (const chunk of chunks) await writer.write(chunk);
      await writer.finish();
      const bytes = Buffer.concat(chunks);
      await store.commit(writer.tempName, sha256(bytes), bytes.length);
      expect((await drain(await store.openRead(sha256(bytes)))).equals(bytes)).toBe(true);
    });

    it("discards the temp object when the blob is already there", async () => {
      const store = await make();
      const bytes = Buffer.from("twice");
      expect((await put(store, bytes)).wrote).toBe(true);
      expect((await put(store, bytes)).wrote).toBe(false);
      expect(await store.listTemp()).toEqual([]);
      expect((await all(store.list())).map((o) => o.digest)).toEqual([sha256(bytes)]);
    });

    it("aborts a writer without leaving anything", async () => {
      const store = await make();
      const writer = await store.createWriter();
      await writer.write(Buffer.from("partial"));
      expect((await store.listTemp()).map((t) => t.name)).toEqual([writer.tempName]);
      await writer.abort();
      await writer.abort();
      expect(await store.listTemp()).toEqual([]);
    });

    it("reports missing blobs as null or ENOENT, and deletes idempotently", async () => {
      const store = await make();
      const missing = sha256("nothing");
      expect(await store.stat(missing)).toBeNull();
      await expect(store.openRead(missing)).rejects.toMatchObject({ code: "ENOENT" });
      const { digest } = await put(store, Buffer.from("deleted"));
      await store.delete(digest);
      await store.delete(digest);
      expect(await store.stat(digest)).toBeNull();
      expect(await all(store.list())).toEqual([]);
    });

    it("lists temp objects with their age and removes them", async () => {
      const store = await make();
      const writer = await store.createWriter();
      await writer.write(Buffer.from("abc"));
      await writer.finish();
      const [temp] = await store.listTemp();
      expect(temp).toMatchObject({ name: writer.tempName, size: 3 });
      expect(temp?.mtimeMs).toBeGreaterThan(0);
      await store.removeTemp(writer.tempName);
      await store.removeTemp(writer.tempName);
      expect(await store.listTemp()).toEqual([]);
      await writer.abort();
    });
  });
}
