/**
 * The commands that change or measure the store as a whole: `rm`,
 * `release`, `sweep`, `metrics` and `reset`. (`verify` has its own file: it
 * needs a progress display.)
 */
import type { Command } from "commander";
import { uploadCounters } from "../index.js";
import { formatBytes, formatRelative, formatSpan, plural, renderFields, renderTable } from "./format.js";
import { metricsJson, sweepReportJson } from "./json-shapes.js";
import { renderPrometheus } from "./prometheus.js";
import { USAGE_ERROR } from "./option-parsers.js";
import { writeJson, writeOut } from "./output.js";
import { absoluteStoreDirOf, globalsOf, target, withStore } from "./store-session.js";

/** Adds `rm`, `release`, `sweep`, `metrics` and `reset` to `program`. */
export function registerMaintenanceCommands(program: Command): void {
  program
    .command("rm")
    .description("release attachments; their bytes are freed once nothing needs them")
    .argument("<refs...>", "attache://<id> or bare ids")
    .option("--scope <scope>", "only release attachments of this scope")
    .action(async (refs: string[], options: { scope?: string }, command: Command) => {
      const globals = globalsOf(command);
      const results: { ref: string; released: boolean }[] = [];
      try {
        await withStore(globals, async (store) => {
          const from = target(store, options.scope);
          for (const ref of refs) results.push({ ref: canonicalRef(ref), released: await from.release(ref) });
        });
      } finally {
        // Refs released before a failure (a malformed ref) are gone: say so.
        if (results.length > 0) {
          await (globals.json === true
            ? writeJson(results)
            : writeOut(renderTable([{ header: "ref" }, { header: "result" }], results.map((r) => [r.ref, r.released ? "released" : "not live (unknown, released or expired)"]))));
        }
      }
    });

  program
    .command("release")
    .description("release every attachment of a scope")
    .argument("<scope>", 'the scope, such as "session:abc"')
    .action(async (scope: string, _options: object, command: Command) => {
      const globals = globalsOf(command);
      const released = await withStore(globals, (store) => store.releaseScope(scope));
      await (globals.json === true
        ? writeJson({ scope, released })
        : writeOut(`released ${plural(released, "attachment")} of scope ${JSON.stringify(scope)}\n`));
    });

  program
    .command("sweep")
    .description("drop expired attachments and reclaim unneeded blobs and crash leftovers")
    .action(async (_options: object, command: Command) => {
      const globals = globalsOf(command);
      const report = await withStore(globals, (store) => store.sweep());
      if (globals.json === true) return writeJson(sweepReportJson(report));
      await writeOut(
        renderFields([
          ["expired", plural(report.expired, "attachment") + " dropped"],
          ["blobs deleted", `${report.blobsDeleted} (${formatBytes(report.bytesFreed)} freed)`],
          ["orphans", `${report.orphansReclaimed} reclaimed`],
          // Remote deletes happen only for destinations this process knows; the CLI's sweep knows none yet.
          ...(report.remoteDeleted + report.remoteFailed === 0
            ? []
            : [["remote files", `${report.remoteDeleted} deleted, ${report.remoteFailed} failed (retried by the next sweep)`] as const]),
          ["took", formatSpan(report.durationMs)],
        ]),
      );
    });

  program
    .command("metrics")
    .description("print the store's metrics")
    .option("--prometheus", "Prometheus text exposition format 0.0.4")
    .action(async (options: { prometheus?: boolean }, command: Command) => {
      const globals = globalsOf(command);
      if (options.prometheus === true && globals.json === true) command.error("--json and --prometheus are two output formats; pick one.", USAGE_ERROR);
      const metrics = await withStore(globals, (store) => store.metrics());
      if (options.prometheus === true) return writeOut(renderPrometheus(metrics, uploadCounters()));
      if (globals.json === true) return writeJson(metricsJson(metrics));
      const now = Date.now();
      const share = (part: { count: number; bytes: number }) => `${part.count} (${formatBytes(part.bytes)})`;
      await writeOut(
        renderFields([
          ["attachments", `${metrics.attachments} in ${plural(metrics.scopes, "scope")}`],
          ["logical size", formatBytes(metrics.logicalBytes)],
          ["stored", `${plural(metrics.blobs, "blob")}, ${formatBytes(metrics.storedBytes)}`],
          ["dedup saved", formatBytes(metrics.dedupSavedBytes)],
          ["persistent", share(metrics.persistent)],
          ["expirable", share(metrics.expirable)],
          ["expired", `${share(metrics.expired)} awaiting sweep`],
          ["leases", String(metrics.leases)],
          ["next expiry", metrics.nextExpiryAt === null ? "none" : formatRelative(metrics.nextExpiryAt, now)],
          ["remote", remoteSummary(metrics.remote)],
        ]),
      );
    });

  program
    .command("reset")
    .description("drop every attachment, blob and temp file (never a referenced file)")
    .option("--yes", "confirm: this cannot be undone")
    .action(async (options: { yes?: boolean }, command: Command) => {
      const globals = globalsOf(command);
      const dir = absoluteStoreDirOf(globals);
      if (options.yes !== true) command.error(`reset drops every attachment in ${dir} and cannot be undone; pass --yes to confirm.`, USAGE_ERROR);
      await withStore(globals, (store) => store.reset());
      await (globals.json === true
        ? writeJson({ dir, reset: true })
        : writeOut(`reset ${dir}: every attachment, blob and temp file was dropped\n`));
    });
}

/** The upload ledger in one line: `3 files (1.2 MiB) at 2 destinations`, or `none`. */
function remoteSummary(remote: { count: number; bytes: number; destinations: Record<string, unknown> }): string {
  if (remote.count === 0) return "none";
  return `${plural(remote.count, "file")} (${formatBytes(remote.bytes)}) at ${plural(Object.keys(remote.destinations).length, "destination")}`;
}

/** `attache://<id>` in lower case, for a ref the store has already accepted as well-formed. */
function canonicalRef(ref: string): string {
  const lower = ref.trim().toLowerCase();
  return lower.startsWith("attache://") ? lower : `attache://${lower}`;
}
