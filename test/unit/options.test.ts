import { describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";

describe("openStore options", () => {
  it.each([
    [{ dir: "" }],
    [{ defaultTtl: "forever" }],
    [{ defaultTtl: -5 }],
    [{ sweepInterval: "often" }],
    [{ gracePeriod: Number.NaN }],
    [{ maxSize: -1 }],
    [{ clock: 5 }],
  ])("refuses %j with INVALID_ARGUMENT", async (options) => {
    await expect(openStore(options as never)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe("backend options with injected backends", () => {
  it("refuses busyTimeout with an injected manifest, and durability when neither backend is the default", async () => {
    const { memoryBlobStore, memoryManifest } = await import("../../src/index.js");
    const dir = (await import("node:os")).tmpdir();
    await expect(openStore({ dir, sweepInterval: false, manifest: memoryManifest(), busyTimeout: "1s" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringContaining("sqliteManifest({ busyTimeoutMs })"),
    });
    await expect(
      openStore({ dir, sweepInterval: false, manifest: memoryManifest(), blobStore: memoryBlobStore(), durability: "full" }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("filesystemBlobStore({ fsync })") });
    // Still reaching one default backend (the SQLite manifest's synchronous setting): accepted.
    const fresh = await (await import("node:fs/promises")).mkdtemp((await import("node:path")).join(dir, "attache-options-"));
    const store = await openStore({ dir: fresh, sweepInterval: false, blobStore: memoryBlobStore(), durability: "full" });
    await store.close();
    await (await import("node:fs/promises")).rm(fresh, { recursive: true, force: true });
  });
});
