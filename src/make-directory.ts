/**
 * Creating the store's directories one level at a time, outermost first,
 * never with `{ recursive: true }`: Node's recursive mkdir loops for ever
 * where the system answers ENOENT under a directory that exists
 * (`openStore({ dir: "/proc/self/nope" })` never returned). Each step climbs
 * one level, so both loops end at the root.
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode, type FileSystem } from "./fs-seam.js";

/** Creates `dir` and any missing parents with `mode`; an existing directory is fine. */
export async function makeDirectory(seam: FileSystem, dir: string, mode: number): Promise<void> {
  const missing: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    try {
      await seam.stat(current);
      break;
    } catch (err) {
      const code = errnoCode(err);
      if ((code !== "ENOENT" && code !== "ENOTDIR") || path.dirname(current) === current) throw err;
      missing.push(current);
    }
  }
  for (const one of missing.reverse()) {
    try {
      await seam.mkdir(one, { mode });
    } catch (err) {
      // Another process created it first: fine.
      if (errnoCode(err) !== "EEXIST") throw err;
    }
  }
}

/** {@link makeDirectory} for the synchronous callers (opening the SQLite file). */
export function makeDirectorySync(dir: string, mode: number): void {
  const missing: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    try {
      fs.statSync(current);
      break;
    } catch (err) {
      const code = errnoCode(err);
      if ((code !== "ENOENT" && code !== "ENOTDIR") || path.dirname(current) === current) throw err;
      missing.push(current);
    }
  }
  for (const one of missing.reverse()) {
    try {
      fs.mkdirSync(one, { mode });
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
    }
  }
}
