// Shared by the crash and concurrency workers: a seeded PRNG, the pool of
// byte contents every process can produce identically (so processes stage
// the same bytes and race on the same blobs), a journal that survives
// SIGKILL, and the individual operations of the mixed workload.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { setImmediate as yieldToLoop } from "node:timers/promises";

/** mulberry32: small, fast, good enough to pick operations. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
    /** Picks a key of `weights` ({ name: weight }) in proportion to its weight. */
    weighted(weights) {
      const total = Object.values(weights).reduce((s, w) => s + w, 0);
      let r = next() * total;
      for (const [name, w] of Object.entries(weights)) {
        if ((r -= w) < 0) return name;
      }
      return Object.keys(weights)[0];
    },
  };
}

export const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** Sizes of the shared contents: empty, tiny, one chunk, several chunks. */
export function sharedSizes(stress) {
  return stress ? [0, 1, 100, 4096, 65_537, 1_048_577, 3_000_000, 9_000_001] : [0, 1, 100, 4096, 65_537, 300_000, 1_048_577];
}

const contentCache = new Map();
/** Shared content k: the same bytes in every process. */
export function sharedContent(k, sizes) {
  let bytes = contentCache.get(k);
  if (bytes === undefined) {
    const size = sizes[k % sizes.length];
    const rng = prng(0x5eed + k);
    const words = new Uint32Array(Math.ceil(size / 4));
    for (let i = 0; i < words.length; i++) words[i] = Math.floor(rng.next() * 2 ** 32);
    bytes = Buffer.from(words.buffer, 0, size);
    contentCache.set(k, bytes);
  }
  return bytes;
}

/** Bytes no other process stages. */
export function uniqueContent(rng, maxSize) {
  const size = 1 + rng.int(maxSize);
  return Buffer.concat([randomBytes(16), Buffer.alloc(size)]);
}

/**
 * An append-only journal of events, one JSON line each, written with one
 * write(2) and fsynced, so whatever a killed process logged is on disk.
 */
export function openJournal(file) {
  const fd = fs.openSync(file, "a");
  return {
    log(event) {
      fs.writeSync(fd, `${JSON.stringify(event)}\n`);
      fs.fsyncSync(fd);
    },
    close() {
      fs.closeSync(fd);
    },
  };
}

/** Splits bytes into a stream of random-sized chunks, yielding to the event loop now and then. */
export function chunkedStream(bytes, rng, web = false) {
  async function* chunks() {
    let offset = 0;
    while (offset < bytes.length) {
      const size = 1 + rng.int(256 * 1024);
      yield bytes.subarray(offset, Math.min(bytes.length, offset + size));
      offset += size;
      if (rng.chance(0.3)) await yieldToLoop();
    }
  }
  if (!web) return Readable.from(chunks());
  const iterator = chunks();
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(new Uint8Array(value));
    },
  });
}

/** Writes a source file for a path stage; `dir` decides the device (rename or copy for a move). */
export function writeSourceFile(dir, bytes, prefix) {
  const file = path.join(dir, `${prefix}-${process.pid}-${randomBytes(6).toString("hex")}.bin`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** A short description of an error for journals. */
export function describeError(err) {
  return err && typeof err === "object" && "code" in err ? `${err.code}: ${err.message}` : String(err);
}

/**
 * Resets are logged to a file shared by the processes of a run: one line
 * `b <id>` appended before a reset begins and `e <id>` after it ends (each one
 * O_APPEND write). The log's size is a mark: what a process stages after
 * taking it can have been dropped only by a reset that had not ended by then.
 */
export function resetLogMark(file) {
  if (!file) return 0;
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** True when the log shows a reset that began, and had not ended by the time the log was `mark` bytes long. */
export function resetSince(file, mark) {
  if (!file) return false;
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return false;
  }
  const endedBefore = new Set(
    text
      .slice(0, mark)
      .split("\n")
      .filter((l) => l.startsWith("e "))
      .map((l) => l.slice(2)),
  );
  return text
    .split("\n")
    .filter((l) => l.startsWith("b "))
    .some((l) => !endedBefore.has(l.slice(2)));
}
