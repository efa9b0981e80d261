/** What the S3 tests share: fresh stores on one s3rver bucket, instrumented clients, and small waits and reads. */
import path from "node:path";
import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import { expect } from "vitest";
import { memoryManifest, openStore, type BlobStore, type Store, type StoreOptions } from "../../src/index.js";
import { newId } from "../../src/ids.js";
import { s3BlobStore, type S3BlobStoreOptions } from "../../src/backends/s3/index.js";
import { onCleanup, sha256, tempDir } from "../support/fixtures.js";
import type { S3TestServer } from "../support/s3.js";
import { injectFaults, recordCommands, type FaultInjector, type Recorder } from "./s3-clients.js";

export const MiB = 1024 * 1024;
/** S3's smallest part: the tests' part size, so that a few MiB make a multipart upload. */
export const PART = 5 * MiB;

export interface Instrumented {
  client: S3Client;
  recorder: Recorder;
  faults: FaultInjector;
}

/** Stores on the shared bucket of `server` (started by the test file), each test under a prefix of its own. */
export class S3Fixtures {
  private stores = 0;

  constructor(private readonly server: () => S3TestServer) {}

  /** A prefix no other test uses: a fresh, empty store in the shared bucket. */
  freshPrefix(): string {
    return `store-${++this.stores}/`;
  }

  /** Stores on one bucket prefix and one memory manifest: `open` is this host, `openSecond` another (its own cacheDir). */
  fleet(client: S3Client, prefix: string, options: Partial<S3BlobStoreOptions> = {}) {
    const manifest = memoryManifest();
    const dir = tempDir();
    const blobStore = () => s3BlobStore({ client, bucket: this.server().bucket, prefix, ...options });
    return {
      localFiles: false,
      open: (more: StoreOptions = {}) => openStore({ dir, sweepInterval: false, blobStore: blobStore(), manifest, ...more }),
      openSecond(more: StoreOptions = {}) {
        const elsewhere = tempDir("attache-other-host-");
        return openStore({ dir: elsewhere, cacheDir: path.join(elsewhere, "cache"), sweepInterval: false, blobStore: blobStore(), manifest, ...more });
      },
    };
  }

  /** A client whose commands are recorded, with a fault injector (no faults until a plan is set). */
  instrumented(config: Partial<S3ClientConfig> = {}, on = this.server()): Instrumented {
    const client = on.client(config);
    return { client, faults: injectFaults(client), recorder: recordCommands(client) };
  }

  /** An opened S3 blob store with {@link PART}-sized parts. */
  async openedBlobStore(client: S3Client, prefix: string, options: Partial<S3BlobStoreOptions> = {}): Promise<BlobStore> {
    const store = s3BlobStore({ client, bucket: this.server().bucket, prefix, partSize: PART, ...options });
    await store.open();
    return store;
  }

  /** Two hosts' stores on a fresh prefix (closed after the test), and a blob store handle on it to look at the bucket with. */
  async openedStores(client: S3Client, options: Partial<S3BlobStoreOptions> = {}): Promise<{ here: Store; there: Store; blobs: BlobStore }> {
    const prefix = this.freshPrefix();
    const harness = this.fleet(client, prefix, { partSize: PART, ...options });
    const here = await harness.open();
    const there = await harness.openSecond();
    onCleanup(async () => {
      await there.close();
      await here.close();
    });
    return { here, there, blobs: await this.openedBlobStore(this.server().client(), prefix) };
  }

  /** No multipart upload left: none the recorder saw start without end, none on the server. */
  expectNoUploadLeft(recorder: Recorder): void {
    expect(recorder.unfinishedUploads()).toEqual([]);
    expect(this.server().pendingUploads()).toEqual([]);
  }
}

/** Writes `bytes` to a new temp object in `chunk`-sized writes, awaiting each, and finishes it. */
export async function write(store: BlobStore, bytes: Buffer, chunk = MiB): Promise<{ tempName: string; digest: string }> {
  const writer = await store.createWriter(newId());
  for (let at = 0; at < bytes.length; at += chunk) await writer.write(bytes.subarray(at, at + chunk));
  await writer.finish();
  return { tempName: writer.tempName, digest: sha256(bytes) };
}

export async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Whether `promise` is still pending after `ms`. */
export async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, ms));
  return !settled;
}

export function deleteMany(store: BlobStore, digests: string[]): Promise<void> {
  if (store.deleteMany === undefined) throw new Error("the S3 blob store deletes in batches");
  return store.deleteMany(digests);
}

export async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
