import fs from "node:fs/promises";
import path from "node:path";
import { expect, it } from "vitest";
import { filesystemBlobStore, memoryBlobStore } from "../../src/index.js";
import { describeBlobStore } from "../conformance/blob-store-suite.js";
import { onCleanup, sha256, tempDir } from "../support/fixtures.js";

describeBlobStore("filesystem", async () => {
  const store = filesystemBlobStore({ dir: tempDir() });
  await store.open();
  return store;
});

describeBlobStore("memory", async () => {
  const store = memoryBlobStore();
  await store.open();
  onCleanup(() => store.close());
  return store;
});

it("filesystem: files blobs under blobs/sha256/ab/cd/<hex>, private to the owner", async () => {
  const dir = tempDir();
  const store = filesystemBlobStore({ dir });
  await store.open();
  const writer = await store.createWriter();
  await writer.write(Buffer.from("layout"));
  await writer.finish();
  const digest = sha256("layout");
  await store.commit(writer.tempName, digest, 6);
  const file = path.join(dir, "blobs", "sha256", digest.slice(0, 2), digest.slice(2, 4), digest);
  expect(store.pathOf(digest)).toBe(file);
  expect((await fs.stat(file)).mode & 0o777).toBe(0o400);
  for (const sub of ["", "blobs", "blobs/sha256", "tmp"]) {
    expect((await fs.stat(path.join(dir, sub))).mode & 0o777).toBe(0o700);
  }
});

it("filesystem: links a file in only if it is the file that was hashed; secureBlob gives the blob its own inode", async () => {
  const dir = tempDir();
  const store = filesystemBlobStore({ dir });
  await store.open();
  const source = path.join(tempDir(), "linked.bin");
  await fs.writeFile(source, "linked in", { mode: 0o644 });
  const { ino, dev } = await fs.stat(source);
  expect(await store.localDevice()).toBe(dev);
  // Another file saved over the path since it was hashed: nothing is linked, nothing touched.
  const other = path.join(path.dirname(source), "other.bin");
  await fs.writeFile(other, "someone else's");
  expect(await store.linkFile!(other, store.newTempName!(), { dev, ino })).toBe("changed");
  expect(await store.listTemp()).toEqual([]);
  const tempName = store.newTempName!();
  expect(await store.linkFile!(source, tempName, { dev, ino })).toBe("linked");
  expect(await store.commit(tempName, sha256("linked in"), 9)).toBe(true);
  const target = store.pathOf(sha256("linked in"));
  expect((await fs.stat(target)).ino).toBe(ino);
  // The source could not be unlinked (say): secureBlob copies the blob to an inode of its own.
  const keptFence = async (swap: () => Promise<void>) => (await swap(), true);
  // Deleted meanwhile (the manifest's fence says so): the copy is dropped, the file is not put back.
  expect(await store.secureBlob!(sha256("linked in"), async () => false)).toBe(false);
  expect(await store.listTemp()).toEqual([]);
  expect((await fs.stat(target)).ino).toBe(ino);
  expect(await store.secureBlob!(sha256("linked in"), keptFence)).toBe(true);
  expect((await fs.stat(target)).ino).not.toBe(ino);
  expect((await fs.stat(target)).nlink).toBe(1);
  expect((await fs.stat(target)).mode & 0o777).toBe(0o400);
  await fs.appendFile(source, " and more");
  expect(await fs.readFile(target, "utf8")).toBe("linked in");
  expect(await store.secureBlob!(sha256("linked in"), keptFence)).toBe(false);
});
