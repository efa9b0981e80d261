/**
 * Parsers for option values. Each one throws commander's
 * `InvalidArgumentError`, so a bad value is reported as a usage error (exit
 * 2) before the store is even opened: in a CLI, a mistyped `--ttl` is the
 * caller's typo, not a failure of the store.
 */
import { InvalidArgumentError, type Command } from "commander";
import { isAttacheError, parseDuration } from "../index.js";

/** The second argument of `command.error()` for a usage error found inside an action. */
export const USAGE_ERROR = { exitCode: 2, code: "attache.usage" } as const;

/** `--ttl`: any duration the library accepts (`500ms`, `30s`, `1h30m`, `2d12h`, `1y`, `Infinity`), in milliseconds. */
export function parseTtlOption(value: string): number {
  try {
    return parseDuration(value, "--ttl");
  } catch (err) {
    if (isAttacheError(err)) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** `--metadata`: a JSON object, such as `{"chatId":42}`. */
export function parseMetadataOption(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new InvalidArgumentError(`--metadata must be JSON (${(err as Error).message}), such as '{"chatId":42}'.`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`--metadata must be a JSON object, such as '{"chatId":42}'; got ${value.trim().slice(0, 40)}.`);
  }
  return parsed as Record<string, unknown>;
}

/** `--limit`: a whole number, zero or more. */
export function parseCountOption(value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new InvalidArgumentError(`expected a whole number such as 20; got ${JSON.stringify(value)}.`);
  return Number(value);
}


/** A reporter of usage errors found inside `command`'s action (exit 2, then the pointer to its help). */
export function usageFailureOf(command: Command): (message: string) => never {
  return (message) => command.error(message, USAGE_ERROR);
}
