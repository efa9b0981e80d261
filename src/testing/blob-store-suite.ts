/**
 * The conformance suite every {@link BlobStore} must pass. A backend's test
 * file calls {@link describeBlobStore} with a factory that opens two handles
 * on one fresh store. The `local` capability is tested only where present
 * (local-blob-files.ts); concurrent cases are in blob-store-concurrency.ts.
 */
import { buffer as drain } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { newId } from "../ids.js";
import type { BlobStore } from "../backends/blob-store.js";
import { blobStoreConcurrencyCases } from "./blob-store-concurrency.js";
import { all, put, writeTemp, type BlobStoreSuiteContext } from "./blob-store-fixtures.js";
import { localBlobFileCases } from "./local-blob-files.js";
import { closedAfterEach, sha256, type HandlePair } from "./support.js";

/** How {@link describeBlobStore} reaches the backend under test. */
export interface BlobStoreFactory {
  /**
   * Opens a fresh, empty blob store (called once per test) and returns its
   * first handle, opened, and a way to open a second handle on the same
   * bytes, as another process or host would. The suite closes every handle
   * after the test (each distinct object once); remove anything else (a
   * temp directory) with vitest's `onTestFinished` or `afterEach`.
   */
  open(): Promise<HandlePair<BlobStore>>;
  /** How many rounds each concurrent case runs. @default 50 */
  rounds?: number;
}

/**
 * Declares the blob store conformance suite for one backend.
 *
 * @example
 * ```ts
 * import fs from "node:fs";
 * import os from "node:os";
 * import path from "node:path";
 * import { onTestFinished } from "vitest";
 * import { filesystemBlobStore, memoryBlobStore } from "attache-store";
 * import { describeBlobStore } from "attache-store/testing";
 *
 * describeBlobStore("filesystem", {
 *   async open() {
 *     const dir = fs.mkdtempSync(path.join(os.tmpdir(), "blobs-"));
 *     onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
 *     const opened = async () => {
 *       const store = filesystemBlobStore({ dir });
 *       await store.open();
 *       return store;
 *     };
 *     // Two objects on one directory: two processes sharing it.
 *     return { first: await opened(), second: opened };
 *   },
 * });
 *
 * describeBlobStore("memory", {
 *   async open() {
 *     // One instance is the shared bucket: the second handle is the same object.
 *     const store = memoryBlobStore();
 *     await store.open();
 *     return { first: store, second: async () => store };
 *   },
 * });
 * ```
 */
export function describeBlobStore(name: string, factory: BlobStoreFactory): void {
  describe(`BlobStore conformance: ${name}`, () => {
    const suite: BlobStoreSuiteContext = { open: closedAfterEach(() => factory.open()), rounds: factory.rounds ?? 50 };
    describe("bytes", () => byteCases(suite));
    describe("local files", () => localBlobFileCases(suite));
    describe("two handles at once", () => blobStoreConcurrencyCases(suite));
  });
}

function byteCases(suite: BlobStoreSuiteContext): void {
  it("writes through a temp object of its writer and commits it under the digest", async () => {
    const { first: store } = await suite.open();
    const bytes = Buffer.from("blob bytes");
    const { digest, wrote } = await put(store, newId(), bytes);
    expect(wrote).toBe(true);
    expect(await store.stat(digest)).toBe(bytes.length);
    expect(await drain(await store.openRead(digest))).toEqual(bytes);
    expect(await store.listTemp()).toEqual([]);
    expect((await all(store.list())).map(({ digest, size }) => ({ digest, size }))).toEqual([{ digest, size: bytes.length }]);
  });

  it("keeps writes in order when many are in flight", async () => {
    const { first: store } = await suite.open();
    const writer = await store.createWriter(newId());
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(70_000, i));
    for (const chunk of chunks) await writer.write(chunk);
    await writer.finish();
    const bytes = Buffer.concat(chunks);
    expect(await store.commit(writer.tempName, sha256(bytes), bytes.length)).toBe(true);
    expect((await drain(await store.openRead(sha256(bytes)))).equals(bytes)).toBe(true);
  });

  it("takes its own copy of each chunk before `write` returns", async () => {
    const { first: store } = await suite.open();
    const writer = await store.createWriter(newId());
    const chunk = Buffer.alloc(64 * 1024);
    const expected: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      chunk.fill(i);
      expected.push(Buffer.from(chunk));
      const written = writer.write(chunk);
      // The caller reuses its buffer at once: the bytes written are those it hashed before.
      chunk.fill(255);
      await written;
    }
    await writer.finish();
    const bytes = Buffer.concat(expected);
    await store.commit(writer.tempName, sha256(bytes), bytes.length);
    expect((await drain(await store.openRead(sha256(bytes)))).equals(bytes)).toBe(true);
  });

  it("discards the temp object when the blob is already there", async () => {
    const { first: store } = await suite.open();
    const bytes = Buffer.from("twice");
    expect((await put(store, newId(), bytes)).wrote).toBe(true);
    expect((await put(store, newId(), bytes)).wrote).toBe(false);
    expect(await store.listTemp()).toEqual([]);
    expect((await all(store.list())).map((o) => o.digest)).toEqual([sha256(bytes)]);
  });

  it("aborts a writer without leaving anything", async () => {
    const { first: store } = await suite.open();
    const writer = await store.createWriter(newId());
    await writer.write(Buffer.from("partial"));
    expect((await store.listTemp()).map((t) => t.name)).toEqual([writer.tempName]);
    await writer.abort();
    await writer.abort();
    expect(await store.listTemp()).toEqual([]);
  });

  it("reports missing blobs as null or ENOENT, and deletes idempotently", async () => {
    const { first: store } = await suite.open();
    const missing = sha256("nothing");
    expect(await store.stat(missing)).toBeNull();
    await expect(store.openRead(missing)).rejects.toMatchObject({ code: "ENOENT" });
    const { digest } = await put(store, newId(), Buffer.from("deleted"));
    await store.delete(digest);
    await store.delete(digest);
    expect(await store.stat(digest)).toBeNull();
    await expect(store.openRead(digest)).rejects.toMatchObject({ code: "ENOENT" });
    expect(await all(store.list())).toEqual([]);
  });

  it("deletes many blobs at once, missing ones included, and nothing else", async ({ skip }) => {
    const { first: store } = await suite.open();
    if (store.deleteMany === undefined) return skip("no deleteMany: the store deletes one blob at a time");
    const w = newId();
    const gone = [await put(store, w, Buffer.from("one")), await put(store, w, Buffer.from("two"))].map((p) => p.digest);
    const kept = (await put(store, w, Buffer.from("kept"))).digest;
    await store.deleteMany([...gone, sha256("never stored"), gone[0] as string]);
    await store.deleteMany([]);
    for (const digest of gone) expect(await store.stat(digest)).toBeNull();
    expect((await all(store.list())).map((o) => o.digest)).toEqual([kept]);
  });

  it("lists temp objects with their writer, size and age, and removes them", async () => {
    const { first: store } = await suite.open();
    const w = newId();
    const { tempName } = await writeTemp(store, w, Buffer.from("abc"));
    const [temp, ...more] = await store.listTemp();
    expect(more).toEqual([]);
    expect(temp).toMatchObject({ name: tempName, writer: w, size: 3 });
    expect(typeof temp?.location).toBe("string");
    expect(temp?.mtimeMs).toBeGreaterThan(0);
    await store.removeTemp(tempName);
    await store.removeTemp(tempName);
    expect(await store.listTemp()).toEqual([]);
  });

  it("shows every handle the temp objects of every writer, and lets any remove them", async () => {
    const { first: a, second } = await suite.open();
    const b = await second();
    const [wa, wb] = [newId(), newId()];
    const ta = await writeTemp(a, wa, Buffer.from("from a"));
    const tb = await writeTemp(b, wb, Buffer.from("from b!"));
    const seen = (temps: { name: string; writer: string | null; size: number }[]) =>
      temps.map(({ name, writer, size }) => ({ name, writer, size })).sort((x, y) => (x.name < y.name ? -1 : 1));
    const expected = seen([{ name: ta.tempName, writer: wa, size: 6 }, { name: tb.tempName, writer: wb, size: 7 }]);
    expect(seen(await a.listTemp())).toEqual(expected);
    expect(seen(await b.listTemp())).toEqual(expected);
    await b.removeTemp(ta.tempName);
    expect((await a.listTemp()).map((t) => t.name)).toEqual([tb.tempName]);
    await a.removeTemp(tb.tempName);
    expect(await b.listTemp()).toEqual([]);
  });

  it("removes a stray object by the location `list` gives", async () => {
    const { first: store } = await suite.open();
    const { digest } = await put(store, newId(), Buffer.from("stray"));
    const [object] = await all(store.list());
    expect(object).toMatchObject({ digest, size: 5 });
    await store.removeStray((object as { location: string }).location);
    expect(await store.stat(digest)).toBeNull();
    expect(await all(store.list())).toEqual([]);
  });

  it("shares committed bytes between handles", async () => {
    const { first: a, second } = await suite.open();
    const b = await second();
    const { digest } = await put(a, newId(), Buffer.from("seen by both"));
    expect(await b.stat(digest)).toBe(12);
    expect((await drain(await b.openRead(digest))).toString()).toBe("seen by both");
    expect((await put(b, newId(), Buffer.from("seen by both"))).wrote).toBe(false);
    await b.delete(digest);
    expect(await a.stat(digest)).toBeNull();
  });
}
