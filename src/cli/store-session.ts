/**
 * One command, one store session: the global options every command takes,
 * and {@link withStore}, which opens the store for the command and always
 * closes it again, whatever happened in between.
 */
import path from "node:path";
import type { Command } from "commander";
import { openStore, type ScopedStore, type Store } from "../index.js";

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

/**
 * Opens the store, runs `work`, and closes the store even when `work` fails.
 * The background sweeper stays off: a one-shot process should not start a
 * timer, and `attache sweep` sweeps explicitly.
 */
export async function withStore<T>(globals: GlobalOptions, work: (store: Store) => Promise<T>): Promise<T> {
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
