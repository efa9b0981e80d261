/** Reopening a store, and several processes sharing one. */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import { embeddedHarness, onCleanup, sha256, tempDir } from "../support/fixtures.js";

const WORKER = path.resolve(import.meta.dirname, "../workers/stage-worker.mjs");

function startWorker(dir: string, file: string, scope: string) {
  const child = spawn(process.execPath, [WORKER, dir, file, scope], { stdio: ["pipe", "pipe", "inherit"] });
  onCleanup(() => void child.kill("SIGKILL"));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    ready: lines.next().then((line) => expect(line.value).toBe("ready")),
    go: () => child.stdin.write("go\n"),
    result: lines.next().then((line) => JSON.parse(line.value as string) as { id: string; ref: string; checksum: string; path: string }),
  };
}

describe("sharing a directory", () => {
  it("a second store on the same directory sees the same attachments under the same refs", async () => {
    const harness = embeddedHarness();
    const first = await harness.open();
    const a = await first.stage(Buffer.from("kept across opens"), { scope: "chat", metadata: { k: "v" } });
    const second = await harness.open();
    expect(await second.get(a.ref)).toEqual(await first.get(a.ref));
    const b = await second.stage(Buffer.from("from the second"));
    expect((await first.read(b.ref)).toString()).toBe("from the second");
    await first.close();
    expect((await second.read(a.ref)).toString()).toBe("kept across opens");
    await second.close();
    const reopened = await openStore({ dir: harness.dir, sweepInterval: false });
    expect((await reopened.list()).map((x) => x.ref)).toEqual([a.ref, b.ref]);
    await reopened.close();
  });

  it("reads the directory from $ATTACHE_DIR when no dir is given", async () => {
    const dir = tempDir();
    const saved = process.env.ATTACHE_DIR;
    process.env.ATTACHE_DIR = dir;
    try {
      const store = await openStore({ sweepInterval: false });
      expect(store.dir).toBe(dir);
      await store.close();
      expect(fs.existsSync(path.join(dir, "manifest.db"))).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.ATTACHE_DIR;
      else process.env.ATTACHE_DIR = saved;
    }
  });

  it("two processes staging the same bytes at once end with one blob and two valid attachments", async () => {
    const dir = tempDir();
    const bytes = Buffer.alloc(8 << 20);
    for (let i = 0; i < bytes.length; i += 512) bytes[i] = (i >> 9) & 0xff;
    const file = path.join(tempDir(), "same.bin");
    fs.writeFileSync(file, bytes);
    const workers = [startWorker(dir, file, "one"), startWorker(dir, file, "two")];
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const [one, two] = await Promise.all(workers.map((w) => w.result));
    expect(one?.checksum).toBe(sha256(bytes));
    expect(two?.checksum).toBe(sha256(bytes));
    expect(one?.id).not.toBe(two?.id);
    const store = await openStore({ dir, sweepInterval: false });
    onCleanup(() => store.close());
    expect((await store.read(one?.ref as string)).equals(bytes)).toBe(true);
    expect((await store.read(two?.ref as string)).equals(bytes)).toBe(true);
    expect(await store.metrics()).toMatchObject({ attachments: 2, blobs: 1, storedBytes: bytes.length });
    expect(fs.readdirSync(path.join(dir, "tmp"))).toEqual([]);
    expect(await store.verify()).toMatchObject({ corrupt: [], missing: [], orphanFiles: [] });
  });

  it("several processes staging the same bytes into one scope get one attachment", async () => {
    const dir = tempDir();
    const file = path.join(tempDir(), "race.txt");
    fs.writeFileSync(file, "raced into one scope");
    const workers = [1, 2, 3].map(() => startWorker(dir, file, "shared"));
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const results = await Promise.all(workers.map((w) => w.result));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    const store = await embeddedHarness().open({ dir });
    expect(await store.metrics()).toMatchObject({ attachments: 1, blobs: 1 });
  });
});
