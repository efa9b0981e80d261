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
  expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  for (const sub of ["", "blobs", "blobs/sha256", "tmp"]) {
    expect((await fs.stat(path.join(dir, sub))).mode & 0o777).toBe(0o700);
  }
});

it("filesystem: adopts a file on the same filesystem by linking it (the caller removes the source after its commit)", async () => {
  const dir = tempDir();
  const store = filesystemBlobStore({ dir });
  await store.open();
  const source = path.join(tempDir(), "adopt.bin");
  await fs.writeFile(source, "adopted", { mode: 0o644 });
  const { ino } = await fs.stat(source);
  expect(await store.localDevice()).toBe((await fs.stat(source)).dev);
  expect(await store.adoptFile(source, sha256("adopted"), 7)).toBe(true);
  const target = store.pathOf(sha256("adopted"));
  expect((await fs.stat(target)).ino).toBe(ino);
  expect((await fs.stat(target)).mode & 0o777).toBe(0o600);
  expect((await fs.stat(source)).ino).toBe(ino);
});
