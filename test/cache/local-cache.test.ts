import { createHash } from "node:crypto";
import fs from "node:fs";
import type { FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { localCache } from "../../src/cache/local-cache.js";
import type { FetchBlob, LocalCache, LocalCacheOptions } from "../../src/cache/types.js";
import { nodeFileSystem, type FileSystem } from "../../src/fs-seam.js";

// --- Fixtures ---

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "attache-cache-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

class TestClock {
  time = Date.UTC(2026, 0, 1);
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

const NOTHING_PINNED = async () => new Set<string>();

function openCache(options: Partial<LocalCacheOptions> & { dir: string }): LocalCache {
  const cache = localCache({ maxBytes: Infinity, isPinned: NOTHING_PINNED, fsync: false, ...options });
  cleanups.push(() => cache.close());
  return cache;
}

/** A blob: its bytes, digest and size, and a fetch that counts its calls. */
function blob(text: string) {
  const bytes = Buffer.from(text);
  const counted = { calls: 0 };
  const fetch: FetchBlob = async () => {
    counted.calls++;
    return Readable.from([bytes]);
  };
  return { bytes, digest: sha256(bytes), size: bytes.length, fetch, counted };
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((name) => fs.statSync(path.join(dir, name)).isFile())
    .sort();
}

/** Nothing left behind: no temp file, and no copy but the ones expected. */
function expectCacheHolds(dir: string, digests: string[]): void {
  expect(filesUnder(path.join(dir, "tmp"))).toEqual([]);
  expect(filesUnder(path.join(dir, "sha256")).map((name) => path.basename(name)).sort()).toEqual([...digests].sort());
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

/** A FileSystem seam whose calls (and file-handle calls, as `handle.<name>`) fail when `fault` says so. */
function faultyFileSystem(fault: (op: string, file: string) => string | undefined): FileSystem {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(nodeFileSystem)) {
    wrapped[name] = async (...args: unknown[]) => {
      const file = String(args[0]);
      const code = fault(name, file);
      if (code !== undefined) throw errno(code);
      const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      if (name !== "open") return result;
      const handle = result as FileHandle;
      return new Proxy(handle, {
        get(target, key) {
          const value = Reflect.get(target, key) as unknown;
          if (typeof value !== "function") return value;
          return (...handleArgs: unknown[]) => {
            const handleCode = typeof key === "string" ? fault(`handle.${key}`, file) : undefined;
            if (handleCode !== undefined) return Promise.reject(errno(handleCode));
            return (value as (...a: unknown[]) => unknown).apply(target, handleArgs);
          };
        },
      });
    };
  }
  return wrapped as unknown as FileSystem;
}

async function setMtime(file: string, ms: number): Promise<void> {
  await fs.promises.utimes(file, ms / 1000, ms / 1000);
}

// --- Filling ---

describe("ensure", () => {
  it("fetches, verifies and keeps a read-only copy at sha256/<hex[0:2]>/<hex>, in private directories", async () => {
    const dir = tempDir();
    const cache = openCache({ dir, fsync: true });
    const one = blob("hello cache");
    const file = await cache.ensure(one.digest, one.size, one.fetch);
    expect(file).toBe(path.join(dir, "sha256", one.digest.slice(0, 2), one.digest));
    expect(cache.pathOf(one.digest)).toBe(file);
    expect(fs.readFileSync(file)).toEqual(one.bytes);
    expect(fs.statSync(file).mode & 0o777).toBe(0o400);
    for (const sub of ["", "sha256", "tmp", path.join("sha256", one.digest.slice(0, 2))]) {
      expect(fs.statSync(path.join(dir, sub)).mode & 0o777).toBe(0o700);
    }
    expect(cache.usedBytes).toBe(one.size);
    // Found the second time, without a fetch.
    expect(await cache.ensure(one.digest, one.size, one.fetch)).toBe(file);
    expect(one.counted.calls).toBe(1);
    expect(cache.pathIfCached(one.digest, one.size)).toBe(file);
    expect(cache.pathIfCached(one.digest, one.size + 1)).toBeNull();
    expect(cache.pathIfCached(sha256("absent"), 3)).toBeNull();
    expectCacheHolds(dir, [one.digest]);
  });

  it("caches an empty blob", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const empty = blob("");
    const file = await cache.ensure(empty.digest, 0, empty.fetch);
    expect(fs.statSync(file).size).toBe(0);
  });

  it.each([
    ["other bytes of the same size", "hello cachx", { actual: `sha256:${sha256("hello cachx")}` }],
    ["too few bytes", "hello", { actual: `sha256:${sha256("hello")}` }],
    ["too many bytes", "hello cache, and more", {}],
  ])("refuses %s with INTEGRITY_ERROR and keeps nothing", async (_, sent, fields) => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const wanted = blob("hello cache");
    const fetch: FetchBlob = async () => Readable.from([Buffer.from(sent)]);
    await expect(cache.ensure(wanted.digest, wanted.size, fetch)).rejects.toMatchObject({
      code: "INTEGRITY_ERROR",
      expected: `sha256:${wanted.digest}`,
      path: cache.pathOf(wanted.digest),
      retryable: false,
      ...fields,
    });
    expectCacheHolds(dir, []);
    expect(cache.pathIfCached(wanted.digest, wanted.size)).toBeNull();
  });

  it("turns a stream that fails part-way into a retryable IO_ERROR, a failed fetch into an IO_ERROR, and keeps nothing", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const wanted = blob("0123456789");
    async function* cut() {
      yield Buffer.from("01234");
      throw errno("ECONNRESET");
    }
    await expect(cache.ensure(wanted.digest, wanted.size, async () => Readable.from(cut()))).rejects.toMatchObject({
      code: "IO_ERROR",
      retryable: true,
    });
    await expect(
      cache.ensure(wanted.digest, wanted.size, async () => {
        throw new Error("no such object");
      }),
    ).rejects.toMatchObject({ code: "IO_ERROR", retryable: false });
    expectCacheHolds(dir, []);
    // The next try fetches again and succeeds.
    expect(fs.readFileSync(await cache.ensure(wanted.digest, wanted.size, wanted.fetch), "utf8")).toBe("0123456789");
  });

  it("passes a fetch's own AttacheError through", async () => {
    const cache = openCache({ dir: tempDir() });
    const wanted = blob("x");
    const { AttacheError } = await import("../../src/errors.js");
    const fetch: FetchBlob = async () => {
      throw new AttacheError("NOT_FOUND", "gone");
    };
    await expect(cache.ensure(wanted.digest, wanted.size, fetch)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it.each([
    ["a write", "handle.write", "ENOSPC", true],
    ["the chmod", "handle.chmod", "EIO", false],
    ["the rename", "rename", "ENOSPC", true],
    ["creating the temp file", "open", "EMFILE", true],
  ])("reports a failure of %s as IO_ERROR and leaves no temp behind", async (_, op, code, retryable) => {
    const dir = tempDir();
    let armed = false;
    const fileSystem = faultyFileSystem((name, file) => (armed && name === op && !file.endsWith("sha256") ? code : undefined));
    const cache = openCache({ dir, fileSystem });
    await cache.open();
    armed = true;
    const big = blob("z".repeat(3 << 20));
    await expect(cache.ensure(big.digest, big.size, big.fetch)).rejects.toMatchObject({ code: "IO_ERROR", retryable });
    expectCacheHolds(dir, []);
  });

  it("fetches once for concurrent callers (single flight)", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const one = blob("popular");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fetch: FetchBlob = async () => {
      one.counted.calls++;
      await gate;
      return Readable.from([one.bytes]);
    };
    const all = Promise.all(Array.from({ length: 10 }, () => cache.ensure(one.digest, one.size, fetch)));
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const paths = await all;
    expect(new Set(paths)).toEqual(new Set([cache.pathOf(one.digest)]));
    expect(one.counted.calls).toBe(1);
  });

  it("lets one waiter abort without failing the others; the fetch stops when the last one leaves", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const one = blob("slow bytes");
    let fetched!: (signal: AbortSignal) => void;
    const fetchSignal = new Promise<AbortSignal>((resolve) => (fetched = resolve));
    const hanging = new Readable({ read() {} });
    const fetch: FetchBlob = async (signal) => {
      fetched(signal);
      return hanging;
    };
    const first = new AbortController();
    const second = new AbortController();
    const a = cache.ensure(one.digest, one.size, fetch, first.signal);
    const b = cache.ensure(one.digest, one.size, fetch, second.signal);
    const signal = await fetchSignal;
    first.abort();
    await expect(a).rejects.toMatchObject({ code: "ABORTED" });
    expect(signal.aborted).toBe(false);
    second.abort();
    await expect(b).rejects.toMatchObject({ code: "ABORTED" });
    expect(signal.aborted).toBe(true);
    expect(hanging.destroyed).toBe(true);
    // The next caller starts afresh.
    expect(await cache.ensure(one.digest, one.size, one.fetch)).toBe(cache.pathOf(one.digest));
    expectCacheHolds(dir, [one.digest]);
  });

  it("shares copies with another cache on the same directory (another process)", async () => {
    const dir = tempDir();
    const first = openCache({ dir });
    const second = openCache({ dir });
    const one = blob("shared");
    const file = await first.ensure(one.digest, one.size, one.fetch);
    expect(second.pathIfCached(one.digest, one.size)).toBe(file);
    const other = blob("shared");
    expect(await second.ensure(one.digest, one.size, other.fetch)).toBe(file);
    expect(other.counted.calls).toBe(0);
    // A third opened later counts it in its total.
    const third = openCache({ dir });
    await third.open();
    expect(third.usedBytes).toBe(one.size);
  });

  it("replaces a copy of the wrong size found in place", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const one = blob("the real bytes");
    const file = cache.pathOf(one.digest);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, "short");
    expect(cache.pathIfCached(one.digest, one.size)).toBeNull();
    expect(await cache.ensure(one.digest, one.size, one.fetch)).toBe(file);
    expect(fs.readFileSync(file, "utf8")).toBe("the real bytes");
    expect(one.counted.calls).toBe(1);
  });

  it("refuses malformed digests and sizes with INVALID_ARGUMENT", async () => {
    const cache = openCache({ dir: tempDir() });
    const one = blob("x");
    for (const digest of ["ABC", one.digest.toUpperCase(), `sha256:${one.digest}`, "../../etc/passwd"]) {
      await expect(cache.ensure(digest, 1, one.fetch)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(() => cache.pathIfCached(digest, 1)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
    await expect(cache.ensure(one.digest, -1, one.fetch)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(() => localCache({ dir: tempDir(), maxBytes: "lots", isPinned: NOTHING_PINNED })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});

// --- Recency and eviction ---

describe("eviction", () => {
  /** Fills a cache with blobs "a", "b", … of `size` bytes each, then gives them mtimes in the given order (oldest first). */
  async function populate(dir: string, names: string[], size: number, clock: TestClock) {
    const filler = openCache({ dir, clock: clock.now });
    const blobs = Object.fromEntries(names.map((name) => [name, blob(name.repeat(size))]));
    for (const name of names) await filler.ensure(blobs[name]!.digest, size, blobs[name]!.fetch);
    await filler.close();
    for (const [index, name] of names.entries()) await setMtime(filler.pathOf(blobs[name]!.digest), clock.time - 3_600_000 + index * 60_000);
    return blobs;
  }

  it("removes least-recently-used copies until under maxBytes", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const blobs = await populate(dir, ["a", "b", "c", "d"], 100, clock);
    const cache = openCache({ dir, clock: clock.now, maxBytes: 250 });
    expect(await cache.evict()).toEqual({ files: 2, bytes: 200 });
    expectCacheHolds(dir, [blobs.c!.digest, blobs.d!.digest]);
    expect(cache.usedBytes).toBe(200);
  });

  it("orders by use: a copy used recently is kept over an older one", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const blobs = await populate(dir, ["a", "b", "c"], 100, clock);
    const user = openCache({ dir, clock: clock.now });
    // Used from another process: the touch moves its mtime to now.
    expect(await user.ensure(blobs.a!.digest, 100, blobs.a!.fetch)).toBe(user.pathOf(blobs.a!.digest));
    expect(fs.statSync(user.pathOf(blobs.a!.digest)).mtimeMs).toBe(clock.time);
    const cache = openCache({ dir, clock: clock.now, maxBytes: 200 });
    expect(await cache.evict()).toEqual({ files: 1, bytes: 100 });
    expectCacheHolds(dir, [blobs.a!.digest, blobs.c!.digest]);
  });

  it("touches a copy at most once a minute", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const cache = openCache({ dir, clock: clock.now });
    const one = blob("touched");
    const file = await cache.ensure(one.digest, one.size, one.fetch);
    expect(fs.statSync(file).mtimeMs).toBe(clock.time);
    const placedAt = clock.time;
    clock.advance(30_000);
    cache.pathIfCached(one.digest, one.size);
    await cache.ensure(one.digest, one.size, one.fetch);
    expect(fs.statSync(file).mtimeMs).toBe(placedAt);
    clock.advance(30_000);
    await cache.ensure(one.digest, one.size, one.fetch);
    expect(fs.statSync(file).mtimeMs).toBe(clock.time);
  });

  it("never evicts a pinned copy, even past maxBytes", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const blobs = await populate(dir, ["a", "b", "c"], 100, clock);
    const asked: string[][] = [];
    const pinned = new Set([blobs.a!.digest, blobs.b!.digest, blobs.c!.digest]);
    const isPinned = async (digests: string[]) => {
      asked.push(digests);
      return new Set(digests.filter((digest) => pinned.has(digest)));
    };
    const cache = openCache({ dir, clock: clock.now, maxBytes: 50, isPinned });
    expect(await cache.evict()).toEqual({ files: 0, bytes: 0 });
    expectCacheHolds(dir, [blobs.a!.digest, blobs.b!.digest, blobs.c!.digest]);
    expect(asked.flat().sort()).toEqual([...pinned].sort());
    // The oldest stays pinned; the next unpinned ones go in LRU order, newer than it or not.
    pinned.delete(blobs.b!.digest);
    pinned.delete(blobs.c!.digest);
    expect(await cache.evict()).toEqual({ files: 2, bytes: 200 });
    expectCacheHolds(dir, [blobs.a!.digest]);
  });

  it("spares a copy another process uses or replaces while the eviction runs", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const blobs = await populate(dir, ["a", "b", "c", "d"], 100, clock);
    const other = openCache({ dir, clock: clock.now });
    const isPinned = async () => {
      // Meanwhile, elsewhere: "a" is used (touched), "b" is fetched again (a new inode).
      await other.ensure(blobs.a!.digest, 100, blobs.a!.fetch);
      fs.rmSync(other.pathOf(blobs.b!.digest), { force: true });
      await other.ensure(blobs.b!.digest, 100, blobs.b!.fetch);
      return new Set<string>();
    };
    const cache = openCache({ dir, clock: clock.now, maxBytes: 300, isPinned });
    expect(await cache.evict()).toEqual({ files: 1, bytes: 100 });
    expectCacheHolds(dir, [blobs.a!.digest, blobs.b!.digest, blobs.d!.digest]);
  });

  it("removes nothing when isPinned fails", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const blobs = await populate(dir, ["a", "b"], 100, clock);
    const isPinned = async (): Promise<Set<string>> => {
      throw errno("ECONNREFUSED");
    };
    const cache = openCache({ dir, clock: clock.now, maxBytes: 50, isPinned });
    await expect(cache.evict()).rejects.toMatchObject({ code: "IO_ERROR", retryable: true });
    expectCacheHolds(dir, [blobs.a!.digest, blobs.b!.digest]);
  });

  it("evicts after an insert, sparing the copy just fetched (even one larger than the cache) for a few seconds", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const blobs = await populate(dir, ["a", "b"], 100, clock);
    const cache = openCache({ dir, clock: clock.now, maxBytes: 150 });
    const huge = blob("h".repeat(400));
    const file = await cache.ensure(huge.digest, huge.size, huge.fetch);
    // The eviction the insert started runs before this one; both spare the fresh copy.
    await cache.evict();
    expectCacheHolds(dir, [huge.digest]);
    expect(fs.existsSync(file)).toBe(true);
    expect(blobs.a).toBeDefined();
    // A resolve() path is not kept: once the grace has passed, an unpinned copy goes.
    clock.advance(10_000);
    expect(await cache.evict()).toEqual({ files: 1, bytes: 400 });
    expectCacheHolds(dir, []);
  });
});

// --- Write-through ---

describe("writeThrough", () => {
  it("keeps the staged bytes without reading them back", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const writer = cache.writeThrough();
    const chunk = Buffer.from("staged ");
    writer.write(chunk);
    // The writer took its own copy: the caller may reuse its buffer at once.
    chunk.fill(0x21);
    const big = Buffer.alloc(3 << 20, 0x61);
    writer.write(big);
    const bytes = Buffer.concat([Buffer.from("staged "), big]);
    const file = await writer.commit(sha256(bytes), bytes.length);
    expect(file).toBe(cache.pathOf(sha256(bytes)));
    expect(fs.readFileSync(file!).equals(bytes)).toBe(true);
    expect(fs.statSync(file!).mode & 0o777).toBe(0o400);
    expect(cache.pathIfCached(sha256(bytes), bytes.length)).toBe(file);
    expect(cache.usedBytes).toBe(bytes.length);
    expect(await writer.commit(sha256(bytes), bytes.length)).toBeNull();
    expectCacheHolds(dir, [sha256(bytes)]);
  });

  it("leaves a copy already there in place (another process won)", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const one = blob("already cached");
    const file = await cache.ensure(one.digest, one.size, one.fetch);
    const { ino } = fs.statSync(file);
    const writer = cache.writeThrough();
    writer.write(one.bytes);
    expect(await writer.commit(one.digest, one.size)).toBe(file);
    expect(fs.statSync(file).ino).toBe(ino);
    expectCacheHolds(dir, [one.digest]);
  });

  it("gives up, without slowing the stage, when the disk falls too far behind", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const writer = cache.writeThrough();
    // Written in one synchronous go: nothing reaches the disk meanwhile, so the queue overflows.
    const bytes = Buffer.alloc(20 << 20, 3);
    for (let at = 0; at < bytes.length; at += 1 << 20) writer.write(bytes.subarray(at, at + (1 << 20)));
    expect(await writer.commit(sha256(bytes), bytes.length)).toBeNull();
    expectCacheHolds(dir, []);
  });

  it("drops everything on abort", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const writer = cache.writeThrough();
    writer.write(Buffer.alloc(2 << 20, 1));
    await writer.abort();
    await writer.abort();
    expect(await writer.commit(sha256("x"), 1)).toBeNull();
    expectCacheHolds(dir, []);
  });

  it.each([
    ["bytes that do not match the digest", (w: ReturnType<LocalCache["writeThrough"]>) => w.commit(sha256("other"), 5)],
    ["a size that does not match", (w: ReturnType<LocalCache["writeThrough"]>) => w.commit(sha256("bytes"), 6)],
  ])("commits nothing for %s", async (_, commit) => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const writer = cache.writeThrough();
    writer.write(Buffer.from("bytes"));
    expect(await commit(writer)).toBeNull();
    expectCacheHolds(dir, []);
  });

  it("never fails the stage: a full disk or a blob larger than the cache resolves null and cleans up", async () => {
    const dir = tempDir();
    let armed = false;
    const fileSystem = faultyFileSystem((op) => (armed && op === "handle.write" ? "ENOSPC" : undefined));
    const cache = openCache({ dir, fileSystem });
    await cache.open();
    armed = true;
    const writer = cache.writeThrough();
    const bytes = Buffer.alloc(5 << 20, 7);
    expect(() => {
      for (let at = 0; at < bytes.length; at += 64 << 10) writer.write(bytes.subarray(at, at + (64 << 10)));
    }).not.toThrow();
    expect(await writer.commit(sha256(bytes), bytes.length)).toBeNull();
    expectCacheHolds(dir, []);

    const small = openCache({ dir: tempDir(), maxBytes: 10 });
    const tooBig = small.writeThrough();
    tooBig.write(Buffer.from("more than ten bytes"));
    expect(await tooBig.commit(sha256("more than ten bytes"), 19)).toBeNull();
    expectCacheHolds(small.dir, []);
  });
});

// --- Drop, prune, close ---

describe("drop and prune", () => {
  it("drop removes a copy", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const one = blob("dropped");
    await cache.ensure(one.digest, one.size, one.fetch);
    expect(await cache.drop(one.digest)).toBe(true);
    expect(await cache.drop(one.digest)).toBe(false);
    expect(cache.pathIfCached(one.digest, one.size)).toBeNull();
    expect(cache.usedBytes).toBe(0);
    expectCacheHolds(dir, []);
  });

  it("prune removes copies of blobs gone from the store and temp files older than the grace", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const cache = openCache({ dir, clock: clock.now });
    const kept = blob("still stored");
    const gone = blob("released everywhere");
    await cache.ensure(kept.digest, kept.size, kept.fetch);
    await cache.ensure(gone.digest, gone.size, gone.fetch);
    const oldTemp = path.join(dir, "tmp", "crashed.tmp");
    const newTemp = path.join(dir, "tmp", "in-progress.tmp");
    fs.writeFileSync(oldTemp, "12345");
    fs.writeFileSync(newTemp, "1234567");
    await setMtime(oldTemp, clock.time - 3_600_000);
    await setMtime(newTemp, clock.time - 1_000);
    const asked: string[] = [];
    const keep = async (digests: string[]) => {
      asked.push(...digests);
      return new Set(digests.filter((digest) => digest === kept.digest));
    };
    expect(await cache.prune(keep, 15 * 60_000)).toEqual({ files: 2, bytes: 5 + gone.size });
    expect(asked.sort()).toEqual([kept.digest, gone.digest].sort());
    expect(filesUnder(path.join(dir, "tmp"))).toEqual(["in-progress.tmp"]);
    expect(filesUnder(path.join(dir, "sha256")).map((name) => path.basename(name))).toEqual([kept.digest]);
    expect(cache.usedBytes).toBe(kept.size);
  });

  it("prune spares this process's own temp files in use, however old", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const cache = openCache({ dir, clock: clock.now });
    const writer = cache.writeThrough();
    writer.write(Buffer.alloc(2 << 20, 5));
    while (filesUnder(path.join(dir, "tmp")).length === 0) await new Promise((resolve) => setImmediate(resolve));
    // Days later by the clock: by its mtime, the temp file looks abandoned.
    clock.time = Date.now() + 7 * 24 * 3_600_000;
    expect(await cache.prune(async () => new Set(), 0)).toEqual({ files: 0, bytes: 0 });
    expect(filesUnder(path.join(dir, "tmp"))).toHaveLength(1);
    const bytes = Buffer.alloc(2 << 20, 5);
    expect(await writer.commit(sha256(bytes), bytes.length)).toBe(cache.pathOf(sha256(bytes)));
  });

  it("close aborts a fetch in progress, keeps nothing, and refuses later calls", async () => {
    const dir = tempDir();
    const cache = openCache({ dir });
    const one = blob("never arrives");
    const hanging = new Readable({ read() {} });
    hanging.push(Buffer.from("never"));
    let fetched!: () => void;
    const started = new Promise<void>((resolve) => (fetched = resolve));
    const pending = cache.ensure(one.digest, one.size, async () => (fetched(), hanging));
    await started;
    await cache.close();
    await expect(pending).rejects.toMatchObject({ code: "STORE_CLOSED" });
    expectCacheHolds(dir, []);
    await expect(cache.ensure(one.digest, one.size, one.fetch)).rejects.toMatchObject({ code: "STORE_CLOSED" });
    expect(() => cache.pathIfCached(one.digest, one.size)).toThrow(expect.objectContaining({ code: "STORE_CLOSED" }));
    expect(await cache.writeThrough().commit(one.digest, one.size)).toBeNull();
    await cache.close();
  });
});
