/**
 * The provider a delivery command uploads to (`--to openai|anthropic|gemini`),
 * built from the environment the way each official SDK builds its default
 * client, and the flags that shape it.
 *
 *   --to openai      openai            OPENAI_API_KEY                        OPENAI_BASE_URL
 *   --to anthropic   @anthropic-ai/sdk ANTHROPIC_API_KEY or _AUTH_TOKEN      ANTHROPIC_BASE_URL
 *   --to gemini      @google/genai     GOOGLE_API_KEY or GEMINI_API_KEY      GOOGLE_GEMINI_BASE_URL
 *
 * The CLI reads the key (the first variable set, in the SDK's order), so a
 * missing one is a usage error that names the variable instead of a failed
 * request; the SDK reads the rest itself (base URL, and OpenAI's
 * OPENAI_ORG_ID and OPENAI_PROJECT_ID). The SDKs are optional peers of attache-store: each is imported
 * when its provider is asked for, and a missing one is a usage error that
 * names the package to install.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { parseByteSize, parseDuration, type Duration } from "../index.js";
import { anthropicFiles } from "../providers/anthropic.js";
import type { Destination } from "../providers/destination.js";
import { geminiFiles, type GeminiFilesClient } from "../providers/gemini.js";
import { openaiFiles, type OpenAIFilePurpose, type OpenAIFilesClient } from "../providers/openai.js";
import type { AnthropicFilesClient } from "../providers/anthropic.js";
import { parseCountOption } from "./option-parsers.js";

/** The values of `--to`. */
export const PROVIDERS = ["openai", "anthropic", "gemini"] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** The values of `--purpose` (OpenAI's `FilePurpose`). */
export const OPENAI_PURPOSES: readonly OpenAIFilePurpose[] = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"];
/** The purpose an OpenAI upload gets without `--purpose`: files given to a model as input. */
export const DEFAULT_PURPOSE: OpenAIFilePurpose = "user_data";

/** What each provider needs from the environment: its SDK package, a key in any of `keys`, and the base-URL variable the SDK reads. */
export const PROVIDER_ENV: Readonly<Record<ProviderName, { sdk: string; keys: readonly string[]; baseUrl: string }>> = {
  openai: { sdk: "openai", keys: ["OPENAI_API_KEY"], baseUrl: "OPENAI_BASE_URL" },
  anthropic: { sdk: "@anthropic-ai/sdk", keys: ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"], baseUrl: "ANTHROPIC_BASE_URL" },
  gemini: { sdk: "@google/genai", keys: ["GOOGLE_API_KEY", "GEMINI_API_KEY"], baseUrl: "GOOGLE_GEMINI_BASE_URL" },
};

/** The destination flags, as commander parses them. */
export interface DestinationFlags {
  to?: ProviderName;
  purpose?: OpenAIFilePurpose;
  expiresAfter?: string;
  chunkSize?: number;
  concurrency?: number;
}

/** `--expires-after`: a duration, kept as typed so the provider's range error quotes it back. */
function parseExpiresAfter(value: string): string {
  try {
    parseDuration(value, "--expires-after");
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value.trim();
}

/** `--chunk-size`: a byte size such as 16MiB or 5MB. */
function parseChunkSize(value: string): number {
  let bytes: number;
  try {
    bytes = parseByteSize(value, "--chunk-size");
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  if (!Number.isFinite(bytes) || bytes < 1) throw new InvalidArgumentError(`--chunk-size must be a size of at least 1 byte, such as 16MiB; got ${JSON.stringify(value)}.`);
  return bytes;
}

/** `--concurrency`: a whole number, one or more. */
function parseConcurrency(value: string): number {
  const count = parseCountOption(value);
  if (count < 1) throw new InvalidArgumentError(`expected a whole number of at least 1 such as 4; got ${JSON.stringify(value)}.`);
  return count;
}

/** Adds `--to` and the flags that shape the destination to `command`. */
export function addDestinationOptions(command: Command, to: { required: boolean; description: string }): Command {
  const provider = new Option("--to <provider>", to.description).choices(PROVIDERS);
  return command
    .addOption(to.required ? provider.makeOptionMandatory() : provider)
    .addOption(new Option("--purpose <purpose>", `openai: what the file is for (default ${DEFAULT_PURPOSE})`).choices(OPENAI_PURPOSES))
    .option("--expires-after <duration>", "openai, anthropic: when the provider deletes the file, such as 7d (default: never)", parseExpiresAfter)
    .option("--chunk-size <size>", "openai, gemini: part size of a chunked upload, such as 16MiB", parseChunkSize)
    .option("--concurrency <count>", "openai: parts in flight at once (default 4)", parseConcurrency);
}

/**
 * Why `flags` cannot work together, or `null`: each flag applies to the
 * providers whose API has the setting, and naming it for another would be
 * silently ignored.
 */
export function destinationFlagsProblem(flags: DestinationFlags): string | null {
  const to = flags.to;
  const applies: [string, unknown, readonly ProviderName[]][] = [
    ["--purpose", flags.purpose, ["openai"]],
    ["--expires-after", flags.expiresAfter, ["openai", "anthropic"]],
    ["--chunk-size", flags.chunkSize, ["openai", "gemini"]],
    ["--concurrency", flags.concurrency, ["openai"]],
  ];
  for (const [flag, value, providers] of applies) {
    if (value === undefined) continue;
    if (to === undefined) return `${flag} shapes an upload: give it with --to ${providers.join("|")}.`;
    if (!providers.includes(to)) return `${flag} applies to --to ${providers.join(" or --to ")}; ${providerWhy(to, flag)}`;
  }
  return null;
}

function providerWhy(to: ProviderName, flag: string): string {
  if (to === "anthropic") return flag === "--purpose" ? "Anthropic files have no purpose." : "Anthropic takes a file in one request.";
  if (to === "gemini") {
    if (flag === "--expires-after") return "Gemini keeps files for 48 hours.";
    if (flag === "--concurrency") return "Gemini's resumable protocol sends its chunks in order.";
    return "Gemini files have no purpose.";
  }
  return "";
}

/** Imports a provider's SDK; a seam for tests of the missing-SDK message. */
export type SdkImporter = (provider: ProviderName) => Promise<unknown>;

/** Each SDK, imported only when its provider is asked for (the specifiers stay literal, and external to the build). */
const importSdk: SdkImporter = (provider) => {
  if (provider === "openai") return import("openai");
  if (provider === "anthropic") return import("@anthropic-ai/sdk");
  return import("@google/genai");
};

/** Reports a usage error (exit 2); never returns. */
export type UsageFailure = (message: string) => never;

/** The first of `names` set to a non-blank value in `env`, as the SDKs read them (trimmed, empty = unset). */
function firstSet(env: NodeJS.ProcessEnv, names: readonly string[]): string | undefined {
  return names.find((name) => (env[name]?.trim() ?? "") !== "");
}

/** The SDK module of `provider`; a missing package is a usage error naming it. */
async function loadSdk(provider: ProviderName, importer: SdkImporter, fail: UsageFailure): Promise<unknown> {
  const { sdk } = PROVIDER_ENV[provider];
  try {
    return await importer(provider);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && String((err as Error).message).includes(sdk)) {
      fail(`--to ${provider} needs the ${sdk} package: npm install ${sdk} (an optional peer dependency of attache-store).`);
    }
    throw err;
  }
}

/** The SDK's client class: its named export, else its default one. */
function clientClass<T>(module: unknown, name: string): new (options?: object) => T {
  const mod = module as { default?: unknown; [key: string]: unknown };
  const found = mod[name] ?? mod.default;
  if (typeof found !== "function") throw new Error(`the SDK module has no ${name} export`);
  return found as new (options?: object) => T;
}

/**
 * The destination `flags.to` names, with a client built from `env`. A key
 * that is not set, or an SDK that is not installed, is reported through
 * `fail` (a usage error); a flag value out of the provider's range fails
 * in the factory with INVALID_ARGUMENT, which the CLI reports as a usage
 * error in flag words (error-text.ts).
 */
export async function providerDestination(
  flags: DestinationFlags & { to: ProviderName },
  fail: UsageFailure,
  env: NodeJS.ProcessEnv = process.env,
  importer: SdkImporter = importSdk,
): Promise<Destination> {
  const { to } = flags;
  const needs = PROVIDER_ENV[to];
  const key = firstSet(env, needs.keys);
  if (key === undefined) {
    fail(`--to ${to} needs an API key: set ${needs.keys.join(" or ")} (and ${needs.baseUrl} for another endpoint).`);
  }
  const sdk = await loadSdk(to, importer, fail);
  const credential = env[key]?.trim();
  const tuning = {
    ...(flags.chunkSize === undefined ? {} : { chunkSize: flags.chunkSize }),
    ...(flags.concurrency === undefined ? {} : { concurrency: flags.concurrency }),
  };
  const expiresAfter: { expiresAfter?: Duration } = flags.expiresAfter === undefined ? {} : { expiresAfter: flags.expiresAfter };
  if (to === "openai") {
    // The SDK reads OPENAI_BASE_URL, OPENAI_ORG_ID and OPENAI_PROJECT_ID itself.
    const client = new (clientClass<OpenAIFilesClient>(sdk, "OpenAI"))({ apiKey: credential });
    return openaiFiles({ client, purpose: flags.purpose ?? DEFAULT_PURPOSE, ...expiresAfter, ...tuning });
  }
  if (to === "anthropic") {
    // A key, else a bearer token, as the SDK prefers them; the SDK reads ANTHROPIC_BASE_URL itself.
    const client = new (clientClass<AnthropicFilesClient>(sdk, "Anthropic"))(key === "ANTHROPIC_API_KEY" ? { apiKey: credential } : { authToken: credential });
    return anthropicFiles({ client, ...expiresAfter, ...tuning });
  }
  // The Gemini Developer API, never Vertex AI (it has no Files API), whatever GOOGLE_GENAI_USE_VERTEXAI says.
  // GOOGLE_API_KEY first, as the SDK prefers it; the SDK reads GOOGLE_GEMINI_BASE_URL itself.
  const client = new (clientClass<GeminiFilesClient>(sdk, "GoogleGenAI"))({ apiKey: credential, vertexai: false });
  return geminiFiles({ client, ...tuning });
}

/** The help text after `upload --help` and `render --help`: where each provider's key and endpoint come from. */
export const PROVIDER_ENV_HELP = `
Environment (read by each provider's official SDK, an optional peer):
  --to openai     OPENAI_API_KEY; OPENAI_BASE_URL           npm install openai
  --to anthropic  ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN;
                  ANTHROPIC_BASE_URL                 npm install @anthropic-ai/sdk
  --to gemini     GOOGLE_API_KEY or GEMINI_API_KEY;
                  GOOGLE_GEMINI_BASE_URL                npm install @google/genai`;
