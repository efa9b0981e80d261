/**
 * The blob store suite's cases for the `local` capability (blobs that are
 * files on this host). A store without it skips them: it simply has no
 * local files, and the store keeps cached copies instead.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { expect, it } from "vitest";
import { newId } from "../ids.js";
import { writerOfTemp } from "../backends/blob-store.js";
import { put, type BlobStoreSuiteContext } from "./blob-store-fixtures.js";
import { sha256, temporaryDirectory } from "./support.js";

export function localBlobFileCases(suite: BlobStoreSuiteContext): void {
  it("names each blob's file, on the store's device, the same from every handle", async ({ skip }) => {
    const { first: store, second } = await suite.open();
    const local = store.local;
    if (local === undefined) return skip("no local files");
    const { digest } = await put(store, newId(), Buffer.from("a local file"));
    const file = local.pathOf(digest);
    expect(await fs.readFile(file, "utf8")).toBe("a local file");
    expect((await fs.stat(file)).dev).toBe(await local.device());
    expect((await second()).local?.pathOf(digest)).toBe(file);
    // A path for bytes not stored: named without touching anything.
    await expect(fs.stat(local.pathOf(sha256("not stored")))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("gives a writer fresh temp names of its own, creating nothing", async ({ skip }) => {
    const { first: store } = await suite.open();
    const local = store.local;
    if (local === undefined) return skip("no local files");
    const w = newId();
    const names = new Set(Array.from({ length: 20 }, () => local.newTempName(w)));
    expect(names.size).toBe(20);
    for (const name of names) expect(writerOfTemp(name)).toBe(w);
    expect(await store.listTemp()).toEqual([]);
  });

  it("links in only the file that was hashed; secureBlob then gives the blob an inode of its own", async ({ skip }) => {
    const { first: store } = await suite.open();
    const local = store.local;
    if (local === undefined) return skip("no local files");
    const w = newId();
    const dir = temporaryDirectory();
    const source = path.join(dir, "linked.bin");
    await fs.writeFile(source, "linked in", { mode: 0o644 });
    const { dev, ino } = await fs.stat(source);
    // Another file saved over the path since it was hashed: nothing is linked, nothing touched.
    const other = path.join(dir, "other.bin");
    await fs.writeFile(other, "someone else's");
    expect(await local.linkFile(other, local.newTempName(w), { dev, ino })).toBe("changed");
    expect(await store.listTemp()).toEqual([]);
    const tempName = local.newTempName(w);
    const linked = await local.linkFile(source, tempName, { dev, ino });
    if (linked === "unsupported") return skip("the OS temp dir cannot be linked into this store");
    expect(linked).toBe("linked");
    expect(await store.listTemp()).toMatchObject([{ name: tempName, writer: w, size: 9 }]);
    const digest = sha256("linked in");
    expect(await store.commit(tempName, digest, 9)).toBe(true);
    const file = local.pathOf(digest);
    expect((await fs.stat(file)).ino).toBe(ino);

    // The blob is going (the hold finds it condemned): nothing is swapped in, nothing left behind.
    expect(await local.secureBlob(digest, w, async () => false)).toBe(false);
    expect((await fs.stat(file)).ino).toBe(ino);
    expect(await store.listTemp()).toEqual([]);
    let holds = 0;
    const hold = async (swap: () => Promise<void>) => {
      holds++;
      await swap();
      return true;
    };
    expect(await local.secureBlob(digest, w, hold)).toBe(true);
    expect(holds).toBe(1);
    const secured = await fs.stat(file);
    expect(secured.ino).not.toBe(ino);
    expect(secured.nlink).toBe(1);
    await fs.appendFile(source, " and more");
    expect(await fs.readFile(file, "utf8")).toBe("linked in");
    expect(await store.listTemp()).toEqual([]);
    // Its own inode already, or no blob at all: nothing to do.
    expect(await local.secureBlob(digest, w, hold)).toBe(false);
    expect(await local.secureBlob(sha256("absent"), w, hold)).toBe(false);
  });
}
