/**
 * `attache upload <ref> --to <provider>` hands an attachment to a
 * provider's Files API once (`store.upload()`): the ledger in the manifest
 * remembers the remote file, so running it again prints the same remote id
 * without a request. `attache uploads` lists that ledger.
 */
import type { Command } from "commander";
import type { ScopedStore, Store, UploadEntry, UploadRecord } from "../index.js";
import type { Destination } from "../providers/destination.js";
import { formatBytes, formatExpiry, formatRelative, renderFields, renderTable } from "./format.js";
import { interruptible } from "./interrupt.js";
import { uploadEntryJson, uploadRecordJson } from "./json-shapes.js";
import { parseCountOption, USAGE_ERROR, usageFailureOf } from "./option-parsers.js";
import { writeJson, writeOut } from "./output.js";
import { byteProgress, progressWanted, type ByteProgress } from "./progress.js";
import {
  addDestinationOptions,
  destinationFlagsProblem,
  PROVIDER_ENV_HELP,
  PROVIDERS,
  providerDestination,
  type DestinationFlags,
  type ProviderName,
} from "./provider-destination.js";
import { globalsOf, target, withStore } from "./store-session.js";

/** Uploads smaller than this go in one quick request: no bar. */
export const UPLOAD_BAR_BYTES = 1024 * 1024;

interface UploadCommandOptions extends DestinationFlags {
  scope?: string;
  force?: boolean;
  verify?: boolean;
  quiet?: boolean;
}

/** Adds `upload` and `uploads` to `program`. */
export function registerUploadCommands(program: Command): void {
  const upload = program
    .command("upload")
    .description("upload an attachment to a provider's Files API once; later runs reuse the remote file")
    .argument("<ref>", "attache://<id> or the bare id");
  addDestinationOptions(upload, { required: true, description: "the provider whose Files API takes the file" })
    .option("--scope <scope>", "fail with NOT_FOUND unless the attachment is in this scope")
    .option("--force", "upload even when the ledger holds a usable remote file")
    .option("--verify", "confirm a ledger hit with one metadata request; upload again if the file is gone")
    .option("-q, --quiet", "no progress bar; without --json, print only the remote id")
    .addHelpText("after", PROVIDER_ENV_HELP)
    .action(async (ref: string, options: UploadCommandOptions, command: Command) => {
      const problem = destinationFlagsProblem(options);
      if (problem !== null) command.error(problem, USAGE_ERROR);
      const globals = globalsOf(command);
      // Before the store opens: a missing key or SDK is the caller's to fix, and needs no store.
      const destination = await providerDestination({ ...options, to: options.to as ProviderName }, usageFailureOf(command));
      const record = await withStore(globals, (store) => uploadOne(target(store, options.scope), ref, destination, options));
      if (globals.json === true) return writeJson(uploadRecordJson(record));
      await writeOut(options.quiet === true ? `${record.remoteId}\n` : uploadFields(record, Date.now()));
    });

  program
    .command("uploads")
    .description("list the upload ledger: the files providers hold, by destination")
    .option("--destination <key>", "only this destination's files: a key as upload prints it, or openai, anthropic, gemini")
    .option("--limit <count>", "at most this many", parseCountOption)
    .action(async (options: { destination?: string; limit?: number }, command: Command) => {
      const globals = globalsOf(command);
      const wanted = options.destination?.trim();
      const provider = wanted !== undefined && !wanted.includes(":") ? wanted : undefined;
      if (provider !== undefined && !(PROVIDERS as readonly string[]).includes(provider)) {
        command.error(`--destination takes a destination key such as openai:1f0c… (as attache upload prints it), or a provider: ${PROVIDERS.join(", ")}; got ${JSON.stringify(wanted)}.`, USAGE_ERROR);
      }
      const entries = await withStore(globals, async (store) => {
        if (provider === undefined) return store.listUploads({ ...(wanted === undefined ? {} : { destination: wanted }), limit: options.limit });
        // Keys sort by provider first, so one provider's entries are one run of the ledger.
        const all = (await store.listUploads()).filter((entry) => entry.destination.startsWith(`${provider}:`));
        return all.slice(0, options.limit ?? all.length);
      });
      if (globals.json === true) return writeJson(entries.map(uploadEntryJson));
      await writeOut(entries.length === 0 ? "no uploads\n" : uploadsTable(entries, Date.now()));
    });
}

/** Uploads through the ledger; Ctrl-C aborts it with its progress kept for the next run. */
async function uploadOne(from: Store | ScopedStore, ref: string, destination: Destination, options: UploadCommandOptions): Promise<UploadRecord> {
  return interruptible(async (signal) => {
    const progress = progressWanted(options.quiet) ? uploadProgress((await from.get(ref)).name) : undefined;
    try {
      return await from.upload(ref, destination, {
        signal,
        ...(options.force === true ? { force: true } : {}),
        ...(options.verify === true ? { verify: true } : {}),
        ...(progress === undefined ? {} : { onProgress: progress.onProgress }),
      });
    } finally {
      progress?.finish();
    }
  }, destination.key);
}

/**
 * The bar for one upload, fed by the store's `onProgress` (bytes the
 * provider holds, resumed parts included). Network uploads are slow enough
 * that a bar helps from {@link UPLOAD_BAR_BYTES} on; a ledger hit reports
 * nothing and draws nothing.
 */
function uploadProgress(label: string): { onProgress: (progress: { bytes: number; total: number }) => void; finish(): void } {
  const startedAt = Date.now();
  let bar: ByteProgress | undefined;
  return {
    onProgress({ bytes, total }) {
      if (bar === undefined && total < UPLOAD_BAR_BYTES) return;
      bar ??= byteProgress(label, total, 0, startedAt);
      bar.update(bytes, total);
    },
    finish: () => bar?.finish(),
  };
}

function uploadFields(record: UploadRecord, now: number): string {
  return renderFields([
    ["remote id", record.remoteId],
    ...(record.uri === null ? [] : [["uri", record.uri] as const]),
    ["destination", record.destination],
    ["digest", record.digest],
    ["size", `${formatBytes(record.size)} (${record.size} bytes)`],
    ["uploaded", `${record.uploadedAt.toISOString()} (${formatRelative(record.uploadedAt, now)})`],
    ["expires", record.expiresAt === null ? "never (kept until deleted)" : `${record.expiresAt.toISOString()} (${formatExpiry(record.expiresAt, now)})`],
    ["outcome", record.reused ? "reused: the ledger had it, nothing was sent" : "uploaded"],
  ]);
}

function uploadsTable(entries: readonly UploadEntry[], now: number): string {
  return renderTable(
    [
      { header: "destination", maxWidth: 34 },
      { header: "remote id", maxWidth: 44 },
      { header: "digest", maxWidth: 20 },
      { header: "size", align: "right" },
      { header: "uploaded" },
      { header: "expires" },
    ],
    entries.map((entry) => [
      entry.destination,
      entry.remoteId,
      entry.digest,
      formatBytes(entry.size),
      formatRelative(entry.uploadedAt, now),
      formatExpiry(entry.expiresAt, now),
    ]),
  );
}
