/** The durability option decides which writes are fsynced. */
import "../helpers/file-blobs.js";
import type { FileHandle } from "node:fs/promises";
import { expect, it } from "vitest";
import { nodeFileSystem, openStore, type FileSystem } from "../../src/index.js";
import { embeddedHarness } from "../support/fixtures.js";

function countingSyncs(): { fileSystem: FileSystem; syncs: () => number } {
  let syncs = 0;
  const fileSystem: FileSystem = {
    ...nodeFileSystem,
    open: (async (...args: Parameters<FileSystem["open"]>) => {
      const handle: FileHandle = await nodeFileSystem.open(...args);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        syncs++;
        return sync();
      };
      return handle;
    }) as FileSystem["open"],
  };
  return { fileSystem, syncs: () => syncs };
}

it.each([
  ["normal", 3],
  ["full", 3],
  ["none", 0],
] as const)("durability %s fsyncs %d blob files for 3 stages", async (durability, expected) => {
  const { fileSystem, syncs } = countingSyncs();
  const store = await embeddedHarness().open({ durability, fileSystem });
  for (const text of ["one", "two", "three"]) await store.stage(Buffer.from(text));
  expect(syncs()).toBe(expected);
  expect((await store.verify()).corrupt).toEqual([]);
});

it("refuses an unknown durability", async () => {
  await expect(openStore({ durability: "maybe" as never })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
});
