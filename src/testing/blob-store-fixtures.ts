/** What the blob store suite's cases share: how they reach the store, and small helpers to put bytes in it. */
import type { BlobStore } from "../backends/blob-store.js";
import { sha256, type HandlePair } from "./support.js";

export interface BlobStoreSuiteContext {
  /** A fresh store: its first handle, and a way to a second one (both closed after the test). */
  open(): Promise<HandlePair<BlobStore>>;
  /** How many rounds each concurrent case runs. */
  readonly rounds: number;
}

/** Writes `bytes` to a new temp object of `writer`, in two chunks, and finishes it. */
export async function writeTemp(store: BlobStore, writer: string, bytes: Buffer): Promise<{ tempName: string; digest: string }> {
  const temp = await store.createWriter(writer);
  await temp.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
  await temp.write(bytes.subarray(Math.floor(bytes.length / 2)));
  await temp.finish();
  return { tempName: temp.tempName, digest: sha256(bytes) };
}

/** Writes and commits `bytes`; returns their digest and whether the commit put them in place. */
export async function put(store: BlobStore, writer: string, bytes: Buffer): Promise<{ digest: string; wrote: boolean }> {
  const { tempName, digest } = await writeTemp(store, writer, bytes);
  return { digest, wrote: await store.commit(tempName, digest, bytes.length) };
}

/** Deletes blobs as the store's fence does: in one batch where the store can, one by one otherwise. */
export async function deleteAll(store: BlobStore, digests: readonly string[]): Promise<void> {
  if (store.deleteMany !== undefined) await store.deleteMany(digests);
  else for (const digest of digests) await store.delete(digest);
}

export async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
