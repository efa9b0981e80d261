/**
 * `attache render <ref> --for <target>`: one attachment as one content part
 * of `target`'s API (`store.render()`), always as JSON, for piping into a
 * request (`jq`, `curl -d @-`). Inline by default when the bytes fit the
 * target's limits; by file id with `--to <provider>`, through the same
 * upload ledger as `attache upload`.
 */
import { Option, type Command } from "commander";
import type { RenderOptions, RenderTarget } from "../index.js";
import { interruptible } from "./interrupt.js";
import { USAGE_ERROR, usageFailureOf } from "./option-parsers.js";
import { writeJson } from "./output.js";
import {
  addDestinationOptions,
  destinationFlagsProblem,
  PROVIDER_ENV_HELP,
  providerDestination,
  type DestinationFlags,
  type ProviderName,
} from "./provider-destination.js";
import { globalsOf, target, withStore } from "./store-session.js";

/** The values of `--for`. */
export const RENDER_TARGETS: readonly RenderTarget[] = ["openai.responses", "openai.chat", "anthropic", "gemini", "ai-sdk", "codex"];

/**
 * The provider whose file ids a target's parts refer to: `"any"` for the AI
 * SDK (its file parts name any provider's file), `null` for Codex (a local
 * path, never a remote file).
 */
const FILES_OF: Readonly<Record<RenderTarget, ProviderName | "any" | null>> = {
  "openai.responses": "openai",
  "openai.chat": "openai",
  anthropic: "anthropic",
  gemini: "gemini",
  "ai-sdk": "any",
  codex: null,
};

interface RenderCommandOptions extends DestinationFlags {
  for: RenderTarget;
  via: "auto" | "inline" | "file";
  detail?: "low" | "high" | "auto";
  scope?: string;
}

/** Why these flags cannot work together, or `null`. */
function renderFlagsProblem(options: RenderCommandOptions): string | null {
  const files = FILES_OF[options.for];
  if (options.detail !== undefined && files !== "openai") return "--detail applies to --for openai.responses and openai.chat.";
  if (files === null && (options.to !== undefined || options.via !== "auto")) {
    return "--for codex takes a local path: neither --via inline, --via file nor --to applies.";
  }
  if (options.to !== undefined && options.via === "inline") return "--via inline puts the bytes in the part; --to applies to --via file and auto.";
  if (options.via === "file" && options.to === undefined) {
    return `--via file uploads the attachment: name the provider, as in --to ${files === "any" || files === null ? "openai" : files}.`;
  }
  if (options.to !== undefined && files !== "any" && files !== options.to) {
    return `--for ${options.for} refers to ${files} files; use --to ${files}, or render --for ${options.to}.`;
  }
  return destinationFlagsProblem(options);
}

/** Adds `attache render` to `program`. */
export function registerRenderCommand(program: Command): void {
  const render = program
    .command("render")
    .description("print an attachment as one content part of a model API's request, as JSON")
    .argument("<ref>", "attache://<id> or the bare id")
    .addOption(new Option("--for <target>", "the API the part is for").choices(RENDER_TARGETS).makeOptionMandatory())
    .addOption(new Option("--via <how>", "inline (base64 or text), file (a remote file id, with --to), or auto").choices(["auto", "inline", "file"]).default("auto"))
    .addOption(new Option("--detail <level>", "openai: the image (and Responses file) detail").choices(["low", "high", "auto"]));
  addDestinationOptions(render, { required: false, description: "upload to this provider when the part goes by file id" })
    .option("--scope <scope>", "fail with NOT_FOUND unless the attachment is in this scope")
    .addHelpText(
      "after",
      `
Always JSON (--json changes nothing): the part exactly as the target's API documents it.
--via auto (the default) inlines what fits the target's limits; past them it goes by file id
when --to is given, else fails with TOO_LARGE.
${PROVIDER_ENV_HELP}`,
    )
    .action(async (ref: string, options: RenderCommandOptions, command: Command) => {
      const problem = renderFlagsProblem(options);
      if (problem !== null) command.error(problem, USAGE_ERROR);
      const destination =
        options.to === undefined ? undefined : await providerDestination({ ...options, to: options.to }, usageFailureOf(command));
      const part = await withStore(globalsOf(command), (store) =>
        interruptible((signal) => {
          const renderOptions: RenderOptions = {
            via: options.via,
            signal,
            ...(destination === undefined ? {} : { destination }),
            ...(options.detail === undefined ? {} : { detail: options.detail }),
          };
          return target(store, options.scope).render(ref, options.for, renderOptions);
        }, destination?.key),
      );
      await writeJson(part);
    });
}
