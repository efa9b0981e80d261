/**
 * A full disk, for real: a tmpfs of a few MiB filled to 100% with a filler
 * file (written until ENOSPC). On it, every operation that frees space
 * (release, releaseScope, sweep, reset) must succeed and free space — the
 * store keeps a small reserve file it gives back, and truncates its WAL —
 * while a stage fails cleanly (IO_ERROR, retryable, "the disk is full",
 * nothing left behind) without spending the reserve. Once space is freed,
 * staging works again and the reserve comes back.
 *
 * The filesystem is `$ATTACHE_SMALL_FS` (mounted by .ci/run), or a tmpfs this
 * file mounts itself when it runs as root; elsewhere the tests are skipped,
 * with a message saying so.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { isAttacheError, openStore, type Attachment, type Store } from "../../src/index.js";
import { auditStore, tempFiles } from "../helpers/store-audit.js";

const SMALL_FS_BYTES = 8 << 20;
/** A given filesystem larger than this is not filled (it might be a real disk). */
const MAX_SMALL_FS_BYTES = 64 << 20;
const BLOB_BYTES = 256 << 10;
const HOUR = 3_600_000;

/** Where the small filesystem is, or why there is none. */
function smallFilesystem(): { root: string; unmount?: () => void } | { skip: string } {
  const given = process.env.ATTACHE_SMALL_FS;
  if (given !== undefined && given !== "") {
    if (!fs.existsSync(given)) return { skip: `ATTACHE_SMALL_FS=${given} does not exist` };
    // The tests fill it to the last byte: never a real disk by mistake.
    const { blocks, bsize } = fs.statfsSync(given);
    if (blocks * bsize > MAX_SMALL_FS_BYTES) return { skip: `ATTACHE_SMALL_FS=${given} is larger than ${MAX_SMALL_FS_BYTES >> 20} MiB` };
    return { root: given };
  }
  if (process.getuid?.() !== 0) return { skip: "ATTACHE_SMALL_FS is not set and this process is not root (cannot mount a tmpfs)" };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "attache-small-fs-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${SMALL_FS_BYTES},mode=0700`, "tmpfs", root], { stdio: "pipe" });
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    return { skip: `mounting a tmpfs failed (${String((err as Error).message).split("\n")[0]})` };
  }
  return {
    root,
    unmount() {
      try {
        execFileSync("umount", [root], { stdio: "pipe" });
      } catch {
        execFileSync("umount", ["-l", root], { stdio: "pipe" });
      }
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

const smallFs = smallFilesystem();
if ("skip" in smallFs) console.warn(`full-disk tests SKIPPED: ${smallFs.skip}. Set ATTACHE_SMALL_FS to a small dedicated filesystem (.ci/run mounts one).`);
afterAll(() => {
  if ("unmount" in smallFs) smallFs.unmount?.();
});

function freeBytes(at: string): number {
  const stats = fs.statfsSync(at);
  return stats.bavail * stats.bsize;
}

/** Writes `file` until the filesystem refuses even one more byte. */
function fillDisk(file: string): void {
  const fd = fs.openSync(file, "w");
  try {
    for (const chunk of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const bytes = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          if (fs.writeSync(fd, bytes) < chunk) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

interface FullStore {
  dir: string;
  store: Store;
  clock: { time: number };
  filler: string;
  /** Three attachments in scope "a" (persistent) and three in scope "b" (ttl 1h). */
  a: Attachment[];
  b: Attachment[];
}

const opened: FullStore[] = [];
afterEach(async () => {
  for (const scene of opened.splice(0)) {
    await scene.store.close().catch(() => undefined);
    fs.rmSync(scene.filler, { force: true });
    fs.rmSync(scene.dir, { recursive: true, force: true });
  }
});

/** A store with six attachments on the small filesystem, then the filesystem filled to 100%. */
async function fullStore(root: string): Promise<FullStore> {
  const dir = fs.mkdtempSync(path.join(root, "store-"));
  const clock = { time: Date.now() };
  const store = await openStore({ dir, sweepInterval: false, clock: () => clock.time });
  const scene: FullStore = { dir, store, clock, filler: path.join(root, `filler-${path.basename(dir)}`), a: [], b: [] };
  opened.push(scene);
  for (let i = 0; i < 3; i++) {
    scene.a.push(await store.stage(randomBytes(BLOB_BYTES), { scope: "a", persist: true }));
    scene.b.push(await store.stage(randomBytes(BLOB_BYTES), { scope: "b", ttl: "1h" }));
  }
  fillDisk(scene.filler);
  expect(freeBytes(root)).toBe(0);
  return scene;
}

const reserveOf = (dir: string) => path.join(dir, "reserve");
const reserveSize = (dir: string): number | null => (fs.existsSync(reserveOf(dir)) ? fs.statSync(reserveOf(dir)).size : null);

describe.skipIf("skip" in smallFs)("a full disk", () => {
  const root = "root" in smallFs ? smallFs.root : "";

  it("release succeeds on a full disk and frees the blob's space", async () => {
    const { store, a } = await fullStore(root);
    const target = a[0] as Attachment;
    await expect(store.release(target.ref)).resolves.toBe(true);
    expect(fs.existsSync((target.path as string))).toBe(false);
    expect(freeBytes(root)).toBeGreaterThanOrEqual(BLOB_BYTES);
    await expect(store.get(target.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("releaseScope succeeds on a full disk and frees the scope's blobs", async () => {
    const { store, a, b } = await fullStore(root);
    await expect(store.releaseScope("a")).resolves.toBe(3);
    for (const attachment of a) expect(fs.existsSync((attachment.path as string))).toBe(false);
    expect(freeBytes(root)).toBeGreaterThanOrEqual(3 * BLOB_BYTES);
    expect((await store.list()).map((x) => x.ref).sort()).toEqual(b.map((x) => x.ref).sort());
  });

  it("sweep succeeds on a full disk and frees expired blobs", async () => {
    const { store, clock, b } = await fullStore(root);
    clock.time += 2 * HOUR;
    const report = await store.sweep();
    expect(report).toMatchObject({ expired: 3, blobsDeleted: 3, bytesFreed: 3 * BLOB_BYTES });
    for (const attachment of b) expect(fs.existsSync((attachment.path as string))).toBe(false);
    expect(freeBytes(root)).toBeGreaterThanOrEqual(3 * BLOB_BYTES);
  });

  it("reset succeeds on a full disk and frees everything", async () => {
    const { store, a, b } = await fullStore(root);
    await store.reset();
    expect(await store.list({ includeExpired: true })).toEqual([]);
    for (const attachment of [...a, ...b]) expect(fs.existsSync((attachment.path as string))).toBe(false);
    expect(freeBytes(root)).toBeGreaterThanOrEqual(6 * BLOB_BYTES);
  });

  it("stage on a full disk fails as IO_ERROR, retryable, saying the disk is full, leaving nothing and keeping the reserve", async () => {
    const { dir, store, filler } = await fullStore(root);
    const reserveBefore = reserveSize(dir);
    const before = (await store.list()).length;

    for (const source of [randomBytes(BLOB_BYTES), randomBytes(100)]) {
      const error = await store.stage(source, { scope: "c" }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isAttacheError(error, "IO_ERROR"), `${String(error)}`).toBe(true);
      expect(error).toMatchObject({ retryable: true });
      expect((error as Error).message).toMatch(/the disk is full/i);
    }
    expect(reserveBefore, "the store keeps a reserve file").toBeGreaterThan(0);
    expect(reserveSize(dir), "a stage never spends the reserve").toBe(reserveBefore);
    expect(tempFiles(dir).filter((name) => !name.startsWith("reserve"))).toEqual([]);
    expect((await store.list()).length).toBe(before);
    const audit = auditStore(dir);
    expect(audit.violations).toEqual([]);
    expect(audit.rows.intents).toEqual([]);

    // The operator frees space: staging works again, and the reserve is back.
    fs.rmSync(filler);
    const staged = await store.stage(randomBytes(BLOB_BYTES), { scope: "c" });
    expect((await store.read(staged.ref)).length).toBe(BLOB_BYTES);
    expect(reserveSize(dir)).toBe(reserveBefore);
  });

  it("after a freeing operation spends the reserve, freeing more space brings it back", async () => {
    const { dir, store, filler, a } = await fullStore(root);
    const reserveBefore = reserveSize(dir);
    expect(reserveBefore, "the store keeps a reserve file").toBeGreaterThan(0);
    await store.release((a[0] as Attachment).ref);
    fs.rmSync(filler);
    const staged = await store.stage(randomBytes(BLOB_BYTES), { scope: "c" });
    expect(staged.size).toBe(BLOB_BYTES);
    await store.sweep();
    expect(reserveSize(dir)).toBe(reserveBefore);
    const report = await store.verify();
    expect(report).toMatchObject({ corrupt: [], missing: [] });
  });
});
