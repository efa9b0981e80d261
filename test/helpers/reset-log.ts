/**
 * The parent's side of the reset log the stress workers share
 * (test/stress/workload.mjs, `resetLogMark` / `resetSince`): one line
 * `b <id>` appended before a reset begins and `e <id>` after it ends. A
 * worker records the log's size (a mark) when a stage begins; the attachment
 * may have been dropped only by a reset that had not ended by then.
 */
import fs from "node:fs";

function lines(file: string): string[] {
  try {
    return fs.readFileSync(file, "utf8").split("\n");
  } catch {
    return [];
  }
}

/** The workers' own check, shared so that both sides read the log the same way. */
export { resetSince } from "../stress/workload.mjs";

/** Resets the log shows: how many began, and how many of those ended. */
export function resetCounts(file: string | undefined): { begun: number; ended: number } {
  if (file === undefined) return { begun: 0, ended: 0 };
  const all = lines(file);
  return { begun: all.filter((l) => l.startsWith("b ")).length, ended: all.filter((l) => l.startsWith("e ")).length };
}
