/** Path sources and the three modes, on the embedded store. */
import "../helpers/file-blobs.js";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { nodeFileSystem, openStore, type FileSystem } from "../../src/index.js";
import { embeddedHarness, sha256, tempDir, writeTempFile } from "../support/fixtures.js";

async function codeOf(promise: Promise<unknown>) {
  return promise.then(() => undefined, (err: { code?: string }) => err.code);
}

describe("path sources", () => {
  it("stages a path string and a file: URL, naming them after the file", async () => {
    const store = await embeddedHarness().open();
    const file = writeTempFile("report.csv", "a,b\n1,2\n");
    const a = await store.stage(file);
    expect(a).toMatchObject({ name: "report.csv", contentType: "text/csv", size: 8, mode: "copy" });
    const b = await store.stage(pathToFileURL(file), { scope: "url" });
    expect(b.checksum).toBe(a.checksum);
    expect(fs.readFileSync(file, "utf8")).toBe("a,b\n1,2\n");
    expect(a.path).not.toBe(file);
  });

  it("hashes a large file in one pass, byte for byte", async () => {
    const store = await embeddedHarness().open();
    const bytes = Buffer.alloc(5 * 1024 * 1024 + 123);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
    const file = writeTempFile("big.bin", bytes);
    const progress: { bytes: number; total: number | null }[] = [];
    const a = await store.stage(file, { onProgress: (p) => progress.push(p) });
    expect(a.checksum).toBe(sha256(bytes));
    expect((await store.read(a.ref)).equals(bytes)).toBe(true);
    expect(progress.length).toBe(6);
    expect(progress.at(-1)).toEqual({ bytes: bytes.length, total: bytes.length });
    expect(progress.every((p, i) => i === 0 || p.bytes > (progress[i - 1] as { bytes: number }).bytes)).toBe(true);
  });

  it("refuses missing paths, directories, FIFOs and devices without hanging", async () => {
    const store = await embeddedHarness().open();
    const dir = tempDir();
    const fifo = path.join(dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    for (const bad of [path.join(dir, "missing"), dir, fifo, "/dev/zero", "/dev/null"]) {
      const err = await store.stage(bad).catch((e: unknown) => e);
      expect(err, bad).toMatchObject({ code: "INVALID_SOURCE" });
    }
    expect(await store.list()).toEqual([]);
  });

  it("follows a symlink when copying, refuses one when moving or referencing", async () => {
    const store = await embeddedHarness().open();
    const target = writeTempFile("target.txt", "linked bytes");
    const link = path.join(tempDir(), "link.txt");
    fs.symlinkSync(target, link);
    expect((await store.stage(link)).checksum).toBe(sha256("linked bytes"));
    expect(await codeOf(store.stage(link, { mode: "move", scope: "m" }))).toBe("INVALID_SOURCE");
    expect(await codeOf(store.stage(link, { mode: "reference", scope: "r" }))).toBe("INVALID_SOURCE");
    expect(fs.readFileSync(target, "utf8")).toBe("linked bytes");
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
  });
});

describe("move", () => {
  it("renames a file on the same filesystem into the store", async () => {
    const harness = embeddedHarness();
    const store = await harness.open();
    const file = path.join(harness.dir, "..", `${path.basename(harness.dir)}-move.bin`);
    fs.writeFileSync(file, "moved bytes");
    const { ino } = fs.statSync(file);
    try {
      const a = await store.stage(file, { mode: "move" });
      expect(a).toMatchObject({ mode: "move", name: path.basename(file), checksum: sha256("moved bytes") });
      expect(fs.existsSync(file)).toBe(false);
      expect(fs.statSync((a.path as string)).ino).toBe(ino);
      expect(fs.statSync((a.path as string)).mode & 0o777).toBe(0o400);
      expect((await store.read(a.ref)).toString()).toBe("moved bytes");
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it("drops the source when the bytes are already stored", async () => {
    const store = await embeddedHarness().open();
    await store.stage(Buffer.from("known"));
    const file = writeTempFile("dup.txt", "known");
    const a = await store.stage(file, { mode: "move", scope: "other" });
    expect(fs.existsSync(file)).toBe(false);
    expect((await store.read(a.ref)).toString()).toBe("known");
    expect((await store.metrics()).blobs).toBe(1);
  });

  it("copies then unlinks across filesystems", async () => {
    if (!fs.existsSync("/dev/shm")) return;
    const store = await embeddedHarness().open();
    const dir = fs.mkdtempSync("/dev/shm/attache-");
    try {
      const file = path.join(dir, "elsewhere.txt");
      fs.writeFileSync(file, "from another filesystem");
      if (fs.statSync(file).dev === fs.statSync(store.dir).dev) return;
      const a = await store.stage(file, { mode: "move" });
      expect(fs.existsSync(file)).toBe(false);
      expect((await store.read(a.ref)).toString()).toBe("from another filesystem");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("copies a file with other hard links instead of renaming it", async () => {
    const store = await embeddedHarness().open();
    const file = writeTempFile("linked.txt", "hard linked");
    const other = `${file}.other`;
    fs.linkSync(file, other);
    const a = await store.stage(file, { mode: "move" });
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.statSync((a.path as string)).ino).not.toBe(fs.statSync(other).ino);
    fs.writeFileSync(other, "changed through the other link");
    expect((await store.read(a.ref)).toString()).toBe("hard linked");
  });
});

describe("reference", () => {
  it("records an outside file and never deletes, moves or writes it", async () => {
    const harness = embeddedHarness();
    const store = await harness.open({ clock: () => 1_000 });
    const file = writeTempFile("ref.txt", "outside");
    const before = fs.statSync(file);
    const a = await store.stage(file, { mode: "reference", ttl: "1s" });
    expect(a).toMatchObject({ mode: "reference", path: file, checksum: sha256("outside") });
    expect((await store.resolve(a.ref)).path).toBe(file);
    expect((await store.read(a.ref)).toString()).toBe("outside");
    expect((await store.metrics()).blobs).toBe(0);
    await store.release(a.ref);
    const again = await store.stage(file, { mode: "reference", ttl: "1s" });
    await store.close();
    const later = await openStore({ dir: harness.dir, sweepInterval: false, clock: () => 1_000_000 });
    expect((await later.sweep()).expired).toBe(1);
    await later.stage(file, { mode: "reference" });
    await later.verify({ repair: true });
    await later.reset();
    await later.close();
    const after = fs.statSync(file);
    expect(fs.readFileSync(file, "utf8")).toBe("outside");
    expect([after.ino, after.mtimeMs, after.size]).toEqual([before.ino, before.mtimeMs, before.size]);
    expect(again.id).not.toBe(a.id);
  });

  it("fails reads with INTEGRITY_ERROR once the outside file changes", async () => {
    const store = await embeddedHarness().open();
    const file = writeTempFile("changing.txt", "version 1");
    const a = await store.stage(file, { mode: "reference" });
    fs.writeFileSync(file, "version 2");
    expect(await codeOf(store.read(a.ref))).toBe("INTEGRITY_ERROR");
    fs.writeFileSync(file, "version 22");
    expect(await codeOf(store.read(a.ref))).toBe("INTEGRITY_ERROR");
    expect(await codeOf(store.resolve(a.ref))).toBe("INTEGRITY_ERROR");
    fs.rmSync(file);
    expect(await codeOf(store.read(a.ref))).toBe("INTEGRITY_ERROR");
  });

  it("a managed copy of referenced bytes no longer depends on the outside file", async () => {
    const store = await embeddedHarness().open();
    const file = writeTempFile("soon-gone.txt", "precious");
    const ref = await store.stage(file, { mode: "reference" });
    const copy = await store.stage(file);
    expect(copy.id).toBe(ref.id);
    expect(copy.mode).toBe("copy");
    fs.rmSync(file);
    expect((await store.read(copy.ref)).toString()).toBe("precious");
  });

  it("refuses files inside the store's own directory", async () => {
    const harness = embeddedHarness();
    const store = await harness.open();
    const inside = path.join(harness.dir, "inside.txt");
    fs.writeFileSync(inside, "x");
    expect(await codeOf(store.stage(inside, { mode: "reference" }))).toBe("INVALID_SOURCE");
    expect(await codeOf(store.stage(inside, { mode: "move" }))).toBe("INVALID_SOURCE");
    expect(fs.existsSync(inside)).toBe(true);
  });
});

describe("move permissions", () => {
  it("refuses to move a file whose directory it cannot write, before copying anything", async () => {
    // Tests run as root, who may write anywhere: deny through the filesystem seam instead.
    const denied = Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    const readOnlyDirs: FileSystem = { ...nodeFileSystem, access: async () => Promise.reject(denied) };
    const store = await embeddedHarness().open({ fileSystem: readOnlyDirs });
    const file = writeTempFile("locked.txt", "locked");
    const err = await store.stage(file, { mode: "move" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_SOURCE", cause: denied });
    expect(fs.existsSync(file)).toBe(true);
    expect((await store.metrics()).blobs).toBe(0);
    expect(fs.readdirSync(path.join(store.dir, "tmp"))).toEqual([]);
  });
});

describe("known bytes", () => {
  function countingTempFiles(): { fileSystem: FileSystem; created: () => number } {
    let created = 0;
    const fileSystem: FileSystem = {
      ...nodeFileSystem,
      open: ((file: string, flags?: string | number, mode?: number) => {
        if (flags === "wx") created++;
        return nodeFileSystem.open(file, flags, mode);
      }) as FileSystem["open"],
    };
    return { fileSystem, created: () => created };
  }

  it("hashes a path or buffer of a stored size first, and writes nothing when the bytes are stored", async () => {
    const { fileSystem, created } = countingTempFiles();
    const store = await embeddedHarness().open({ fileSystem });
    const bytes = Buffer.alloc(2 << 20, 3);
    const file = writeTempFile("known.bin", bytes);
    const first = await store.stage(file);
    expect(created()).toBe(1);
    const again = await store.stage(file, { scope: "other" });
    const fromBuffer = await store.stage(bytes, { scope: "third" });
    expect(created()).toBe(1);
    expect(again.checksum).toBe(first.checksum);
    expect((await store.read(fromBuffer.ref)).equals(bytes)).toBe(true);
  });

  it("copies after all when the size matches but the bytes differ, or the blob file is gone", async () => {
    const { fileSystem, created } = countingTempFiles();
    const store = await embeddedHarness().open({ fileSystem });
    const one = await store.stage(Buffer.alloc(1000, 1));
    const other = await store.stage(writeTempFile("same-size.bin", Buffer.alloc(1000, 2)));
    expect(created()).toBe(2);
    expect((await store.read(other.ref))[0]).toBe(2);
    fs.rmSync((one.path as string));
    const healed = await store.stage(Buffer.alloc(1000, 1), { scope: "heal" });
    expect(created()).toBe(3);
    expect((await store.read(healed.ref))[0]).toBe(1);
    expect((await store.read(one.ref))[0]).toBe(1);
  });
});
