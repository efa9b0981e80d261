/**
 * The `attache` command line: builds the program, runs one command, and maps
 * the outcome to an exit code. 0 = success; 1 = the store reported an
 * AttacheError (one line on stderr, `attache: <CODE>: <message>`); 2 = a usage
 * error (unknown command or option, missing or malformed argument, a
 * provider's API key or SDK missing for `--to`).
 *
 * The exit code is set on `process.exitCode`, never through `process.exit`,
 * so that output still being flushed to a pipe is not cut short.
 */
import { Command, CommanderError } from "commander";
import { isAttacheError } from "../index.js";
import { packageVersion } from "../version.js";
import { registerCompletionCommand } from "./completion.js";
import { registerDuCommand } from "./du-command.js";
import { describeFailure } from "./error-text.js";
import { registerMaintenanceCommands } from "./maintenance-commands.js";
import { registerReadCommands } from "./read-commands.js";
import { registerRenderCommand } from "./render-command.js";
import { registerServeCommand } from "./serve-command.js";
import { registerStageCommand } from "./stage-command.js";
import { registerUpdateCommand } from "./update-command.js";
import { registerUploadCommands } from "./upload-command.js";
import { registerExecCommand } from "./exec-command.js";
import { registerVerifyCommand } from "./verify-command.js";

/** Exit codes: documented in docs/cli.md, relied on by scripts. */
const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const HELP_FOOTER = `
Refs are attache://<id> (or the bare id), as printed by stage and ls.
Durations: 500ms, 30s, 15m, 24h, 7d, Infinity.

Environment:
  ATTACHE_DIR          store directory when --dir is not given (default ./.attache)
  ATTACHE_INLINE_MAX_SIZE  blobs up to this size are kept inside the manifest (default 64KiB; 0 = off)
  ATTACHE_FORCE_TTY    1 = draw progress even when stderr is not a terminal; 0 = never
  OPENAI_API_KEY, …    provider keys and endpoints for upload and render --to
                       (each SDK's own variables: see attache upload --help)

Exit codes: 0 success, 1 the store failed (attache: <CODE>: <message>), 2 usage error.`;

/** The whole program, with every command registered and errors turned into exceptions. */
function buildProgram(): Command {
  const program = new Command("attache")
    .description("stage, inspect and clean up the files AI agents work with, and deliver them to models")
    .version(packageVersion(), "-V, --version", "print the version")
    .option("--dir <path>", "store directory (default: $ATTACHE_DIR or ./.attache)")
    .option("--json", "machine-readable JSON output (see docs/cli.md)")
    .helpOption("-h, --help", "show help")
    .helpCommand("help [command]", "show help for a command")
    .configureHelp({ showGlobalOptions: true })
    .addHelpText("after", HELP_FOOTER)
    // Throw instead of exiting, so the store is closed and output flushed first.
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`attache: USAGE: ${text.replace(/^error: /, "")}`) });
  registerStageCommand(program);
  registerUpdateCommand(program);
  registerExecCommand(program);
  registerReadCommands(program);
  registerMaintenanceCommands(program);
  registerVerifyCommand(program);
  registerDuCommand(program);
  registerUploadCommands(program);
  registerRenderCommand(program);
  registerServeCommand(program);
  registerCompletionCommand(program);
  for (const command of program.commands) {
    command.exitOverride().showHelpAfterError(`(run 'attache ${command.name()} --help' for usage)`);
  }
  program.showHelpAfterError("(run 'attache --help' for usage)");
  return program;
}

/** One line on stderr for an error; newlines in a message would break that promise. */
function reportError(code: string, message: string): void {
  process.stderr.write(`attache: ${code}: ${message.replace(/\s*\n\s*/g, " ")}\n`);
}

/** Runs the CLI on `args` (without `node` and the script) and returns the exit code. */
async function runCli(args: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...args], { from: "user" });
    return EXIT.ok;
  } catch (err) {
    // --help and --version also arrive here, with exit code 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (isAttacheError(err)) {
      // In CLI words (flags and commands, not library calls); a few are the caller's mistake, exit 2.
      const failure = describeFailure(err);
      reportError(failure.code, failure.message);
      return failure.usage ? EXIT.usage : EXIT.failed;
    }
    // A bug, not a store failure: keep the stack for the report.
    reportError("INTERNAL", err instanceof Error ? (err.stack ?? err.message) : String(err));
    return EXIT.failed;
  }
}

void runCli(process.argv.slice(2)).then((code) => {
  // Keep a failure already recorded (stdout could not be written) rather than overwrite it with 0.
  if (code !== EXIT.ok || process.exitCode === undefined) process.exitCode = code;
});
