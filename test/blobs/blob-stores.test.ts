import fs from "node:fs/promises";
import path from "node:path";
import { buffer as drain } from "node:stream/consumers";
import { expect, it } from "vitest";
import { filesystemBlobStore, memoryBlobStore, type BlobStore, type LocalBlobFiles } from "../../src/index.js";
import { newId } from "../../src/ids.js";
import { describeBlobStore } from "../../src/testing/index.js";
import { sha256, tempDir } from "../support/fixtures.js";

/** An opened filesystem blob store on `dir`. */
async function openedFilesystem(dir: string): Promise<BlobStore> {
  const store = filesystemBlobStore({ dir });
  await store.open();
  return store;
}

describeBlobStore("filesystem", {
  async open() {
    const dir = tempDir();
    return { first: await openedFilesystem(dir), second: () => openedFilesystem(dir) };
  },
});

describeBlobStore("memory", {
  async open() {
    // One instance is the shared bucket: a second handle is the same object.
    const store = memoryBlobStore();
    await store.open();
    return { first: store, second: async () => store };
  },
});

it("filesystem: files blobs under blobs/sha256/ab/cd/<hex>, private to the owner", async () => {
  const dir = tempDir();
  const store = filesystemBlobStore({ dir });
  await store.open();
  const writer = await store.createWriter(newId());
  await writer.write(Buffer.from("layout"));
  await writer.finish();
  const digest = sha256("layout");
  await store.commit(writer.tempName, digest, 6);
  const file = path.join(dir, "blobs", "sha256", digest.slice(0, 2), digest.slice(2, 4), digest);
  expect(store.local?.pathOf(digest)).toBe(file);
  expect((await fs.stat(file)).mode & 0o777).toBe(0o400);
  for (const sub of ["", "blobs", "blobs/sha256", "tmp"]) {
    expect((await fs.stat(path.join(dir, sub))).mode & 0o777).toBe(0o700);
  }
});

/** The filesystem store's local capability (present by construction). */
function localOf(store: BlobStore): LocalBlobFiles {
  if (store.local === undefined) throw new Error("the filesystem blob store has local files");
  return store.local;
}

it("filesystem: links a file in only if it is the file that was hashed; secureBlob gives the blob its own inode", async () => {
  const dir = tempDir();
  const store = await openedFilesystem(dir);
  const local = localOf(store);
  const writer = newId();
  const source = path.join(tempDir(), "linked.bin");
  await fs.writeFile(source, "linked in", { mode: 0o644 });
  const { ino, dev } = await fs.stat(source);
  expect(await local.device()).toBe(dev);
  // Another file saved over the path since it was hashed: nothing is linked, nothing touched.
  const other = path.join(path.dirname(source), "other.bin");
  await fs.writeFile(other, "someone else's");
  expect(await local.linkFile(other, local.newTempName(writer), { dev, ino })).toBe("changed");
  expect(await store.listTemp()).toEqual([]);
  const tempName = local.newTempName(writer);
  expect(tempName.startsWith(`${writer}.`)).toBe(true);
  expect(await local.linkFile(source, tempName, { dev, ino })).toBe("linked");
  expect(await store.listTemp()).toMatchObject([{ name: tempName, writer, location: path.join(dir, "tmp", tempName) }]);
  expect(await store.commit(tempName, sha256("linked in"), 9)).toBe(true);
  const target = local.pathOf(sha256("linked in"));
  expect((await fs.stat(target)).ino).toBe(ino);
  // The source could not be unlinked (say): secureBlob copies the blob to an inode of its own.
  const keptFence = async (swap: () => Promise<void>) => (await swap(), true);
  // Deleted meanwhile (the manifest's fence says so): the copy is dropped, the file is not put back.
  expect(await local.secureBlob(sha256("linked in"), writer, async () => false)).toBe(false);
  expect(await store.listTemp()).toEqual([]);
  expect((await fs.stat(target)).ino).toBe(ino);
  expect(await local.secureBlob(sha256("linked in"), writer, keptFence)).toBe(true);
  expect((await fs.stat(target)).ino).not.toBe(ino);
  expect((await fs.stat(target)).nlink).toBe(1);
  expect((await fs.stat(target)).mode & 0o777).toBe(0o400);
  await fs.appendFile(source, " and more");
  expect(await fs.readFile(target, "utf8")).toBe("linked in");
  expect(await local.secureBlob(sha256("linked in"), writer, keptFence)).toBe(false);
});

it("filesystem: names temp files <writer>.<random>.tmp under tmp/, and lists a stranger's with no writer", async () => {
  const dir = tempDir();
  const store = await openedFilesystem(dir);
  const writer = newId();
  const temp = await store.createWriter(writer);
  expect(temp.tempName).toMatch(new RegExp(`^${writer}\\.[0-9a-f]+\\.tmp$`));
  await temp.write(Buffer.from("mine"));
  await temp.finish();
  await fs.writeFile(path.join(dir, "tmp", "legacy-upload.tmp"), "older version's");
  const listed = (await store.listTemp()).sort((a, b) => (a.name < b.name ? -1 : 1));
  expect(listed.map(({ name, writer, size }) => ({ name, writer, size }))).toEqual(
    [
      { name: temp.tempName, writer, size: 4 },
      { name: "legacy-upload.tmp", writer: null, size: 15 },
    ].sort((a, b) => (a.name < b.name ? -1 : 1)),
  );
  // A name that is not a bare file name under tmp/ is never removed.
  await store.removeTemp("../blobs");
  expect((await fs.stat(path.join(dir, "blobs"))).isDirectory()).toBe(true);
  await store.removeTemp("legacy-upload.tmp");
  expect((await store.listTemp()).map((t) => t.name)).toEqual([temp.tempName]);
});

/**
 * `BlobWriter` promises that "writes may be issued without awaiting each
 * one; `finish` waits for all". Not yet in the exported suite: the
 * filesystem store fails it (see below); move it into
 * src/testing/blob-store-suite.ts once fixed.
 */
async function writeWithoutAwaiting(store: BlobStore): Promise<void> {
  const writer = await store.createWriter(newId());
  const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(70_000, i));
  const writes = chunks.map((chunk) => writer.write(chunk));
  await Promise.all(writes);
  await writer.finish();
  const bytes = Buffer.concat(chunks);
  expect(await store.commit(writer.tempName, sha256(bytes), bytes.length)).toBe(true);
  expect((await drain(await store.openRead(sha256(bytes)))).equals(bytes)).toBe(true);
}

it("memory: takes writes issued without awaiting each one", async () => {
  await writeWithoutAwaiting(memoryBlobStore());
});

// Found by the exported suite's author: two drains once ran at once and shifted `undefined` off the queue.
it("filesystem: takes writes issued without awaiting each one", async () => {
  await writeWithoutAwaiting(await openedFilesystem(tempDir()));
});
