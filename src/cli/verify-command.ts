/**
 * `attache verify [--repair]`: re-hashes every blob and referenced file.
 * Verify reads everything, so on a terminal it shows a byte bar. The library
 * reports no progress of its own; the bytes are counted as they leave the
 * blob store, which the command wraps (a public `openStore` option) before
 * opening the store.
 */
import { pipeline } from "node:stream";
import path from "node:path";
import type { Command } from "commander";
import { AttacheError, filesystemBlobStore, type BlobStore, type VerifyReport } from "../index.js";
import { formatBytes, plural, renderFields, renderTable } from "./format.js";
import { writeJson, writeOut } from "./output.js";
import { byteProgress, countingStream, LARGE_INPUT_BYTES, progressWanted, type ByteProgress } from "./progress.js";
import { globalsOf, storeDirOf, withStore } from "./store-session.js";

/** Adds `attache verify` to `program`. */
export function registerVerifyCommand(program: Command): void {
  program
    .command("verify")
    .description("re-hash every blob and referenced file; exit 1 if any is corrupt or missing")
    .option("--repair", "drop the attachments whose bytes are damaged, and delete stray files")
    .option("-q, --quiet", "no progress bar")
    .action(async (options: { repair?: boolean; quiet?: boolean }, command: Command) => {
      const globals = globalsOf(command);
      let progress: ByteProgress | undefined;
      const blobStore = progressWanted(options.quiet)
        ? countingBlobStore(filesystemBlobStore({ dir: path.resolve(storeDirOf(globals)) }), (bytes) => progress?.add(bytes))
        : undefined;
      const report = await withStore(
        globals,
        async (store) => {
          if (blobStore !== undefined) progress = byteProgress("verify", (await store.metrics()).storedBytes, LARGE_INPUT_BYTES);
          try {
            return await store.verify({ repair: options.repair === true });
          } finally {
            progress?.finish();
          }
        },
        blobStore === undefined ? {} : { blobStore },
      );
      await (globals.json === true ? writeJson(report) : writeOut(verifyText(report)));
      const damaged = report.corrupt.length + report.missing.length;
      if (damaged > 0 && options.repair !== true) {
        // Scripts and CI learn of damage from the exit code, as from any other failure.
        throw new AttacheError(
          "INTEGRITY_ERROR",
          `verify found ${plural(damaged, "damaged blob")} (${report.corrupt.length} corrupt, ${report.missing.length} missing). Run attache verify --repair to drop the affected attachments, then stage the files again.`,
        );
      }
    });
}

/**
 * `base` with its reads counted. Only `openRead` changes; every other call
 * goes to `base` unchanged, bound to it.
 */
function countingBlobStore(base: BlobStore, onBytes: (bytes: number) => void): BlobStore {
  return new Proxy(base, {
    get(target, property) {
      if (property === "openRead") {
        return async (digest: string) => {
          const counter = countingStream(onBytes);
          // pipeline carries a read error over to the counter, which verify is reading.
          pipeline(await target.openRead(digest), counter, () => undefined);
          return counter;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function verifyText(report: VerifyReport): string {
  const fields = renderFields([
    ["checked", `${plural(report.blobsChecked, "blob")}, ${formatBytes(report.bytesChecked)}`],
    ["corrupt", String(report.corrupt.length)],
    ["missing", String(report.missing.length)],
    ["orphan files", String(report.orphanFiles.length)],
    ["repaired", String(report.repaired)],
  ]);
  const problems = [
    ...report.corrupt.map((digest) => ["corrupt", digest]),
    ...report.missing.map((digest) => ["missing", digest]),
    ...report.orphanFiles.map((file) => ["orphan file", file]),
  ];
  return problems.length === 0 ? fields : `${fields}\n${renderTable([{ header: "problem" }, { header: "what" }], problems)}`;
}
