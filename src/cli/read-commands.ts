/**
 * The commands that look at attachments without changing them: `ls`,
 * `show`, `cat` and `path`. Each ref-taking command accepts `--scope` to
 * confine the lookup, so a wrapper can hand an agent access to one scope only.
 */
import type { Command } from "commander";
import type { Attachment } from "../index.js";
import { formatBytes, formatExpiry, formatRelative, renderFields, renderTable } from "./format.js";
import { attachmentJson } from "./json-shapes.js";
import { parseCountOption, parseTtlOption, USAGE_ERROR } from "./option-parsers.js";
import { pipeToStdout, writeJson, writeJsonArray, writeOut } from "./output.js";
import { globalsOf, target, withStore } from "./store-session.js";

interface ListCommandOptions {
  scope?: string;
  expired?: boolean;
  limit?: number;
  after?: string;
}

/** Adds `ls`, `show`, `cat` and `path` to `program`. */
export function registerReadCommands(program: Command): void {
  program
    .command("ls")
    .description("list live attachments, oldest first")
    .option("--scope <scope>", "only this scope's attachments")
    .option("--expired", "also list expired attachments that await the sweep")
    .option("--limit <count>", "at most this many", parseCountOption)
    .option("--after <id>", "continue after this attachment id (paging)")
    .action(async (options: ListCommandOptions, command: Command) => {
      const globals = globalsOf(command);
      await withStore(globals, async (store) => {
        const attachments = store.iterate({
          scope: options.scope,
          limit: options.limit,
          after: options.after,
          includeExpired: options.expired === true,
        });
        if (globals.json === true) return writeJsonArray(attachments, attachmentJson);
        const rows: Attachment[] = [];
        for await (const attachment of attachments) rows.push(attachment);
        await writeOut(rows.length === 0 ? "no attachments\n" : listTable(rows, Date.now()));
      });
    });

  program
    .command("show")
    .description("show one attachment's details")
    .argument("<ref>", "attache://<id> or the bare id")
    .option("--scope <scope>", "fail with NOT_FOUND unless the attachment is in this scope")
    .action(async (ref: string, options: { scope?: string }, command: Command) => {
      const globals = globalsOf(command);
      await withStore(globals, async (store) => {
        const attachment = await target(store, options.scope).get(ref);
        await (globals.json === true ? writeJson(attachmentJson(attachment)) : writeOut(attachmentFields(attachment, Date.now())));
      });
    });

  program
    .command("cat")
    .description("write an attachment's bytes to stdout, verified against its digest")
    .argument("<ref>", "attache://<id> or the bare id")
    .option("--scope <scope>", "fail with NOT_FOUND unless the attachment is in this scope")
    .action(async (ref: string, options: { scope?: string }, command: Command) => {
      // Bytes are bytes: --json does not apply. A digest mismatch fails at the end with INTEGRITY_ERROR.
      await withStore(globalsOf(command), async (store) => pipeToStdout(await target(store, options.scope).open(ref)));
    });

  program
    .command("path")
    .description("print the local path of an attachment's bytes, to hand to a tool")
    .argument("<ref>", "attache://<id> or the bare id")
    .option("--scope <scope>", "fail with NOT_FOUND unless the attachment is in this scope")
    .option("--named", "a read-only path ending in the display name, kept by a lease that outlives this command")
    .option("--ttl <duration>", "with --named: how long the path stays valid (default 10m)", parseTtlOption)
    .action(async (ref: string, options: { scope?: string; named?: boolean; ttl?: number }, command: Command) => {
      const globals = globalsOf(command);
      if (options.ttl !== undefined && options.named !== true) command.error("--ttl applies to --named paths only.", USAGE_ERROR);
      await withStore(globals, async (store) => {
        // A named path is held by a lease that this command never releases: it ends with its ttl,
        // and the sweep then removes the path.
        const { path, attachment } = options.named === true
          ? await target(store, options.scope).lease(ref, { named: true, ...(options.ttl === undefined ? {} : { ttl: options.ttl }) })
          : await target(store, options.scope).resolve(ref);
        await (globals.json === true ? writeJson({ path, attachment: attachmentJson(attachment) }) : writeOut(`${path}\n`));
      });
    });
}

function listTable(attachments: readonly Attachment[], now: number): string {
  return renderTable(
    [
      { header: "id" },
      { header: "scope", maxWidth: 32 },
      { header: "name", maxWidth: 40 },
      { header: "size", align: "right" },
      { header: "type", maxWidth: 32 },
      { header: "created" },
      { header: "expires" },
    ],
    attachments.map((a) => [
      a.id,
      a.scope,
      a.name,
      formatBytes(a.size),
      a.contentType,
      formatRelative(a.createdAt, now),
      formatExpiry(a.expiresAt, now),
    ]),
  );
}

export function attachmentFields(a: Attachment, now: number): string {
  const moment = (date: Date) => `${date.toISOString()} (${formatRelative(date, now)})`;
  return renderFields([
    ["ref", a.ref],
    ["scope", a.scope],
    ["name", a.name],
    ["size", `${formatBytes(a.size)} (${a.size} bytes)`],
    ["type", a.contentType],
    ["digest", a.digest],
    ["mode", a.mode],
    ["path", a.path ?? "- (not on this host; attache path fetches it)"],
    ["source", a.source ?? "-"],
    ["created", moment(a.createdAt)],
    ["updated", moment(a.updatedAt)],
    ["expires", a.expiresAt === null ? "never (persistent)" : `${a.expiresAt.toISOString()} (${formatExpiry(a.expiresAt, now)})`],
    ["metadata", JSON.stringify(a.metadata)],
  ]);
}
