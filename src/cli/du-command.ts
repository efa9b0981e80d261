/**
 * `attache du [<scope>...] [--limit <n>]`: the scopes holding the most live
 * bytes (`store.largestScopes()`), or the named ones (`store.metrics({ scope })`),
 * with their counts and bytes. Both read running totals and indexes, so `du`
 * costs the same on a store of any size.
 */
import { InvalidArgumentError, type Command } from "commander";
import type { ScopeMetrics } from "../index.js";
import { formatBytes, formatRelative, plural, renderTable } from "./format.js";
import { parseCountOption, USAGE_ERROR } from "./option-parsers.js";
import { scopeMetricsJson } from "./json-shapes.js";
import { writeJson, writeOut } from "./output.js";
import { globalsOf, withStore } from "./store-session.js";

const DEFAULT_LIMIT = 10;

/** `--limit` for `du`: a whole number, one or more. */
function parseLimit(value: string): number {
  const limit = parseCountOption(value);
  if (limit < 1) throw new InvalidArgumentError(`expected a whole number of at least 1 such as 20; got ${JSON.stringify(value)}.`);
  return limit;
}

function duTable(scopes: readonly ScopeMetrics[], now: number): string {
  const share = (part: { count: number; bytes: number }) => `${part.count} (${formatBytes(part.bytes)})`;
  return renderTable(
    [
      { header: "scope", maxWidth: 40 },
      { header: "attachments", align: "right" },
      { header: "size", align: "right" },
      { header: "persistent" },
      { header: "expirable" },
      { header: "expired" },
      { header: "leases", align: "right" },
      { header: "next expiry" },
    ],
    scopes.map((m) => [
      m.scope,
      String(m.attachments),
      formatBytes(m.logicalBytes),
      share(m.persistent),
      share(m.expirable),
      share(m.expired),
      String(m.leases),
      m.nextExpiryAt === null ? "none" : formatRelative(m.nextExpiryAt, now),
    ]),
  );
}

/** Adds `attache du` to `program`. */
export function registerDuCommand(program: Command): void {
  program
    .command("du")
    .description("show the scopes using the most space (or the named ones), with counts and bytes")
    .argument("[scopes...]", "show these scopes instead of the largest")
    .option("--limit <count>", `at most this many of the largest scopes (default ${DEFAULT_LIMIT})`, parseLimit)
    .action(async (named: string[], options: { limit?: number }, command: Command) => {
      const globals = globalsOf(command);
      if (named.length > 0 && options.limit !== undefined) {
        command.error("--limit picks the largest scopes; name scopes or give --limit, not both.", USAGE_ERROR);
      }
      const limit = options.limit ?? DEFAULT_LIMIT;
      const { scopes, more } = await withStore(globals, async (store) => {
        if (named.length > 0) {
          const scopes: ScopeMetrics[] = [];
          for (const scope of named) scopes.push(await store.metrics({ scope }));
          return { scopes, more: 0 };
        }
        const scopes = await store.largestScopes({ limit });
        // Only when the list was cut may more scopes exist; the store-wide count is a few indexed reads.
        const more = globals.json !== true && scopes.length === limit ? (await store.metrics()).scopes - limit : 0;
        return { scopes, more };
      });
      if (globals.json === true) return writeJson(scopes.map(scopeMetricsJson));
      if (scopes.length === 0) return writeOut("no scopes with live attachments\n");
      const footer = more > 0 ? `${plural(more, "more scope")} not shown (raise --limit)\n` : "";
      await writeOut(duTable(scopes, Date.now()) + footer);
    });
}
