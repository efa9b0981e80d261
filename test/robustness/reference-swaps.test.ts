/**
 * A `reference` attachment's outside file replaced after it was staged: by a
 * FIFO, a symlink (to /dev/zero or to a copy of the same bytes), or a file
 * that grew. Every reader must fail fast with INTEGRITY_ERROR, hand out no
 * more than the staged size, and never occupy libuv's thread pool in a
 * blocking open(2); `verify()` must end and report the attachment.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { isAttacheError, openStore, type Attachment, type Store } from "../../src/index.js";
import { settle } from "../helpers/settle.js";
import { freshDir } from "../helpers/temp-dirs.js";

const BYTES = Buffer.from("twelve bytes");


/** The operation must fail with INTEGRITY_ERROR within HANG_MS. */
async function expectIntegrityError(what: string, run: () => Promise<unknown>): Promise<void> {
  const result = await settle(run());
  if (result.ok) throw new Error(`${what}: expected INTEGRITY_ERROR, but it succeeded`);
  const err = result.error;
  expect(isAttacheError(err, "INTEGRITY_ERROR"), `${what}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`).toBe(true);
}

/**
 * Drains an open() stream, giving up once it has handed out more than
 * `limit` bytes (a stream of /dev/zero never ends on its own).
 */
async function drainAtMost(stream: Readable, limit: number): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of stream) {
      bytes += (chunk as Buffer).length;
      if (bytes > limit) {
        stream.destroy();
        return { bytes, error: new Error(`open() handed out ${bytes} bytes of a ${limit}-byte attachment`) };
      }
    }
    return { bytes, error: null };
  } catch (error) {
    return { bytes, error };
  }
}

// FIFOs made by a test, so that a reader blocked on one (the bug) is woken up
// afterwards instead of holding a thread-pool thread for the rest of the run.
const fifos: string[] = [];
afterEach(() => {
  while (fifos.length > 0) {
    const fifo = fifos.pop() as string;
    try {
      // O_RDWR on a FIFO never blocks and counts as a writer: blocked readers wake and see EOF.
      fs.closeSync(fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
    } catch {
      // already gone
    }
  }
});

interface Bench {
  store: Store;
  outside: string;
}

async function bench(): Promise<Bench> {
  const root = freshDir("attache-refswap-");
  const outside = path.join(root, "outside");
  fs.mkdirSync(outside);
  const store = await openStore({ dir: path.join(root, "store"), sweepInterval: false });
  return { store, outside };
}

/** Stages `bytes` by reference from a new file in `b.outside`. */
async function stageReference(b: Bench, name: string, bytes: Buffer = BYTES): Promise<{ file: string; attachment: Attachment }> {
  const file = path.join(b.outside, name);
  fs.writeFileSync(file, bytes);
  const attachment = await b.store.stage(file, { mode: "reference", scope: "refs" });
  return { file, attachment };
}

function swapForFifo(file: string): void {
  fs.unlinkSync(file);
  execFileSync("mkfifo", [file]);
  fifos.push(file);
}

function swapForSymlink(file: string, target: string): void {
  fs.unlinkSync(file);
  fs.symlinkSync(target, file);
}

describe("reference files swapped after staging", () => {
  it("a reference file replaced by a FIFO: read, open, resolve and lease fail fast with INTEGRITY_ERROR, verify reports it", async () => {
    const b = await bench();
    const { file, attachment } = await stageReference(b, "doc.txt");
    swapForFifo(file);
    await expectIntegrityError("read", () => b.store.read(attachment.ref));
    await expectIntegrityError("open", () => b.store.open(attachment.ref));
    await expectIntegrityError("resolve", () => b.store.resolve(attachment.ref));
    await expectIntegrityError("lease", () => b.store.lease(attachment.ref));
    const verified = await settle(b.store.verify());
    expect(verified.ok, `verify: ${verified.ok ? "" : String(verified.error)}`).toBe(true);
    if (verified.ok) expect([...verified.value.missing, ...verified.value.corrupt]).toEqual([attachment.digest]);
    expect(fs.statSync(file).isFIFO(), "the reference file is never touched").toBe(true);
    await b.store.close();
  });

  it("four concurrent reads of FIFO-swapped references do not block another scope's stage and read", async () => {
    const b = await bench();
    const swapped: Attachment[] = [];
    for (let i = 0; i < 4; i++) {
      const { file, attachment } = await stageReference(b, `fifo-${i}.txt`, Buffer.from(`reference ${i}`));
      swapForFifo(file);
      swapped.push(attachment);
    }
    const reads = swapped.map((a) => settle(b.store.read(a.ref)));
    const other = b.store.scope("other");
    const work = settle(
      (async () => {
        const staged = await other.stage(Buffer.from("unrelated bytes"));
        return other.read(staged.ref);
      })(),
    );
    const result = await work;
    expect(result.ok, `another scope's stage and read: ${result.ok ? "" : String(result.error)}`).toBe(true);
    if (result.ok) expect(result.value.toString()).toBe("unrelated bytes");
    for (const read of await Promise.all(reads)) {
      expect(read.ok).toBe(false);
      if (!read.ok) expect(isAttacheError(read.error, "INTEGRITY_ERROR"), String(read.error)).toBe(true);
    }
    await b.store.close();
  });

  it("a reference file replaced by a symlink to /dev/zero: open() yields at most the staged size and fails INTEGRITY_ERROR, verify() ends and reports it", async () => {
    const b = await bench();
    const { file, attachment } = await stageReference(b, "zero.txt");
    swapForSymlink(file, "/dev/zero");
    const opened = await settle(
      b.store.open(attachment.ref).then((stream) => drainAtMost(stream, attachment.size), (error: unknown) => ({ bytes: 0, error })),
    );
    expect(opened.ok, `open: ${opened.ok ? "" : String(opened.error)}`).toBe(true);
    if (opened.ok) {
      expect(opened.value.bytes).toBeLessThanOrEqual(attachment.size);
      expect(isAttacheError(opened.value.error, "INTEGRITY_ERROR"), String(opened.value.error)).toBe(true);
    }
    await expectIntegrityError("read", () => b.store.read(attachment.ref));
    await expectIntegrityError("resolve", () => b.store.resolve(attachment.ref));
    const verified = await settle(b.store.verify());
    expect(verified.ok, `verify: ${verified.ok ? "" : String(verified.error)}`).toBe(true);
    if (verified.ok) {
      expect([...verified.value.missing, ...verified.value.corrupt]).toEqual([attachment.digest]);
      expect(verified.value.bytesChecked).toBeLessThanOrEqual(attachment.size + 1);
    }
    expect(fs.lstatSync(file).isSymbolicLink(), "the reference file is never touched").toBe(true);
    await b.store.close();
  });

  it("a reference file replaced by a symlink to a copy of the same bytes is a changed file: INTEGRITY_ERROR", async () => {
    const b = await bench();
    const { file, attachment } = await stageReference(b, "linked.txt");
    const copy = path.join(b.outside, "copy.txt");
    fs.writeFileSync(copy, BYTES);
    swapForSymlink(file, copy);
    await expectIntegrityError("read", () => b.store.read(attachment.ref));
    await expectIntegrityError("open", () => b.store.open(attachment.ref));
    await expectIntegrityError("resolve", () => b.store.resolve(attachment.ref));
    await expectIntegrityError("lease", () => b.store.lease(attachment.ref));
    const report = await b.store.verify();
    expect([...report.missing, ...report.corrupt]).toEqual([attachment.digest]);
    await b.store.close();
  });

  it("a reference file that grew: INTEGRITY_ERROR without reading past the staged size + 1", async () => {
    const b = await bench();
    const { file, attachment } = await stageReference(b, "grown.txt");
    fs.appendFileSync(file, Buffer.alloc(8 << 20, 1));
    const opened = await settle(
      b.store.open(attachment.ref).then((stream) => drainAtMost(stream, attachment.size), (error: unknown) => ({ bytes: 0, error })),
    );
    expect(opened.ok, `open: ${opened.ok ? "" : String(opened.error)}`).toBe(true);
    if (opened.ok) {
      expect(opened.value.bytes).toBeLessThanOrEqual(attachment.size);
      expect(isAttacheError(opened.value.error, "INTEGRITY_ERROR"), String(opened.value.error)).toBe(true);
    }
    await expectIntegrityError("read", () => b.store.read(attachment.ref));
    await expectIntegrityError("resolve", () => b.store.resolve(attachment.ref));
    const report = await b.store.verify();
    expect(report.corrupt).toEqual([attachment.digest]);
    expect(report.bytesChecked, "verify reads no more than the staged size + 1").toBeLessThanOrEqual(attachment.size + 1);
    await b.store.close();
  });
});
