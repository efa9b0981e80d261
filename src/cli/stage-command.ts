/**
 * `attache stage <file|-|url>...`: stages files (or stdin, or what an http(s)
 * URL serves) and prints the new attachments. Sources go to the store as they
 * are (a path, the stdin stream, a `URL` fetched under the store's SSRF
 * guard), and large ones show a progress bar on a terminal, driven by the
 * store's `onProgress` hook.
 */
import { fstatSync, statSync } from "node:fs";
import { devNull } from "node:os";
import path from "node:path";
import { isatty } from "node:tty";
import { InvalidArgumentError, Option, type Command } from "commander";
import { isAttacheError, parseDuration, type Attachment, type StageMode, type StageOptions, type Store } from "../index.js";
import { formatBytes, formatExpiry, renderTable } from "./format.js";
import { attachmentJson } from "./json-shapes.js";
import { parseMetadataOption, parseTtlOption, USAGE_ERROR } from "./option-parsers.js";
import { writeJson, writeOut } from "./output.js";
import { byteProgress, LARGE_INPUT_BYTES, progressWanted, type ByteProgress } from "./progress.js";
import { globalsOf, withStore } from "./store-session.js";

interface StageCommandOptions {
  scope?: string;
  name?: string;
  ttl?: number;
  persist?: boolean;
  type?: string;
  checksum?: string;
  mode: StageMode;
  metadata?: Record<string, unknown>;
  source?: string;
  quiet?: boolean;
  header: Record<string, string>;
  allowPrivateNetwork?: boolean;
  fetchTimeout?: number;
}

/** An argument that is a URL to fetch rather than a path: it starts with http:// or https://. */
function isUrlArgument(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** `--fetch-timeout`: a duration (`30s`, `5m`), more than zero. */
function parseFetchTimeoutOption(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value, "--fetch-timeout");
  } catch (err) {
    if (isAttacheError(err)) throw new InvalidArgumentError(err.message);
    throw err;
  }
  if (ms === 0) throw new InvalidArgumentError("--fetch-timeout must be more than 0, such as 30s or 5m.");
  return ms;
}

/** `--header 'Name: value'`, repeatable: collected into one object (a repeated name keeps the last value). */
function parseHeaderOption(value: string, previous: Record<string, string>): Record<string, string> {
  const colon = value.indexOf(":");
  const name = colon === -1 ? "" : value.slice(0, colon).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new InvalidArgumentError(`expected "Name: value", such as 'Authorization: Bearer …'; got ${JSON.stringify(value)}.`);
  }
  return { ...previous, [name]: value.slice(colon + 1).trim() };
}

interface Staged {
  attachment: Attachment;
  /** False when the scope already held these bytes and got its attachment back. */
  created: boolean;
  /** The bytes were already stored (by any scope): nothing was written. */
  deduplicated: boolean;
}

/** What a stage did, in words: a new attachment, one the scope already had, or a new one for bytes already stored. */
function outcomeWords({ created, deduplicated }: Staged): string {
  if (!created) return "existing attachment";
  return deduplicated ? "new, bytes already stored" : "new attachment";
}

/** Adds `attache stage` to `program`. */
export function registerStageCommand(program: Command): void {
  program
    .command("stage")
    .description("stage files (or stdin, as -) and print their refs")
    .argument("<sources...>", "files to stage; - reads stdin; http:// and https:// URLs are fetched")
    .option("--scope <scope>", 'scope the attachments belong to (default: "default")')
    .option("--name <name>", "display name (one source only; default: the file's basename)")
    .option("--ttl <duration>", 'lifetime such as 30m, 24h, 7d (default: the store\'s, 24h)', parseTtlOption)
    .option("--persist", "never expire")
    .option("--type <media-type>", "declared content type (default: sniffed from the bytes, then the name)")
    .option("--checksum <sha256>", "expected SHA-256, hex or sha256:<hex> (one source only)")
    .addOption(new Option("--mode <mode>", "who owns the bytes").choices(["copy", "move", "reference"]).default("copy"))
    .option("--metadata <json>", "a JSON object kept with each attachment", parseMetadataOption)
    .option("--source <label>", 'provenance label such as "telegram" or "tool:image-gen"')
    .option("-q, --quiet", "no progress bar; print only the refs, one per line")
    .option("--header <'Name: value'>", "request header for URL sources, sent to the URL's origin only (repeatable)", parseHeaderOption, {})
    .option("--allow-private-network", "let URL sources reach loopback, private and link-local addresses (tests, trusted networks)")
    .option("--fetch-timeout <duration>", "longest time a URL source may take, redirects and body included (default: 10m)", parseFetchTimeoutOption)
    .action(async (sources: string[], options: StageCommandOptions, command: Command) => {
      if (sources.filter((source) => source === "-").length > 1) command.error("stdin (-) can be staged only once per call.", USAGE_ERROR);
      if (sources.length > 1 && options.name !== undefined) command.error("--name applies to one source; stage the files one by one.", USAGE_ERROR);
      if (sources.length > 1 && options.checksum !== undefined) command.error("--checksum applies to one source; stage the files one by one.", USAGE_ERROR);
      if (options.mode !== "copy" && sources.includes("-")) command.error(`--mode ${options.mode} needs a file; stdin can only be copied.`, USAGE_ERROR);
      const urls = sources.filter(isUrlArgument);
      if (options.mode !== "copy" && urls.length > 0) command.error(`--mode ${options.mode} needs a file; a URL can only be copied.`, USAGE_ERROR);
      for (const url of urls) if (!URL.canParse(url)) command.error(`${url} is not a valid URL.`, USAGE_ERROR);
      const refusal = sources.includes("-") ? stdinRefusal() : null;
      if (refusal !== null) command.error(refusal, USAGE_ERROR);
      const globals = globalsOf(command);
      const staged: Staged[] = [];
      try {
        await withStore(globals, async (store) => {
          for (const source of sources) staged.push(await stageOne(store, source, options));
        });
      } finally {
        // Whatever was staged before a failure keeps its ref, so the caller must learn it.
        if (staged.length > 0) await printStaged(staged, globals.json === true, options.quiet === true);
      }
    });
}

/** Stages one source; aborts it cleanly (nothing kept) on Ctrl-C or SIGTERM. */
async function stageOne(store: Store, source: string, options: StageCommandOptions): Promise<Staged> {
  const controller = new AbortController();
  const abort = (signal: NodeJS.Signals) => controller.abort(new Error(`interrupted by ${signal}`));
  // Once: a second Ctrl-C finds no listener and ends the process the default way.
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);
  const progress = progressWanted(options.quiet) ? stageProgress(source) : undefined;
  try {
    // A path stays a path, so the store checks the file itself and can move or reference it.
    const input = source === "-" ? process.stdin : isUrlArgument(source) ? new URL(source) : source;
    const { created, deduplicated, ...attachment } = await store.stage(input, {
      ...stageOptionsOf(options),
      signal: controller.signal,
      ...(progress === undefined ? {} : { onProgress: progress.onProgress }),
    });
    return { attachment, created, deduplicated };
  } finally {
    progress?.finish();
    process.off("SIGINT", abort);
    process.off("SIGTERM", abort);
  }
}

/** The library's options for these flags; an absent flag stays `undefined`, which the library reads as its default. */
function stageOptionsOf(options: StageCommandOptions): StageOptions {
  return {
    mode: options.mode,
    scope: options.scope,
    name: options.name,
    ttl: options.ttl,
    persist: options.persist === true,
    contentType: options.type,
    checksum: options.checksum,
    metadata: options.metadata,
    source: options.source,
    fetch: {
      headers: options.header,
      allowPrivateNetwork: options.allowPrivateNetwork === true,
      ...(options.fetchTimeout === undefined ? {} : { timeout: options.fetchTimeout }),
    },
  };
}

/**
 * The bar for one source, fed by the store's `onProgress`. The store reports
 * a path's size with every count, so a file of {@link LARGE_INPUT_BYTES} or
 * more gets its bar from the first chunk on, and a smaller one never does.
 * Stdin has a size only when it is redirected from a regular file (fstat
 * tells); without one, the bar shows bytes and rate and appears once that
 * many bytes went by.
 */
function stageProgress(source: string): { onProgress: NonNullable<StageOptions["onProgress"]>; finish(): void } {
  const label = source === "-" ? "stdin" : isUrlArgument(source) ? urlLabel(source) : path.basename(source);
  const stdinSize = source === "-" ? stdinFileSize() : null;
  const startedAt = Date.now();
  let bar: ByteProgress | undefined;
  return {
    onProgress({ bytes, total }) {
      const known = total ?? stdinSize;
      bar ??= byteProgress(label, known, known !== null && known >= LARGE_INPUT_BYTES ? 0 : LARGE_INPUT_BYTES, startedAt);
      bar.update(bytes, known);
    },
    finish: () => bar?.finish(),
  };
}

/**
 * Why stdin cannot be staged, or `null` when it can. A closed stdin (`<&-`)
 * would be staged as an empty attachment: the OS (or Node, at startup) puts
 * the null device in its place, so it reads as empty and exit 0 would hide the
 * mistake; the null device itself is refused for the same reason. A terminal
 * would wait for typing that a script never sends.
 */
function stdinRefusal(): string | null {
  if (isatty(0)) {
    return "stdin is a terminal: pipe or redirect the bytes to stage (attache stage - < file), or give the file's path.";
  }
  let stats;
  try {
    stats = fstatSync(0);
  } catch {
    return "stdin is closed: pipe or redirect the bytes to stage (attache stage - < file), or give the file's path.";
  }
  if (!stats.isCharacterDevice()) return null;
  let nullDevice;
  try {
    nullDevice = statSync(devNull);
  } catch {
    return null;
  }
  return stats.rdev === nullDevice.rdev
    ? `stdin is closed (or ${devNull}): there are no bytes to stage. Pipe or redirect them (attache stage - < file), or give the file's path; stage an empty file by its path.`
    : null;
}

/** A URL's last path segment (its host when the path is empty), for the progress bar. */
function urlLabel(source: string): string {
  const url = new URL(source);
  return url.pathname.split("/").filter((part) => part !== "").pop() ?? url.host;
}

/** The size of stdin when it is redirected from a regular file, else `null`. */
function stdinFileSize(): number | null {
  try {
    const stats = fstatSync(0);
    return stats.isFile() ? stats.size : null;
  } catch {
    return null;
  }
}

async function printStaged(staged: readonly Staged[], json: boolean, quiet: boolean): Promise<void> {
  if (json) {
    await writeJson(staged.map(({ attachment, created, deduplicated }) => ({ ...attachmentJson(attachment), created, deduplicated })));
    return;
  }
  if (quiet) {
    await writeOut(staged.map(({ attachment }) => `${attachment.ref}\n`).join(""));
    return;
  }
  const now = Date.now();
  const columns = [
    { header: "ref" },
    { header: "scope", maxWidth: 32 },
    { header: "name", maxWidth: 40 },
    { header: "size", align: "right" as const },
    { header: "type", maxWidth: 32 },
    { header: "expires" },
    { header: "outcome" },
  ];
  const rows = staged.map(({ attachment: a, ...one }) => [
    a.ref,
    a.scope,
    a.name,
    formatBytes(a.size),
    a.contentType,
    formatExpiry(a.expiresAt, now),
    outcomeWords({ attachment: a, ...one }),
  ]);
  await writeOut(renderTable(columns, rows));
}
