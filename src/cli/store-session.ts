/**
 * One command, one store session: the global options every command takes,
 * and {@link withStore}, which opens the store for the command and always
 * closes it again, whatever happened in between.
 */
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { AttacheError, openStore, type ScopedStore, type Store } from "../index.js";

/** The options every command takes (declared once, on the program). */
export interface GlobalOptions {
  /** The store's directory; the library's default when absent. */
  dir?: string;
  /** Machine-readable output instead of tables. */
  json?: boolean;
}

/** The global options as seen from a subcommand's action. */
export function globalsOf(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/**
 * The store directory the command will use, spelled exactly as the library
 * resolves it (`--dir`, else `$ATTACHE_DIR`, else `./.attache`), for the
 * commands that need to know it before the store is open.
 */
export function storeDirOf(globals: GlobalOptions): string {
  return globals.dir ?? process.env.ATTACHE_DIR ?? ".attache";
}

/** The absolute form of {@link storeDirOf}, for messages. */
export function absoluteStoreDirOf(globals: GlobalOptions): string {
  return path.resolve(storeDirOf(globals));
}

/** Where the store directory came from, for messages: the flag or variable to change. */
function dirSourceOf(globals: GlobalOptions): string {
  if (globals.dir !== undefined) return "--dir";
  return process.env.ATTACHE_DIR !== undefined ? "ATTACHE_DIR" : "the default ./.attache";
}

/** The mode the store gives its directories (owner only), for the ones created here. */
const DIR_MODE = 0o700;

/**
 * Makes sure the store directory exists, or fails at once with a message
 * that names `--dir`: the directories still missing are created one at a
 * time, outermost first, never with `recursive`. Node's recursive mkdir loops
 * forever where the system answers ENOENT under a directory that exists
 * (`attache --dir /proc/self/nope ls` never returned), and a path through a
 * file gets a message about the file rather than a raw EEXIST or ENOTDIR.
 * Every step climbs one level, so both loops end at the root.
 */
export function prepareStoreDir(globals: GlobalOptions): void {
  const dir = absoluteStoreDirOf(globals);
  const from = dirSourceOf(globals);
  const fail = (message: string, cause?: unknown) =>
    new AttacheError("IO_ERROR", `${message} Pass --dir (or set ATTACHE_DIR to) a directory you can write; it is created if missing.`, {
      path: dir,
      ...(cause === undefined ? {} : { cause }),
    });
  const missing: string[] = [];
  for (let current = dir; ; ) {
    try {
      if (statSync(current).isDirectory()) break;
      throw fail(
        current === dir
          ? `The store directory ${dir} (from ${from}) is not a directory.`
          : `The store directory ${dir} (from ${from}) cannot be created: ${current} is not a directory.`,
      );
    } catch (err) {
      if (err instanceof AttacheError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      const parent = path.dirname(current);
      // ENOTDIR: a parent is a file; the walk up reaches it and reports it.
      if ((code !== "ENOENT" && code !== "ENOTDIR") || parent === current) {
        throw fail(`Could not open the store directory ${dir} (from ${from}): ${(err as Error).message}.`, err);
      }
      missing.push(current);
      current = parent;
    }
  }
  for (const one of missing.reverse()) {
    try {
      mkdirSync(one, { mode: DIR_MODE });
    } catch (err) {
      // Another process created it first: fine, the store opens it.
      if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw fail(`Could not create the store directory ${dir} (from ${from}): ${(err as Error).message}.`, err);
    }
  }
}

/**
 * Opens the store, runs `work`, and closes the store even when `work` fails.
 * The background sweeper stays off: a one-shot process should not start a
 * timer, and `attache sweep` sweeps explicitly.
 */
export async function withStore<T>(globals: GlobalOptions, work: (store: Store) => Promise<T>): Promise<T> {
  prepareStoreDir(globals);
  const store = await openStore({ dir: storeDirOf(globals), sweepInterval: false });
  let result: T;
  try {
    result = await work(store);
  } catch (err) {
    // The command's own error is the one to report; a failing close must not hide it.
    await store.close().catch(() => undefined);
    throw err;
  }
  await store.close();
  return result;
}

/** The whole store, or one scope of it when `--scope` was given. */
export function target(store: Store, scope: string | undefined): Store | ScopedStore {
  return scope === undefined ? store : store.scope(scope);
}
