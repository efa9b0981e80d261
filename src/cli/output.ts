/**
 * Writing to stdout without losing output and without crashing when the
 * reader goes away. Every write waits for `drain` when the pipe is full, so a
 * large `ls --json` or `cat` runs in bounded memory; an EPIPE (`attache cat
 * x | head`) ends output quietly, as a well-behaved Unix filter does.
 */
import type { Readable } from "node:stream";

let readerGone = false;

process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") {
    readerGone = true;
    return;
  }
  // Any other stdout failure (disk full behind a redirect) must not pass silently.
  process.stderr.write(`attache: IO_ERROR: Could not write to stdout: ${err.message}.\n`);
  process.exitCode = 1;
  readerGone = true;
});

/** True once stdout's reader has gone away; further output is pointless. */
export function isStdoutGone(): boolean {
  return readerGone;
}

/** Writes `chunk` to stdout and resolves when stdout can take more. */
export function writeOut(chunk: string | Uint8Array): Promise<void> {
  if (readerGone) return Promise.resolve();
  if (process.stdout.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      process.stdout.off("drain", done);
      process.stdout.off("error", done);
      resolve();
    };
    process.stdout.on("drain", done);
    process.stdout.on("error", done);
  });
}

/** Writes `value` as pretty-printed JSON (two-space indent) and a newline. */
export function writeJson(value: unknown): Promise<void> {
  return writeOut(JSON.stringify(value, null, 2) + "\n");
}

/**
 * Writes a JSON array one element at a time, so that listing a large store
 * never holds it all in memory. The text is the same as {@link writeJson}
 * would produce for the whole array.
 */
export async function writeJsonArray<T>(items: AsyncIterable<T>, toJson: (item: T) => unknown): Promise<void> {
  let first = true;
  for await (const item of items) {
    if (readerGone) return;
    const element = JSON.stringify(toJson(item), null, 2).replace(/\n/g, "\n  ");
    await writeOut(`${first ? "[\n" : ",\n"}  ${element}`);
    first = false;
  }
  await writeOut(first ? "[]\n" : "\n]\n");
}

/**
 * Copies a stream to stdout. Errors of the source (an attachment that fails
 * verification at its end) propagate; a reader that went away stops the copy
 * without an error.
 */
export async function pipeToStdout(source: Readable): Promise<void> {
  try {
    for await (const chunk of source) {
      if (readerGone) break;
      await writeOut(chunk as Uint8Array);
    }
  } finally {
    source.destroy();
  }
}
