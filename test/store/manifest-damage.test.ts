/**
 * A `manifest.db` with a damaged page (issue 8, finding 13): `verify()` runs
 * SQLite's own integrity check and reports what it finds in
 * `manifestProblems`, instead of calling a store clean whose stages fail; it
 * reports rather than throws when the damaged pages break its own queries,
 * and its repair then changes nothing.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { memoryBlobStore, memoryManifest, openStore, type Attachment, type Manifest } from "../../src/index.js";
import { tempDir } from "../support/fixtures.js";

const PAGE_SIZE = 4096;

/** A store with enough rows that manifest.db spans many pages; closed, so the WAL is folded into the file. */
async function storeWithManyRows(): Promise<{ dir: string; staged: Attachment[] }> {
  const dir = path.join(tempDir("attache-damaged-manifest-"), "store");
  // No fsync: this only builds a big enough file.
  const store = await openStore({ dir, sweepInterval: false, durability: "none" });
  const staged: Attachment[] = [];
  for (let i = 0; i < 400; i++) {
    staged.push(await store.stage(Buffer.from(`attachment number ${i}`), { scope: `scope-${i % 7}`, metadata: { i, note: "x".repeat(40) } }));
  }
  await store.close();
  expect(fs.existsSync(path.join(dir, "manifest.db-wal")) && fs.statSync(path.join(dir, "manifest.db-wal")).size > 0).toBe(false);
  return { dir, staged };
}

/** Overwrites whole pages in the middle of the file (never page 1, the header and schema). */
function damageMiddlePages(file: string): void {
  const pages = Math.floor(fs.statSync(file).size / PAGE_SIZE);
  expect(pages, "manifest.db has several pages").toBeGreaterThan(8);
  const fd = fs.openSync(file, "r+");
  try {
    for (const page of [Math.floor(pages / 2), Math.floor(pages / 2) + 1]) {
      fs.writeSync(fd, Buffer.alloc(PAGE_SIZE, 0xa5), 0, PAGE_SIZE, page * PAGE_SIZE);
    }
  } finally {
    fs.closeSync(fd);
  }
}

describe("verify on a damaged manifest.db", () => {
  it("reports the manifest's damage instead of a clean store, and repairs nothing", async () => {
    const { dir, staged } = await storeWithManyRows();
    const clean = await openStore({ dir, sweepInterval: false });
    expect((await clean.verify()).manifestProblems).toEqual([]);
    await clean.close();

    damageMiddlePages(path.join(dir, "manifest.db"));
    const blobsBefore = fs.readdirSync(path.join(dir, "blobs"), { recursive: true }).length;
    const store = await openStore({ dir, sweepInterval: false });
    const report = await store.verify();
    expect(report.manifestProblems.length, JSON.stringify(report)).toBeGreaterThan(0);
    expect(report.manifestProblems.join("\n")).toMatch(/page|malformed|corrupt|btree|index|row/i);

    const repaired = await store.verify({ repair: true });
    expect(repaired.manifestProblems.length).toBeGreaterThan(0);
    expect(repaired.repaired, "no repair from a damaged manifest").toBe(0);
    expect(fs.readdirSync(path.join(dir, "blobs"), { recursive: true }).length, "no blob file deleted").toBe(blobsBefore);
    expect(staged.length).toBe(400);
    await store.close();
  });

  it("reports, not throws, when a damaged page breaks one of its own queries", async () => {
    const manifest = memoryManifest();
    // What better-sqlite3 throws on a damaged b-tree page that the integrity check had not reached.
    const attachments = new Proxy(manifest.attachments, {
      get(target, key, receiver) {
        if (key === "listReferences") {
          return () => Promise.reject(Object.assign(new Error("database disk image is malformed"), { code: "SQLITE_CORRUPT" }));
        }
        const value = Reflect.get(target, key, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const damaged = new Proxy(manifest, {
      get(target, key, receiver) {
        if (key === "attachments") return attachments;
        return Reflect.get(target, key, receiver) as unknown;
      },
    }) as Manifest;
    const dir = tempDir("attache-damaged-manifest-");
    const store = await openStore({ dir, manifest: damaged, blobStore: memoryBlobStore(), sweepInterval: false });
    await store.stage(Buffer.from("bytes"));
    const report = await store.verify({ repair: true });
    expect(report).toMatchObject({ blobsChecked: 1, corrupt: [], missing: [], repaired: 0 });
    expect(report.manifestProblems).toEqual([expect.stringMatching(/malformed/)]);
    await store.close();
  });
});
