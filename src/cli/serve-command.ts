/**
 * `attache serve`: the store over HTTP (docs/service.md). The server code
 * (and Fastify) is loaded by a dynamic import when this command runs, so
 * `attache stage` and the library never pay for it.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { isAttacheError, parseByteSize, parseDuration } from "../index.js";
import { prepareStoreDir, storeDirOf, globalsOf } from "./store-session.js";

/** A duration flag in milliseconds (`10s`, `24h`). */
function durationFlag(flag: string): (value: string) => number {
  return (value) => {
    try {
      return parseDuration(value, flag);
    } catch (err) {
      if (isAttacheError(err)) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

/** `--max-size`: bytes, `100MiB`, `2GB`, or `unlimited`. */
function sizeFlag(value: string): number {
  if (value.trim().toLowerCase() === "unlimited") return Infinity;
  try {
    return parseByteSize(/^\s*\d+\s*$/.test(value) ? Number(value) : value, "--max-size");
  } catch (err) {
    if (isAttacheError(err)) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

function countFlag(value: string): number {
  if (!/^\s*[1-9]\d*\s*$/.test(value)) throw new InvalidArgumentError(`expected a whole number of at least 1; got ${JSON.stringify(value)}.`);
  return Number(value);
}

interface ServeFlags {
  listen: string;
  tokens?: string;
  maxSize: number;
  cors?: string;
  allowPrivateNetwork?: boolean;
  fetchTimeout: number;
  drainTimeout: number;
  uploadExpiry: number;
  maxUploads: number;
  logLevel: string;
}

/** Adds `attache serve` to `program`. */
export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the store over HTTP (JSON API, tus uploads, dashboard, /metrics)")
    .option("--listen <host:port>", "address to listen on (without --tokens: loopback only)", "127.0.0.1:7070")
    .option("--tokens <file>", 'JSON array of {"token"|"tokenSha256", "scopes": [...], "admin"?: true}')
    .option("--max-size <size>", "largest upload or fetched URL: bytes, 100MiB, 2GB, or unlimited", sizeFlag, Infinity)
    .option("--cors <origin>", "let browsers on this origin call the API (* = any)")
    .option("--allow-private-network", "from-url may reach loopback, private and link-local addresses")
    .option("--fetch-timeout <duration>", "total time for one from-url fetch", durationFlag("--fetch-timeout"), 600_000)
    .option("--drain-timeout <duration>", "on SIGTERM, wait this long for requests, then abort uploads", durationFlag("--drain-timeout"), 10_000)
    .option("--upload-expiry <duration>", "how long an unfinished tus upload may resume", durationFlag("--upload-expiry"), 86_400_000)
    .option("--max-uploads <n>", "uploads in flight at once; more get 503 with Retry-After", countFlag, 16)
    .addOption(new Option("--log-level <level>", "request log level (JSON lines on stdout)").choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"))
    .action(async (flags: ServeFlags, command: Command) => {
      const globals = globalsOf(command);
      prepareStoreDir(globals);
      const { serve } = await import("../server/serve.js");
      await serve({
        dir: storeDirOf(globals),
        listen: flags.listen,
        ...(flags.tokens === undefined ? {} : { tokensFile: flags.tokens }),
        maxSize: flags.maxSize,
        ...(flags.cors === undefined ? {} : { corsOrigin: flags.cors }),
        allowPrivateNetwork: flags.allowPrivateNetwork === true,
        fetchTimeoutMs: flags.fetchTimeout,
        drainTimeoutMs: flags.drainTimeout,
        uploadExpiryMs: flags.uploadExpiry,
        maxConcurrentUploads: flags.maxUploads,
        logLevel: flags.logLevel,
      });
    });
}
