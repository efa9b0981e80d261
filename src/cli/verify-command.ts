/**
 * `attache verify [--repair]`: re-hashes every blob and referenced file.
 * Verify reads everything, so on a terminal it shows a byte bar, fed by the
 * store's `onProgress` hook after each file checked, over the managed blobs'
 * total size as `metrics()` reports it before the run. A damaged manifest
 * (`manifestProblems`) fails the command even with `--repair`, which leaves
 * it alone.
 */
import type { Command } from "commander";
import { AttacheError, type VerifyReport } from "../index.js";
import { formatBytes, plural, renderFields, renderTable } from "./format.js";
import { verifyReportJson } from "./json-shapes.js";
import { writeJson, writeOut } from "./output.js";
import { byteProgress, LARGE_INPUT_BYTES, progressWanted } from "./progress.js";
import { globalsOf, withStore } from "./store-session.js";

/** Adds `attache verify` to `program`. */
export function registerVerifyCommand(program: Command): void {
  program
    .command("verify")
    .description("re-hash every blob and referenced file; exit 1 if any is corrupt or missing")
    .option("--repair", "drop the attachments whose bytes are damaged, and delete stray files")
    .option("-q, --quiet", "no progress bar")
    .action(async (options: { repair?: boolean; quiet?: boolean }, command: Command) => {
      const globals = globalsOf(command);
      const report = await withStore(globals, async (store) => {
        if (!progressWanted(options.quiet)) return store.verify({ repair: options.repair === true });
        // Reference files are read too but are not in storedBytes; the bar's total grows to cover them.
        const progress = byteProgress("verify", (await store.metrics()).storedBytes, LARGE_INPUT_BYTES);
        try {
          return await store.verify({
            repair: options.repair === true,
            onProgress: ({ bytesChecked }) => progress.update(bytesChecked),
          });
        } finally {
          progress.finish();
        }
      });
      await (globals.json === true ? writeJson(verifyReportJson(report)) : writeOut(verifyText(report)));
      if (report.manifestProblems.length > 0) {
        // Not something --repair can fix: it leaves a damaged manifest alone, so this fails with or without it.
        throw new AttacheError(
          "INTEGRITY_ERROR",
          `verify found the manifest (manifest.db) damaged: ${report.manifestProblems[0]}${report.manifestProblems.length > 1 ? ` (and ${plural(report.manifestProblems.length - 1, "more problem")})` : ""}. Nothing was repaired. Restore manifest.db from a backup, or salvage it with the sqlite3 shell's .recover, then run attache verify again.`,
        );
      }
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

function verifyText(report: VerifyReport): string {
  const fields = renderFields([
    ["checked", `${plural(report.blobsChecked, "blob")}, ${formatBytes(report.bytesChecked)}`],
    ["corrupt", String(report.corrupt.length)],
    ["missing", String(report.missing.length)],
    ["orphan files", String(report.orphanFiles.length)],
    ["repaired", String(report.repaired)],
    ["manifest", report.manifestProblems.length === 0 ? "ok" : plural(report.manifestProblems.length, "problem")],
  ]);
  const problems = [
    ...report.corrupt.map((digest) => ["corrupt", digest]),
    ...report.missing.map((digest) => ["missing", digest]),
    ...report.orphanFiles.map((file) => ["orphan file", file]),
    ...report.manifestProblems.map((problem) => ["manifest", problem]),
  ];
  return problems.length === 0 ? fields : `${fields}\n${renderTable([{ header: "problem" }, { header: "what" }], problems)}`;
}
