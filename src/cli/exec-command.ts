/**
 * `attache exec <ref>... -- <command> [args...]`: runs a command with named,
 * read-only paths of the given attachments, and releases them when it exits.
 * Each `{}` argument of the command becomes the paths (in the order of the
 * refs); without one, the paths are appended. The command's exit code is
 * attache's; a signal ends it as 128 + the signal's number, like a shell.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { Command } from "commander";
import { AttacheError, type Lease } from "../index.js";
import { parseTtlOption, USAGE_ERROR } from "./option-parsers.js";
import { globalsOf, target, withStore } from "./store-session.js";

/** Adds `exec` to `program`. */
export function registerExecCommand(program: Command): void {
  program
    .command("exec")
    .description("run a command with named paths of attachments ({} stands for them), released when it exits")
    .argument("<refs...>", "attache://<id> or bare ids, then -- and the command")
    .option("--scope <scope>", "fail with NOT_FOUND unless every attachment is in this scope")
    .option("--ttl <duration>", "how long the paths stay valid if attache itself is killed (default 1h)", parseTtlOption)
    .action(async (items: string[], options: { scope?: string; ttl?: number }, command: Command) => {
      // Commander drops the "--"; find it in the raw arguments to split refs from the command.
      const separator = process.argv.indexOf("--");
      const commandLine = separator === -1 ? [] : process.argv.slice(separator + 1);
      const refs = items.slice(0, items.length - commandLine.length);
      if (commandLine.length === 0 || refs.length === 0) {
        command.error("give the refs, then -- and the command to run: attache exec REF... -- CMD [ARGS...]", USAGE_ERROR);
      }
      await withStore(globalsOf(command), async (store) => {
        const from = target(store, options.scope);
        const leases: Lease[] = [];
        try {
          for (const ref of refs) leases.push(await from.lease(ref, { named: true, ttl: options.ttl ?? "1h" }));
          process.exitCode = await run(commandLine, leases.map((l) => l.path));
        } finally {
          for (const lease of leases) await lease.release();
        }
      });
    });
}

/** Substitutes the paths for `{}` (or appends them) and runs the command with the terminal attached. */
function run(commandLine: readonly string[], paths: readonly string[]): Promise<number> {
  const [file, ...args] = commandLine as [string, ...string[]];
  const withPaths = args.includes("{}") ? args.flatMap((a) => (a === "{}" ? paths : [a])) : [...args, ...paths];
  return new Promise((resolve, reject) => {
    const child = spawn(file, withPaths, { stdio: "inherit" });
    // Ctrl-C reaches the child through the terminal; a signal sent to attache alone is passed on.
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    const done = () => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
    };
    child.on("error", (err) => {
      done();
      reject(new AttacheError("INVALID_ARGUMENT", `Could not run ${file}: ${err.message}. Check the command after --.`, { cause: err }));
    });
    child.on("exit", (code, signal) => {
      done();
      resolve(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}
