/**
 * The last check of the embedded crash harnesses: a sweep past the grace
 * period (a store whose clock is an hour ahead) must leave nothing behind —
 * no temp file, intent, stale lease or unreferenced blob (store-audit.ts) —
 * and must keep every attachment a worker was told it had staged.
 */
import { isAttacheError, openStore } from "../../src/index.js";
import { auditStore, readManifest } from "./store-audit.js";

const HOUR = 3_600_000;

/** An error as one line: its code and message. */
export function explain(err: unknown): string {
  return isAttacheError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Sweeps `dir` an hour ahead; returns what is wrong afterwards, each line tagged. */
export async function sweepPastGrace(dir: string, tag: string, kept: Iterable<string>, gracePeriodMs: number): Promise<string[]> {
  const out: string[] = [];
  const later = Date.now() + HOUR;
  const sweeper = await openStore({ dir, sweepInterval: false, clock: () => later, gracePeriod: gracePeriodMs });
  try {
    await sweeper.sweep();
  } catch (err) {
    out.push(`${tag}: the sweep past the grace period fails: ${explain(err)}`);
  } finally {
    await sweeper.close();
  }
  out.push(...auditStore(dir, { hash: false, clean: { now: later, gracePeriodMs } }).violations.map((v) => `${tag}, after the sweep: ${v}`));
  const rows = new Set(readManifest(dir).attachments.map((a) => a.id));
  for (const id of kept) if (!rows.has(id)) out.push(`${tag}: the sweep dropped live attachment ${id}`);
  return out;
}
