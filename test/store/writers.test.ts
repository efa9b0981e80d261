/**
 * The seams that no longer assume one machine, seen through the public API:
 * temp objects protected by their writer's heartbeat (not their mtime), and
 * the condemn → delete → forget fence with a stage that meets a condemned blob.
 */
import "../helpers/file-blobs.js";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { memoryBlobStore, memoryManifest, openStore, type BlobStore } from "../../src/index.js";
import { startWorker } from "../helpers/processes.js";
import { onCleanup, sha256, tempDir } from "../support/fixtures.js";

const WORKER = path.join(import.meta.dirname, "..", "workers", "slow-stage-worker.mjs");

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let reached!: () => void;
  const wasReached = new Promise<void>((resolve) => (reached = resolve));
  return { open, opened, reached, wasReached };
}

/** The same memory blob store, with deletions held at a gate: one host's slow deleter. */
function gatedDeletes(base: BlobStore, held: ReturnType<typeof gate>): BlobStore {
  return {
    ...base,
    delete: async (digest) => {
      held.reached();
      await held.opened;
      await base.delete(digest);
    },
    deleteMany: async (digests) => {
      held.reached();
      await held.opened;
      await base.deleteMany?.(digests);
    },
  };
}

describe("writers and the fence", () => {
  it("a stage that meets a blob being deleted by another handle waits, then writes the bytes again", async () => {
    const blobs = memoryBlobStore();
    const manifest = memoryManifest();
    const held = gate();
    const deleter = await openStore({ dir: tempDir(), blobStore: gatedDeletes(blobs, held), manifest, sweepInterval: false });
    const stager = await openStore({ dir: tempDir(), blobStore: blobs, manifest, sweepInterval: false });
    onCleanup(async () => void (await Promise.all([deleter.close(), stager.close()])));
    const bytes = Buffer.from("bytes deleted and staged again at the same moment");

    const first = await deleter.stage(bytes, { scope: "a" });
    const releasing = deleter.release(first.ref);
    await held.wasReached; // condemned, its bytes about to go
    let staged = false;
    const staging = stager.stage(bytes, { scope: "b" }).then((result) => ((staged = true), result));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(staged, "the stage waits while the condemnation lasts").toBe(false);
    held.open();
    expect(await releasing).toBe(true);
    const again = await staging;
    expect(again.deduplicated, "the bytes were gone: they were written again").toBe(false);
    expect((await stager.read(again.ref)).equals(bytes)).toBe(true);
    expect(await blobs.stat(sha256(bytes))).toBe(bytes.length);
    expect(await manifest.blobs.get(sha256(bytes))).toMatchObject({ refs: 1, condemnedBy: null });
  });

  it("a condemnation left by a writer that is gone is revived by a stage and finished by a sweep", async () => {
    const blobs = memoryBlobStore();
    const manifest = memoryManifest();
    const store = await openStore({ dir: tempDir(), blobStore: blobs, manifest, sweepInterval: false });
    onCleanup(() => store.close());
    const kept = Buffer.from("condemned by a writer that died, then staged again");
    const dropped = Buffer.from("condemned by a writer that died, and needed by no one");
    for (const bytes of [kept, dropped]) {
      const staged = await store.stage(bytes);
      await manifest.attachments.release(staged.id, undefined, Date.now());
    }
    // A writer that never registered (or whose row a sweep already dropped) condemned both and died.
    const dead = "01deaddeaddeaddeaddeaddead";
    expect(await manifest.blobs.condemn([sha256(kept), sha256(dropped)], Date.now(), dead)).toHaveLength(2);

    const again = await store.stage(kept, { scope: "again" });
    expect((await store.read(again.ref)).equals(kept)).toBe(true);
    expect(await manifest.blobs.get(sha256(kept))).toMatchObject({ condemnedBy: null, refs: 1 });

    const report = await store.sweep();
    expect(report).toMatchObject({ blobsDeleted: 1, bytesFreed: dropped.length });
    expect(await blobs.stat(sha256(dropped))).toBeNull();
    expect(await manifest.blobs.get(sha256(dropped))).toBeUndefined();
  });

  it("another process's temp object outlives the grace period while its writer beats, and is reclaimed once it is killed", async () => {
    const dir = tempDir();
    const gracePeriod = "2s";
    const worker = startWorker(WORKER, { dir, gracePeriod });
    onCleanup(() => void worker.child.kill("SIGKILL"));
    await worker.waitForLine((line) => line === "writing");
    const temps = () => fs.readdirSync(path.join(dir, "tmp")).filter((name) => name.endsWith(".tmp"));
    expect(temps()).toHaveLength(1);

    // Long past the grace period by the temp's mtime; the writer's heartbeat is fresh.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const sweeper = await openStore({ dir, gracePeriod, sweepInterval: false });
    onCleanup(() => sweeper.close());
    const whileAlive = await sweeper.sweep();
    expect(whileAlive.orphansReclaimed).toBe(0);
    expect(temps(), "a live writer's temp object is kept, however old").toHaveLength(1);

    worker.child.kill("SIGKILL");
    await worker.exited;
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const afterDeath = await sweeper.sweep();
    expect(afterDeath.orphansReclaimed).toBeGreaterThanOrEqual(1);
    expect(temps(), "a dead writer's temp object is reclaimed").toEqual([]);
  });
});
