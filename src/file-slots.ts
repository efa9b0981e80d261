/**
 * A per-process bound on the files the store holds open at once. Every
 * operation that holds files while it works (a stage: its source and its temp
 * file; a read; verify, which hashes one file at a time) takes a slot first
 * and queues while none is free, so a burst of concurrent calls waits its
 * turn instead of failing with EMFILE.
 *
 * The number of slots is an eighth of the process's descriptor limit (soft
 * `RLIMIT_NOFILE`, which Node raises to the hard limit at startup), between 2
 * and 256. A slot holds at most two descriptors (a stage's source and its
 * temp file), so the store's files stay within a quarter of the limit, and
 * the rest is left for the process itself: Node and libuv's own descriptors,
 * SQLite's three files per database, sockets, the caller's files, and the
 * streams `open()` hands out (those belong to the caller, who decides how
 * many to keep open, so they take no slot). With `ulimit -n 200` that is 25
 * slots (at most 50 descriptors); at the common 1024, 128 slots. Beyond 256
 * nothing is gained: the disk work runs on libuv's thread pool (4 threads by
 * default), so more concurrent files only wait there instead of here.
 * Where the limit cannot be read (no `/proc`), 1024 is assumed.
 *
 * Slots are per process, not per store: every store opened in the process
 * shares the one descriptor limit. An operation takes one slot and never a
 * second while it holds it, so the queue always moves; a stage holds its slot
 * until it ends, including while it waits for a stream source's bytes.
 */
import { readFileSync } from "node:fs";

/** Share of the descriptor limit given to slots (1 / SHARE_OF_LIMIT). */
const SHARE_OF_LIMIT = 8;
const MIN_SLOTS = 2;
const MAX_SLOTS = 256;
/** The usual default soft limit, assumed when the real one cannot be read. */
const ASSUMED_DESCRIPTOR_LIMIT = 1024;

/** This process's soft limit on open files, from `/proc/self/limits`; `null` if unknown. */
export function descriptorLimit(): number | null {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    const limit = soft === undefined ? NaN : Number(soft);
    return Number.isSafeInteger(limit) && limit > 0 ? limit : null;
  } catch {
    return null;
  }
}

/** How many slots a process with `limit` descriptors gets (see the module comment). */
export function slotsForDescriptorLimit(limit: number | null): number {
  const known = limit ?? ASSUMED_DESCRIPTOR_LIMIT;
  return Math.min(MAX_SLOTS, Math.max(MIN_SLOTS, Math.floor(known / SHARE_OF_LIMIT)));
}

/** A counting semaphore: at most `size` callers run at once; the others wait in call order. */
export class FileSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    this.free = size;
  }

  /** Runs `operation` once a slot is free, and frees the slot when it settles. */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await operation();
    } finally {
      this.handOn();
    }
  }

  /** Passes the slot straight to the next waiter, so a newcomer cannot overtake the queue. */
  private handOn(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.free++;
    else next();
  }
}

let shared: FileSlots | undefined;

/** The process's slots, sized from its descriptor limit on first use. */
export function fileSlots(): FileSlots {
  return (shared ??= new FileSlots(slotsForDescriptorLimit(descriptorLimit())));
}
