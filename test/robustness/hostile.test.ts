/**
 * The hostile-input catalogue: one test per kind of bad input. Each input
 * must get a typed AttacheError or a documented success, never a hang, a
 * plain Error or a write outside the store, and the store must stay
 * consistent: `verify()` clean, no temp file, no row without its bytes.
 */
import "../helpers/file-blobs.js";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Readable } from "node:stream";
import { buffer as drain } from "node:stream/consumers";
import { afterAll, describe, expect, it } from "vitest";
import { isAttacheError, nodeFileSystem, openStore, type AttacheErrorCode, type FileSystem, type Store } from "../../src/index.js";
import { FaultyFileSystem } from "../helpers/faulty-fs.js";
import { auditStore, sha256Hex } from "../helpers/store-audit.js";
import { settle } from "../helpers/settle.js";
import { freshDir } from "../helpers/temp-dirs.js";

let inputsTried = 0;
afterAll(() => console.log(`hostile inputs tried: ${inputsTried}`));


interface Bench {
  store: Store;
  dir: string;
  /** A directory outside the store where sources live; checked for unexpected writes. */
  outside: string;
  clock: { time: number };
}

async function bench(options: Parameters<typeof openStore>[0] = {}): Promise<Bench> {
  const root = freshDir("attache-hostile-");
  const dir = path.join(root, "store");
  const outside = path.join(root, "outside");
  fs.mkdirSync(outside);
  const clock = { time: Date.now() };
  const store = await openStore({ dir, sweepInterval: false, clock: () => clock.time, ...options });
  return { store, dir, outside, clock };
}


/** The input must fail with `code` (an AttacheError), within HANG_MS. */
async function expectCode(what: string, run: () => Promise<unknown> | unknown, code: AttacheErrorCode): Promise<unknown> {
  inputsTried++;
  let result;
  try {
    result = await settle(run());
  } catch (error) {
    result = { ok: false as const, error, sync: true };
  }
  if (result.ok) throw new Error(`${what}: expected ${code}, but it succeeded`);
  const err = result.error;
  expect(isAttacheError(err), `${what}: expected an AttacheError ${code}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`).toBe(true);
  expect((err as { code: string }).code, `${what}: ${(err as Error).message}`).toBe(code);
  return err;
}

/** The store is consistent: verify() is clean, no temp file, no row without bytes, nothing new outside. */
async function expectConsistent(b: Bench, outsideBefore?: string[]): Promise<void> {
  const report = await b.store.verify();
  expect(report.corrupt, "corrupt blobs").toEqual([]);
  expect(report.missing, "missing blobs").toEqual([]);
  expect(report.orphanFiles, "orphan files").toEqual([]);
  expect(fs.readdirSync(path.join(b.dir, "tmp")), "temp files left").toEqual([]);
  expect(auditStore(b.dir).violations).toEqual([]);
  if (outsideBefore !== undefined) expect(listTree(b.outside)).toEqual(outsideBefore);
  for (const a of await b.store.list()) {
    const bytes = await b.store.read(a.ref);
    expect(sha256Hex(bytes)).toBe(a.checksum);
  }
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      out.push(path.relative(dir, full));
      if (entry.isDirectory() && !entry.isSymbolicLink()) walk(full);
    }
  };
  walk(dir);
  return out.sort();
}

function expectSafeName(name: string): void {
  expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
  expect(name).not.toMatch(/[/\\\p{Cc}]/u);
  expect(name).not.toMatch(/^\.\.?$/);
  expect(name.length).toBeGreaterThan(0);
  expect(Buffer.from(name, "utf8").toString("utf8")).toBe(name); // never cut inside a character
}

describe("hostile names", () => {
  const names: [string, string][] = [
    ["parent traversal", "../../../../etc/passwd"],
    ["Windows traversal", "..\\..\\Windows\\System32\\drivers\\etc\\hosts"],
    ["absolute path", "/etc/shadow"],
    ["a NUL byte", "report\0.exe.txt"],
    ["control characters", "\x1b[31mred\x07\r\n\tname\x7f\x9b.txt"],
    ["bidi override", "invoice\u202Efdp.exe"],
    ["1,000 ASCII bytes", `${"a".repeat(996)}.txt`],
    ["1,000 bytes of 2-byte characters", `${"é".repeat(500)}`],
    ["1,000 bytes of 4-byte characters", `${"😀".repeat(250)}`],
    ["Windows-reserved CON", "CON"],
    ["Windows-reserved NUL.txt", "NUL.txt"],
    ["Windows-reserved com1.tar.gz", "com1.tar.gz"],
    ["dot", "."],
    ["dot-dot", ".."],
    ["empty", ""],
    ["only separators", "///\\\\"],
    ["trailing dot and space (Windows)", "name. . "],
  ];

  for (const [what, name] of names) {
    it(`name with ${what}: staged under a safe display name, nothing written outside`, async () => {
      const b = await bench();
      const before = listTree(b.outside);
      inputsTried++;
      const a = await b.store.stage(Buffer.from(`bytes for ${what}`), { name });
      expectSafeName(a.name);
      expect(path.relative(b.dir, (a.path as string)).startsWith("..")).toBe(false);
      expect(path.basename((a.path as string))).toBe(a.checksum);
      // A path source whose own file name is hostile (where the filesystem allows the name).
      const onDisk = name.replace(/[/\0]/g, "_");
      if (onDisk !== "" && onDisk !== "." && onDisk !== ".." && Buffer.byteLength(onDisk) <= 255) {
        const file = path.join(b.outside, onDisk);
        fs.writeFileSync(file, `path source for ${what}`);
        inputsTried++;
        const p = await b.store.stage(file, { scope: "by-path" });
        expectSafeName(p.name);
        fs.rmSync(file);
      }
      await expectConsistent(b, before);
      await b.store.close();
    });
  }
});

describe("hostile sources", () => {
  const modes = ["copy", "move", "reference"] as const;

  it("a directory is INVALID_SOURCE in every mode", async () => {
    const b = await bench();
    for (const mode of modes) await expectCode(`directory (${mode})`, () => b.store.stage(b.outside, { mode }), "INVALID_SOURCE");
    await expectConsistent(b);
  });

  it("a FIFO is INVALID_SOURCE in every mode, never a hang", async () => {
    const b = await bench();
    const fifo = path.join(b.outside, "pipe");
    execFileSync("mkfifo", [fifo]);
    for (const mode of modes) await expectCode(`FIFO (${mode})`, () => b.store.stage(fifo, { mode }), "INVALID_SOURCE");
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    await expectConsistent(b);
  });

  it("a Unix socket is INVALID_SOURCE in every mode", async () => {
    const b = await bench();
    const socket = path.join(b.outside, "sock");
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      for (const mode of modes) await expectCode(`socket (${mode})`, () => b.store.stage(socket, { mode }), "INVALID_SOURCE");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await expectConsistent(b);
  });

  it("/dev/zero, /dev/null and /dev/urandom are refused, never a hang", async () => {
    const b = await bench();
    for (const device of ["/dev/zero", "/dev/null", "/dev/urandom"]) {
      if (!fs.existsSync(device)) continue;
      for (const mode of modes) await expectCode(`${device} (${mode})`, () => b.store.stage(device, { mode }), "INVALID_SOURCE");
    }
    expect(fs.statSync("/dev/null").isCharacterDevice()).toBe(true);
    await expectConsistent(b);
  });

  it("a symlink to a file outside: copy follows it; move and reference refuse it and touch nothing", async () => {
    const b = await bench();
    const elsewhere = freshDir("attache-elsewhere-");
    const target = path.join(elsewhere, "secret.txt");
    fs.writeFileSync(target, "bytes behind a symlink");
    const link = path.join(b.outside, "link.txt");
    fs.symlinkSync(target, link);
    inputsTried++;
    const copied = await b.store.stage(link);
    expect(copied.checksum).toBe(sha256Hex("bytes behind a symlink"));
    expect(copied.mode).toBe("copy");
    for (const mode of ["move", "reference"] as const) {
      await expectCode(`symlink (${mode})`, () => b.store.stage(link, { mode, scope: mode }), "INVALID_SOURCE");
    }
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(target, "utf8")).toBe("bytes behind a symlink");
    // Dangling links, links to directories and loops.
    const dangling = path.join(b.outside, "dangling");
    fs.symlinkSync(path.join(elsewhere, "missing"), dangling);
    const toDir = path.join(b.outside, "to-dir");
    fs.symlinkSync(elsewhere, toDir);
    const loop = path.join(b.outside, "loop");
    fs.symlinkSync(loop, loop);
    for (const bad of [dangling, toDir, loop]) {
      for (const mode of modes) await expectCode(`${path.basename(bad)} (${mode})`, () => b.store.stage(bad, { mode, scope: `s-${mode}` }), "INVALID_SOURCE");
    }
    await expectConsistent(b);
  });

  it("missing paths, relative escapes and non-file URLs are INVALID_SOURCE; NUL in a path INVALID_ARGUMENT", async () => {
    const b = await bench();
    await expectCode("missing path", () => b.store.stage(path.join(b.outside, "nope")), "INVALID_SOURCE");
    await expectCode("http URL", () => b.store.stage(new URL("http://127.0.0.1/x")), "INVALID_SOURCE");
    await expectCode("data URL", () => b.store.stage(new URL("data:text/plain,hi")), "INVALID_SOURCE");
    await expectCode("NUL in a path", () => b.store.stage(`${b.outside}/a\0b`), "INVALID_ARGUMENT");
    for (const mode of ["move", "reference"] as const) {
      await expectCode(`a store file as source (${mode})`, () => b.store.stage(path.join(b.dir, "manifest.db"), { mode }), "INVALID_SOURCE");
    }
    await expectConsistent(b);
  });

  it("a file that changes while it is staged: reference and move refuse it, copy refuses it or keeps a snapshot that existed", async () => {
    const failures: string[] = [];
    for (const mode of ["copy", "move", "reference"] as const) {
      for (const change of ["append", "truncate", "rewrite"] as const) {
        const faulty = new FaultyFileSystem();
        const b = await bench({ fileSystem: faulty.fs });
        const file = path.join(b.outside, `${mode}-${change}.bin`);
        const original = Buffer.alloc(3 * 1024 * 1024, 1);
        fs.writeFileSync(file, original);
        let reads = 0;
        // Change the file after the store's first read of it.
        const real = faulty.fs.open;
        faulty.fs.open = (async (...args: Parameters<typeof real>) => {
          const handle = await real(...args);
          if (String(args[0]) !== file) return handle;
          return new Proxy(handle, {
            get(target, key) {
              const value = Reflect.get(target, key) as unknown;
              if (key === "read") {
                return async (...readArgs: unknown[]) => {
                  const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, readArgs);
                  if (reads++ === 0) {
                    if (change === "append") fs.appendFileSync(file, "more bytes");
                    else if (change === "truncate") fs.truncateSync(file, 1000);
                    else fs.writeFileSync(file, Buffer.alloc(3 * 1024 * 1024, 2));
                  }
                  return result;
                };
              }
              return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
            },
          });
        }) as typeof real;
        inputsTried++;
        const result = await settle(b.store.stage(file, { mode }));
        const what = `${mode} while ${change}`;
        if (result.ok && mode === "copy") {
          // The attachment verifies against its own digest, and it is a snapshot that existed:
          // the file as it was, or as it became, never a torn mix of the two.
          const bytes = await b.store.read(result.value.ref);
          if (sha256Hex(bytes) !== result.value.checksum) failures.push(`${what}: the attachment does not verify`);
          const final = fs.readFileSync(file);
          if (!bytes.equals(original) && !bytes.equals(final)) {
            failures.push(`${what}: stored ${bytes.length} bytes that are neither the file before (${original.length}) nor after (${final.length}) the change: a torn copy`);
          }
        } else if (result.ok) {
          // move and reference re-check the file after hashing it: a change must be refused.
          failures.push(`${what}: staged, but the file changed under the hash`);
        } else if (!isAttacheError(result.error, "INVALID_SOURCE")) {
          failures.push(`${what}: ${String(result.error)}`);
        } else if (mode === "move" && !fs.existsSync(file)) {
          failures.push(`${what}: the refused move lost its source`);
        }
        fs.rmSync(file, { force: true });
        await expectConsistent(b);
        await b.store.close();
      }
    }
    expect(failures).toEqual([]);
  });

  it("zero bytes from every kind of source is a documented success", async () => {
    const b = await bench();
    const empty = path.join(b.outside, "empty.txt");
    fs.writeFileSync(empty, "");
    const sources: [string, () => Parameters<Store["stage"]>[0], Parameters<Store["stage"]>[1]?][] = [
      ["empty Buffer", () => Buffer.alloc(0)],
      ["empty Uint8Array", () => new Uint8Array(0)],
      ["empty Blob", () => new Blob([])],
      ["empty Readable", () => Readable.from([])],
      ["empty web stream", () => new ReadableStream({ start: (c) => c.close() })],
      ["empty async iterable", () => ({ async *[Symbol.asyncIterator]() {} })],
      ["empty file (copy)", () => empty],
      ["empty file (reference)", () => empty, { mode: "reference", scope: "ref" }],
    ];
    for (const [what, source, options] of sources) {
      inputsTried++;
      const a = await b.store.stage(source(), { scope: what, ...options });
      expect(a.size, what).toBe(0);
      expect(a.checksum).toBe(sha256Hex(""));
      expect((await b.store.read(a.ref)).length).toBe(0);
      expect((await drain(await b.store.open(a.ref))).length).toBe(0);
    }
    expect(fs.existsSync(empty)).toBe(true);
    await expectConsistent(b);
  });

  it("a stream that errors half-way is INVALID_SOURCE with the stream's error as cause, and leaves nothing", async () => {
    const b = await bench();
    const boom = new Error("connection reset by peer");
    const makers: [string, () => Parameters<Store["stage"]>[0]][] = [
      [
        "Node Readable",
        () =>
          new Readable({
            read() {
              this.push(Buffer.alloc(64 * 1024, 1));
              setTimeout(() => this.destroy(boom), 5);
            },
          }),
      ],
      [
        "web ReadableStream",
        () => {
          let sent = false;
          return new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent) controller.error(boom);
              else {
                sent = true;
                controller.enqueue(new Uint8Array(64 * 1024));
              }
            },
          });
        },
      ],
      [
        "async iterable",
        () => ({
          async *[Symbol.asyncIterator]() {
            yield new Uint8Array(64 * 1024);
            throw boom;
          },
        }),
      ],
    ];
    for (const [what, make] of makers) {
      const err = await expectCode(what, () => b.store.stage(make(), { scope: what }), "INVALID_SOURCE");
      expect((err as Error).cause, `${what}: cause`).toBe(boom);
    }
    // Chunks that are not bytes.
    for (const junk of [42, { x: 1 }, null, true]) {
      await expectCode(`stream chunk ${JSON.stringify(junk)}`, () => b.store.stage({ async *[Symbol.asyncIterator]() { yield junk as unknown as Uint8Array; } }), "INVALID_SOURCE");
    }
    expect(await b.store.list()).toEqual([]);
    await expectConsistent(b);
  });

  it("sources of the wrong type are INVALID_ARGUMENT", async () => {
    const b = await bench();
    const junk: unknown[] = [undefined, null, 42, true, Symbol("x"), {}, [], () => "x", new Date(), new Map(), 10n];
    for (const source of junk) {
      await expectCode(`source ${String(source)}`, () => b.store.stage(source as string), "INVALID_ARGUMENT");
    }
    for (const mode of ["move", "reference"] as const) {
      await expectCode(`${mode} of a Buffer`, () => b.store.stage(Buffer.from("x"), { mode }), "INVALID_ARGUMENT");
    }
    await expectCode("unknown mode", () => b.store.stage(Buffer.from("x"), { mode: "delete" as "copy" }), "INVALID_ARGUMENT");
    await expectConsistent(b);
  });

  it("an already-aborted or mid-stream aborted signal is ABORTED and leaves nothing", async () => {
    const b = await bench();
    await expectCode("aborted signal", () => b.store.stage(Buffer.from("x"), { signal: AbortSignal.abort() }), "ABORTED");
    const controller = new AbortController();
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(16 * 1024));
      },
    });
    setTimeout(() => controller.abort(), 30);
    await expectCode("abort mid-stream", () => b.store.stage(endless, { signal: controller.signal }), "ABORTED");
    expect(await b.store.list()).toEqual([]);
    await expectConsistent(b);
  });
});

describe("hostile options", () => {
  it("malformed checksums are INVALID_ARGUMENT; a wrong one is CHECKSUM_MISMATCH", async () => {
    const b = await bench();
    const bad: unknown[] = ["", "abc", "sha256:", "sha256:xyz", `md5:${"0".repeat(32)}`, "0".repeat(63), "0".repeat(65), `sha1:${"0".repeat(64)}`, 42, null, {}, ["0".repeat(64)]];
    for (const checksum of bad) {
      await expectCode(`checksum ${JSON.stringify(checksum)}`, () => b.store.stage(Buffer.from("x"), { checksum: checksum as string }), "INVALID_ARGUMENT");
    }
    const err = await expectCode("wrong checksum", () => b.store.stage(Buffer.from("x"), { checksum: "0".repeat(64) }), "CHECKSUM_MISMATCH");
    expect(err).toMatchObject({ expected: `sha256:${"0".repeat(64)}`, actual: `sha256:${sha256Hex("x")}` });
    inputsTried++;
    expect((await b.store.stage(Buffer.from("x"), { checksum: `SHA256:${sha256Hex("x").toUpperCase()}` })).checksum).toBe(sha256Hex("x"));
    await expectConsistent(b);
  });

  it("negative, NaN and unparsable ttls are INVALID_ARGUMENT", async () => {
    const b = await bench();
    const bad: unknown[] = [-1, -Infinity, NaN, "-5m", "abc", "", " ", "5 minutes", "1e3", "5mm", {}, null, true, [1]];
    const a = await b.store.stage(Buffer.from("lease me"), { persist: true });
    for (const ttl of bad) {
      await expectCode(`ttl ${String(ttl)}`, () => b.store.stage(Buffer.from("x"), { ttl: ttl as number }), "INVALID_ARGUMENT");
      // A null lease ttl may mean "the default" (options use ??); every other bad value is refused.
      if (ttl !== null) await expectCode(`lease ttl ${String(ttl)}`, () => b.store.lease(a.ref, { ttl: ttl as number }), "INVALID_ARGUMENT");
    }
    for (const defaultTtl of [-1, NaN, "soon"]) {
      await expectCode(`defaultTtl ${String(defaultTtl)}`, () => openStore({ dir: b.dir, defaultTtl }), "INVALID_ARGUMENT");
      await expectCode(`gracePeriod ${String(defaultTtl)}`, () => openStore({ dir: b.dir, gracePeriod: defaultTtl }), "INVALID_ARGUMENT");
      await expectCode(`sweepInterval ${String(defaultTtl)}`, () => openStore({ dir: b.dir, sweepInterval: defaultTtl }), "INVALID_ARGUMENT");
    }
    await expectConsistent(b);
  });

  it("absurd ttls are refused or give a real expiry date, never an Invalid Date", async () => {
    const b = await bench();
    const absurd: unknown[] = [1e300, Number.MAX_VALUE, Number.MAX_SAFE_INTEGER, 8.64e15, "99999999999999999999d", "1000000000w"];
    for (const [i, ttl] of absurd.entries()) {
      inputsTried++;
      const result = await settle(b.store.stage(Buffer.from(`absurd ${i}`), { ttl: ttl as number, scope: `s${i}` }));
      if (!result.ok) {
        expect(isAttacheError(result.error, "INVALID_ARGUMENT"), `ttl ${String(ttl)}: ${String(result.error)}`).toBe(true);
        continue;
      }
      const a = result.value;
      const expiry = a.expiresAt;
      expect(expiry === null || Number.isFinite(expiry.getTime()), `ttl ${String(ttl)} gives expiresAt ${String(expiry)}`).toBe(true);
      const again = await b.store.get(a.ref);
      expect(again.expiresAt === null || Number.isFinite(again.expiresAt.getTime()), `ttl ${String(ttl)} after get: ${String(again.expiresAt)}`).toBe(true);
      // The attachment behaves as (practically) never expiring.
      b.clock.time += 100 * 365 * 86_400_000;
      expect((await b.store.read(a.ref)).toString()).toBe(`absurd ${i}`);
      b.clock.time -= 100 * 365 * 86_400_000;
    }
    const m = await b.store.metrics();
    expect(m.nextExpiryAt === null || Number.isFinite(m.nextExpiryAt.getTime()), `nextExpiryAt ${String(m.nextExpiryAt)}`).toBe(true);
    // An absurd lease ttl is refused or clamped to a real date.
    const a = await b.store.stage(Buffer.from("leased for ever"), { persist: true });
    inputsTried++;
    const lease = await settle(b.store.lease(a.ref, { ttl: 1e300 }));
    if (lease.ok) {
      expect(Number.isFinite(lease.value.expiresAt.getTime())).toBe(true);
      await lease.value.release();
    } else {
      expect(isAttacheError(lease.error, "INVALID_ARGUMENT"), String(lease.error)).toBe(true);
    }
    await expectConsistent(b);
  });

  it("metadata that JSON.stringify cannot take is INVALID_ARGUMENT; what it can is stored as its JSON", async () => {
    const b = await bench();
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const deepCycle: Record<string, unknown> = { list: [] };
    (deepCycle.list as unknown[]).push({ back: deepCycle });
    class Point {
      x = 1;
    }
    const bad: [string, unknown][] = [
      ["BigInt", { n: 10n }],
      ["cycle", cycle],
      ["cycle through an array", deepCycle],
      // JSON.stringify turns these into {}, silently losing their contents: refused on purpose.
      ["Map", { m: new Map([[1, 2]]) }],
      ["Set", { s: new Set([1]) }],
      ["function at top level", () => 1],
      ["array at top level", [1, 2]],
      ["string at top level", "metadata"],
      ["number at top level", 42],
      ["null at top level", null],
      ["boxed string at top level", new String("metadata")],
      ["toJSON giving no object", { toJSON: () => 5 }],
      ["larger than 64 KiB", { big: "x".repeat(70 * 1024) }],
    ];
    for (const [what, metadata] of bad) {
      await expectCode(`metadata: ${what}`, () => b.store.stage(Buffer.from(what), { metadata: metadata as Record<string, unknown> }), "INVALID_ARGUMENT");
    }
    // These were refused before metadata followed JSON.stringify (issue 9, item 9): now they are stored as it writes them.
    const date = new Date("2026-01-02T03:04:05.000Z");
    const accepted: [string, unknown, Record<string, unknown>][] = [
      ["function member", { f: () => 1, kept: 1 }, { kept: 1 }],
      ["symbol value", { s: Symbol("x"), kept: 1 }, { kept: 1 }],
      ["undefined value", { u: undefined, nested: [undefined] }, { nested: [null] }],
      ["class instance", new Point(), { x: 1 }],
      ["nested class instance", { p: new Point() }, { p: { x: 1 } }],
      ["Date", { d: date }, { d: "2026-01-02T03:04:05.000Z" }],
      ["Buffer", { b: Buffer.from("x") }, { b: { type: "Buffer", data: [120] } }],
      ["NaN", { n: NaN }, { n: null }],
      ["Infinity", { n: Infinity }, { n: null }],
      ["object with toJSON", { toJSON: () => ({}) }, {}],
    ];
    for (const [what, metadata, stored] of accepted) {
      inputsTried++;
      const a = await b.store.stage(Buffer.from(what), { metadata: metadata as Record<string, unknown> });
      expect((await b.store.get(a.ref)).metadata, what).toEqual(stored);
    }
    inputsTried++;
    // An own "__proto__" key (as JSON.parse makes it) must not pollute any prototype.
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "nested": {"a": [1, "two", null, true]}}') as Record<string, unknown>;
    const ok = await b.store.stage(Buffer.from("fine"), { metadata: parsed });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const stored = (await b.store.get(ok.ref)).metadata;
    expect(stored).toMatchObject({ nested: { a: [1, "two", null, true] } });
    expect((stored as { polluted?: unknown }).polluted).toBeUndefined();
    await expectConsistent(b);
  });

  it("metadata whose getters or Proxy traps throw is INVALID_ARGUMENT, not the getter's raw Error", async () => {
    const b = await bench();
    const throwingGetter = Object.defineProperty({}, "x", {
      enumerable: true,
      get() {
        throw new Error("getter exploded");
      },
    });
    const throwingProxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("proxy exploded");
        },
      },
    );
    const failures: string[] = [];
    for (const [what, metadata] of [["a getter that throws", throwingGetter], ["a Proxy whose traps throw", throwingProxy]] as const) {
      await expectCode(`metadata: ${what}`, () => b.store.stage(Buffer.from(what), { metadata }), "INVALID_ARGUMENT").catch((err: Error) =>
        failures.push(err.message.split("\n")[0] as string),
      );
    }
    expect(failures).toEqual([]);
    await expectConsistent(b);
  });

  it("scope: null is refused, not silently staged into the shared default scope", async () => {
    const b = await bench();
    await expectCode("stage scope null", () => b.store.stage(Buffer.from("meant for a private scope"), { scope: null as unknown as string }), "INVALID_ARGUMENT");
    expect(await b.store.list({ scope: "default" })).toEqual([]);
    await expectCode("list scope null", () => b.store.list({ scope: null as unknown as string }), "INVALID_ARGUMENT");
    await expectConsistent(b);
  });

  it("hostile scopes, labels, content types and list options are INVALID_ARGUMENT", async () => {
    const b = await bench();
    for (const scope of ["", "\0", "a\0b", "x".repeat(5000), 42, {}]) {
      await expectCode(`scope ${JSON.stringify(scope)}`, () => b.store.stage(Buffer.from("x"), { scope: scope as string }), "INVALID_ARGUMENT");
      await expectCode(`scope() ${JSON.stringify(scope)}`, () => b.store.scope(scope as string), "INVALID_ARGUMENT");
      await expectCode(`releaseScope ${JSON.stringify(scope)}`, () => b.store.releaseScope(scope as string), "INVALID_ARGUMENT");
    }
    for (const contentType of ["", "text", "text/html\r\nX-Evil: 1", 42]) {
      await expectCode(`contentType ${JSON.stringify(contentType)}`, () => b.store.stage(Buffer.from("x"), { contentType: contentType as string }), "INVALID_ARGUMENT");
    }
    for (const source of ["x".repeat(1000), 42]) {
      await expectCode(`source label ${String(source).slice(0, 10)}`, () => b.store.stage(Buffer.from("x"), { source: source as string }), "INVALID_ARGUMENT");
    }
    await expectCode("persist 'yes'", () => b.store.stage(Buffer.from("x"), { persist: "yes" as unknown as boolean }), "INVALID_ARGUMENT");
    await expectCode("name 42", () => b.store.stage(Buffer.from("x"), { name: 42 as unknown as string }), "INVALID_ARGUMENT");
    await expectCode("signal {}", () => b.store.stage(Buffer.from("x"), { signal: {} as AbortSignal }), "INVALID_ARGUMENT");
    await expectCode("options 'x'", () => b.store.stage(Buffer.from("x"), "x" as unknown as object), "INVALID_ARGUMENT");
    for (const options of [{ limit: -1 }, { limit: NaN }, { after: "../x" }, { after: 42 }, { scope: "" }]) {
      await expectCode(`list ${JSON.stringify(options)}`, () => b.store.list(options as object), "INVALID_ARGUMENT");
    }
    const scoped = b.store.scope("mine");
    await expectCode("scoped stage with options 5", () => scoped.stage(Buffer.from("x"), 5 as unknown as object), "INVALID_ARGUMENT");
    await expectCode("scoped stage into another scope", () => scoped.stage(Buffer.from("x"), { scope: "theirs" } as object), "INVALID_ARGUMENT");
    await expectCode("scoped list of another scope", () => scoped.list({ scope: "theirs" } as object), "INVALID_ARGUMENT");
    expect(await b.store.list()).toEqual([]);
    await expectConsistent(b);
  });
});

describe("hostile refs", () => {
  it("malformed refs are INVALID_ARGUMENT for every method that takes one", async () => {
    const b = await bench();
    const a = await b.store.stage(Buffer.from("target"));
    const bad: unknown[] = [
      "",
      "attache://",
      "attache://../../etc/passwd",
      `attache://${a.id}/../x`,
      `attache://${a.id.slice(1)}`,
      `attache://${a.id}0`,
      `attache://${"u".repeat(26)}`,
      `attache://${a.id.slice(0, 25)}\0`,
      `http://${a.id}`,
      a.digest,
      a.checksum,
      "/etc/passwd",
      a.path,
      42,
      null,
      undefined,
      {},
      { ref: a.ref },
    ];
    const methods: [string, (ref: string) => Promise<unknown>][] = [
      ["get", (r) => b.store.get(r)],
      ["resolve", (r) => b.store.resolve(r)],
      ["read", (r) => b.store.read(r)],
      ["open", (r) => b.store.open(r)],
      ["lease", (r) => b.store.lease(r)],
      ["release", (r) => b.store.release(r)],
    ];
    for (const ref of bad) {
      for (const [name, call] of methods) await expectCode(`${name}(${String(ref)})`, () => call(ref as string), "INVALID_ARGUMENT");
    }
    // A well-formed ref nobody issued.
    for (const [name, call] of methods.filter(([n]) => n !== "release")) {
      await expectCode(`${name}(unknown)`, () => call(`attache://${"0".repeat(10)}${"1".repeat(16)}`), "NOT_FOUND");
    }
    inputsTried++;
    expect(await b.store.release(`attache://${"0".repeat(10)}${"1".repeat(16)}`)).toBe(false);
    expect((await b.store.read(a.ref)).toString()).toBe("target");
    await expectConsistent(b);
  });

  it("another scope's refs are NOT_FOUND through a scoped handle, also by guessing", async () => {
    const b = await bench();
    const victim = b.store.scope("victim");
    const attacker = b.store.scope("attacker");
    const secret = await victim.stage(Buffer.from("the victim's secret"), { ttl: "7d" });
    const methods: [string, (ref: string) => Promise<unknown>][] = [
      ["get", (r) => attacker.get(r)],
      ["resolve", (r) => attacker.resolve(r)],
      ["read", (r) => attacker.read(r)],
      ["open", (r) => attacker.open(r)],
      ["lease", (r) => attacker.lease(r)],
    ];
    const guesses = [secret.ref, secret.ref.toUpperCase(), ` ${secret.ref} `, secret.id, `attache://${secret.id.slice(0, 10)}${"0".repeat(16)}`];
    for (const guess of guesses) {
      for (const [name, call] of methods) await expectCode(`attacker ${name}(${guess})`, () => call(guess), "NOT_FOUND");
      inputsTried++;
      expect(await attacker.release(guess)).toBe(false);
    }
    // By digest: not a ref at all.
    for (const [name, call] of methods) await expectCode(`attacker ${name}(digest)`, () => call(secret.digest), "INVALID_ARGUMENT");
    inputsTried++;
    expect(await attacker.list()).toEqual([]);
    expect((await victim.read(secret.ref)).toString()).toBe("the victim's secret");
    await expectConsistent(b);
  });

  it("every method after close() is STORE_CLOSED, also through scope handles", async () => {
    const b = await bench();
    const a = await b.store.stage(Buffer.from("before close"), { scope: "s" });
    const handle = b.store.scope("s");
    await b.store.close();
    await b.store.close(); // idempotent
    const calls: [string, () => unknown][] = [
      ["stage", () => b.store.stage(Buffer.from("x"))],
      ["get", () => b.store.get(a.ref)],
      ["resolve", () => b.store.resolve(a.ref)],
      ["read", () => b.store.read(a.ref)],
      ["open", () => b.store.open(a.ref)],
      ["lease", () => b.store.lease(a.ref)],
      ["list", () => b.store.list()],
      ["iterate", async () => {
        for await (const _ of b.store.iterate()) break;
      }],
      ["temporary", () => b.store.temporary(Buffer.from("x"))],
      ["release", () => b.store.release(a.ref)],
      ["releaseScope", () => b.store.releaseScope("s")],
      ["sweep", () => b.store.sweep()],
      ["metrics", () => b.store.metrics()],
      ["verify", () => b.store.verify()],
      ["reset", () => b.store.reset()],
      ["malformed ref after close", () => b.store.get("nonsense")],
      ...(["stage", "get", "resolve", "read", "open", "lease", "list", "iterate", "temporary", "release", "release()"] as const).map(
        (name): [string, () => unknown] => [
          `scope handle ${name}`,
          () => {
            switch (name) {
              case "stage":
                return handle.stage(Buffer.from("x"));
              case "temporary":
                return handle.temporary(Buffer.from("x"));
              case "list":
                return handle.list();
              case "iterate":
                return (async () => {
                  for await (const _ of handle.iterate()) break;
                })();
              case "release()":
                return handle.release();
              default:
                return handle[name](a.ref);
            }
          },
        ],
      ),
    ];
    for (const [name, call] of calls) await expectCode(`${name} after close`, call, "STORE_CLOSED");
    // A handle made after close behaves the same (or scope() itself refuses).
    inputsTried++;
    const late = await settle((async () => b.store.scope("late").get(a.ref))());
    expect(!late.ok && isAttacheError(late.error, "STORE_CLOSED"), `scope() after close: ${late.ok ? "succeeded" : String(late.error)}`).toBe(true);
    // The directory reopens intact.
    const reopened = await openStore({ dir: b.dir, sweepInterval: false });
    expect((await reopened.read(a.ref)).toString()).toBe("before close");
    await reopened.close();
  });

  it("ending a lease after close() is STORE_CLOSED or a no-op, not an IO_ERROR about the database", async () => {
    const b = await bench();
    const a = await b.store.stage(Buffer.from("leased across close"));
    const lease = await b.store.lease(a.ref);
    await b.store.close();
    inputsTried++;
    const ended = await settle(lease.release());
    expect(ended.ok || isAttacheError(ended.error, "STORE_CLOSED"), `lease.release() after close: ${ended.ok ? "" : String(ended.error)}`).toBe(true);
  });
});

describe("issue 8: callers that change what they handed over", () => {
  it("finding 9: a Buffer changed while stage() runs is stored with bytes that hash to its digest", async () => {
    const b = await bench();
    // Large enough for many writer turns; the caller flips bytes between every one of them.
    const bytes = Buffer.alloc(24 << 20, 7);
    let flips = 0;
    let running = true;
    const flip = () => {
      if (!running) return;
      bytes[(flips * 7919) % bytes.length] = flips & 0xff;
      flips++;
      setImmediate(flip);
    };
    setImmediate(flip);
    const staged: string[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        inputsTried++;
        const a = await b.store.stage(bytes, { scope: `mutating-${i}` });
        staged.push(a.ref);
      }
    } finally {
      running = false;
    }
    expect(flips).toBeGreaterThan(0);
    // Every stored byte hashes to the digest it was staged under: read() verifies.
    for (const ref of staged) {
      const a = await b.store.get(ref);
      expect(sha256Hex(await b.store.read(ref))).toBe(a.checksum);
    }
    await expectConsistent(b);
  });

  it("finding 12: disposing a temporary that got an existing attachment back does not release it", async () => {
    const b = await bench();
    const kept = await b.store.stage(Buffer.from("the report"), { scope: "chat", persist: true });
    expect(kept.created).toBe(true);
    {
      await using temp = await b.store.temporary(Buffer.from("the report"), { scope: "chat" });
      expect(temp.ref).toBe(kept.ref);
      expect(temp.created).toBe(false);
      expect(await temp.release()).toBe(false);
    }
    const scoped = b.store.scope("chat");
    {
      await using temp = await scoped.temporary(Buffer.from("the report"));
      expect(temp.created).toBe(false);
    }
    expect((await b.store.get(kept.ref)).persist).toBe(true);
    expect((await b.store.read(kept.ref)).toString()).toBe("the report");
    // One it did create is still released on dispose.
    let createdRef: string;
    {
      await using temp = await scoped.temporary(Buffer.from("scratch"));
      expect(temp.created).toBe(true);
      createdRef = temp.ref;
    }
    await expectCode("get of a disposed temporary", () => b.store.get(createdRef), "NOT_FOUND");
    await expectConsistent(b);
  });
});

/** A fileSystem seam that runs `onRead` once, the first time a file under `watched` is read through a handle. */
function seamOnFirstRead(watched: string, onRead: () => void): FileSystem {
  let fired = false;
  const open = (async (...args: Parameters<typeof fs.promises.open>) => {
    const handle = await fs.promises.open(...args);
    if (!String(args[0]).startsWith(watched)) return handle;
    const read = handle.read.bind(handle) as (...a: unknown[]) => Promise<unknown>;
    (handle as unknown as { read: unknown }).read = async (...a: unknown[]) => {
      const result = await read(...a);
      if (!fired) {
        fired = true;
        onRead();
      }
      return result;
    };
    return handle;
  }) as typeof fs.promises.open;
  return { ...nodeFileSystem, open };
}

describe("issue 8: move never loses, corrupts or leaks", () => {
  it("finding 1: a move through a symlinked parent of blobs/ is refused and another scope's bytes stay", async () => {
    const b = await bench();
    const victim = await b.store.stage(Buffer.from("another scope's photo"), { scope: "victim" });
    const hex = victim.checksum;
    const fanout = path.join(b.dir, "blobs", "sha256", hex.slice(0, 2), hex.slice(2, 4));
    const disguise = path.join(b.outside, "innocent-folder");
    fs.symlinkSync(fanout, disguise);
    for (const mode of ["move", "reference"] as const) {
      await expectCode(`blob through a symlinked parent (${mode})`, () => b.store.stage(path.join(disguise, hex), { mode, scope: "attacker" }), "INVALID_SOURCE");
    }
    expect((await b.store.read(victim.ref)).toString()).toBe("another scope's photo");
    await expectConsistent(b);
  });

  it("finding 1: a store opened through a symlinked directory refuses to move its own blob by its real path", async () => {
    const root = freshDir("attache-hostile-");
    const real = path.join(root, "real-store");
    const linked = path.join(root, "linked-store");
    fs.mkdirSync(real);
    fs.symlinkSync(real, linked);
    const store = await openStore({ dir: linked, sweepInterval: false });
    try {
      const victim = await store.stage(Buffer.from("kept bytes"), { scope: "victim" });
      const hex = victim.checksum;
      const realBlob = path.join(real, "blobs", "sha256", hex.slice(0, 2), hex.slice(2, 4), hex);
      await expectCode("the store's own blob by its real path", () => store.stage(realBlob, { mode: "move", scope: "attacker" }), "INVALID_SOURCE");
      expect((await store.read(victim.ref)).toString()).toBe("kept bytes");
      expect(auditStore(real).violations).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("finding 2: a file saved over the path while a move hashes it is left in place, never deleted or taken", async () => {
    const root = freshDir("attache-hostile-");
    const outside = path.join(root, "outside");
    fs.mkdirSync(outside);
    const file = path.join(outside, "draft.md");
    const saved = path.join(outside, ".draft.md.swp");
    fs.writeFileSync(file, "first draft");
    fs.writeFileSync(saved, "the user's newer draft");
    // An editor's atomic save lands while the store reads the old file.
    const store = await openStore({ dir: path.join(root, "store"), sweepInterval: false, fileSystem: seamOnFirstRead(file, () => fs.renameSync(saved, file)) });
    try {
      inputsTried++;
      const outcome = await settle(store.stage(file, { mode: "move" }));
      expect(fs.readFileSync(file, "utf8")).toBe("the user's newer draft");
      if (outcome.ok) {
        // Whatever was stored is the old draft, under its own digest.
        expect((await store.read(outcome.value.ref)).toString()).toBe("first draft");
      } else {
        expect(isAttacheError(outcome.error, "INVALID_SOURCE"), String(outcome.error)).toBe(true);
      }
      expect(auditStore(path.join(root, "store")).violations).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("finding 2: a symlink swapped in while a move hashes the file is never linked in, followed or chmod-ed", async () => {
    const root = freshDir("attache-hostile-");
    const outside = path.join(root, "outside");
    fs.mkdirSync(outside);
    const secret = path.join(root, "secret.key");
    fs.writeFileSync(secret, "not for the store", { mode: 0o640 });
    const file = path.join(outside, "upload.bin");
    fs.writeFileSync(file, "uploaded bytes");
    const store = await openStore({
      dir: path.join(root, "store"),
      sweepInterval: false,
      fileSystem: seamOnFirstRead(file, () => {
        fs.rmSync(file);
        fs.symlinkSync(secret, file);
      }),
    });
    try {
      inputsTried++;
      const outcome = await settle(store.stage(file, { mode: "move" }));
      expect(fs.lstatSync(file).isSymbolicLink()).toBe(true);
      expect(fs.statSync(secret).mode & 0o777).toBe(0o640);
      expect(fs.readFileSync(secret, "utf8")).toBe("not for the store");
      if (outcome.ok) expect((await store.read(outcome.value.ref)).toString()).toBe("uploaded bytes");
      else expect(isAttacheError(outcome.error, "INVALID_SOURCE"), String(outcome.error)).toBe(true);
      expect(auditStore(path.join(root, "store")).violations).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("finding 3: when the source cannot be unlinked, the blob still gets an inode of its own", async () => {
    const root = freshDir("attache-hostile-");
    const outside = path.join(root, "outside");
    fs.mkdirSync(outside);
    const file = path.join(outside, "report.pdf");
    fs.writeFileSync(file, "%PDF- the report");
    // The directory refuses removals (as `chattr +a` does): rename and unlink of entries in it fail.
    const refuse = (name: "rename" | "unlink") =>
      (async (...args: [string, ...unknown[]]) => {
        if (String(args[0]).startsWith(outside)) throw Object.assign(new Error(`EPERM: operation not permitted, ${name}`), { code: "EPERM" });
        return (nodeFileSystem[name] as (...a: unknown[]) => Promise<void>)(...args);
      }) as never;
    const store = await openStore({ dir: path.join(root, "store"), sweepInterval: false, fileSystem: { ...nodeFileSystem, rename: refuse("rename"), unlink: refuse("unlink") } });
    try {
      inputsTried++;
      const a = await store.stage(file, { mode: "move" });
      expect(fs.existsSync(file)).toBe(true);
      const blob = path.join(root, "store", "blobs", "sha256", a.checksum.slice(0, 2), a.checksum.slice(2, 4), a.checksum);
      expect(fs.statSync(blob).nlink).toBe(1);
      expect(fs.statSync(blob).ino).not.toBe(fs.statSync(file).ino);
      fs.appendFileSync(file, " with an appendix written later");
      expect((await store.read(a.ref)).toString()).toBe("%PDF- the report");
      expect((await store.verify()).corrupt).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe("issue 8: blobs that share an inode with an outside file", () => {
  it("finding 3: verify({ repair: true }) gives a hard-linked blob an inode of its own without losing it", async () => {
    const b = await bench();
    const a = await b.store.stage(Buffer.from("bytes an older move left linked"), { scope: "chat" });
    const blob = path.join(b.dir, "blobs", "sha256", a.checksum.slice(0, 2), a.checksum.slice(2, 4), a.checksum);
    // What a move cut by a crash between its commit and its unlink left behind in older versions.
    const outsideLink = path.join(b.outside, "still-the-users-file.txt");
    fs.linkSync(blob, outsideLink);
    const report = await b.store.verify({ repair: true });
    expect(report.corrupt).toEqual([]);
    expect(report.missing).toEqual([]);
    expect(report.repaired).toBe(1);
    expect(fs.statSync(blob).nlink).toBe(1);
    fs.appendFileSync(outsideLink, " and the user kept writing");
    expect((await b.store.read(a.ref)).toString()).toBe("bytes an older move left linked");
    expect(fs.readFileSync(outsideLink, "utf8")).toBe("bytes an older move left linked and the user kept writing");
    fs.rmSync(outsideLink);
    await expectConsistent(b);
  });
});

describe("hostile store directories", () => {
  it("a dir that cannot be created fails at once with IO_ERROR, never loops (/proc/self/nope, a path through a file)", async () => {
    const root = freshDir("attache-hostile-");
    const file = path.join(root, "a-file");
    fs.writeFileSync(file, "x");
    const dirs = [path.join(file, "store"), ...(fs.existsSync("/proc/self") ? ["/proc/self/nope", "/proc/self/nope/deeper"] : [])];
    for (const dir of dirs) {
      await expectCode(`openStore in ${dir}`, () => openStore({ dir, sweepInterval: false }), "IO_ERROR");
    }
    // Missing parents are still created.
    const store = await openStore({ dir: path.join(root, "new", "nested", "store"), sweepInterval: false });
    await store.close();
  });
});
