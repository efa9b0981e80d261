/**
 * `attache update <ref>`: changes one live attachment's display name,
 * metadata or lifetime without staging it again, and prints it.
 */
import type { Command } from "commander";
import type { UpdateOptions } from "../index.js";
import { attachmentJson } from "./json-shapes.js";
import { parseMetadataOption, parseTtlOption, USAGE_ERROR } from "./option-parsers.js";
import { writeJson, writeOut } from "./output.js";
import { attachmentFields } from "./read-commands.js";
import { globalsOf, target, withStore } from "./store-session.js";

interface UpdateCommandOptions {
  scope?: string;
  name?: string;
  metadata?: Record<string, unknown>;
  ttl?: number;
  persist?: boolean;
}

/** Adds `update` to `program`. */
export function registerUpdateCommand(program: Command): void {
  program
    .command("update")
    .description("change an attachment's name, metadata or lifetime (counted from now) without staging it again")
    .argument("<ref>", "attache://<id> or the bare id")
    .option("--scope <scope>", "fail with NOT_FOUND unless the attachment is in this scope")
    .option("--name <name>", "a new display name")
    .option("--metadata <json>", "new metadata (a JSON object; replaces the old one)", parseMetadataOption)
    .option("--ttl <duration>", "a new lifetime from now, such as 2h or 7d (may shorten it)", parseTtlOption)
    .option("--persist", "never expire")
    .option("--no-persist", "expire after the store's default ttl from now (unless --ttl is given)")
    .action(async (ref: string, options: UpdateCommandOptions, command: Command) => {
      const changes: UpdateOptions = {
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
        ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
        ...(options.persist === undefined ? {} : { persist: options.persist }),
      };
      if (Object.keys(changes).length === 0) {
        command.error("nothing to change: give --name, --metadata, --ttl, --persist or --no-persist.", USAGE_ERROR);
      }
      if (options.persist === true && options.ttl !== undefined && options.ttl !== Infinity) {
        command.error("--persist and a finite --ttl contradict each other: choose one.", USAGE_ERROR);
      }
      const globals = globalsOf(command);
      await withStore(globals, async (store) => {
        const attachment = await target(store, options.scope).update(ref, changes);
        await (globals.json === true ? writeJson(attachmentJson(attachment)) : writeOut(attachmentFields(attachment, Date.now())));
      });
    });
}
