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

/** True when the log shows a reset that began and had not ended by the time the log was `mark` bytes long. */
export function resetSince(file: string | undefined, mark: number): boolean {
  if (file === undefined) return false;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return false;
  }
  const endedBefore = new Set(
    text
      .slice(0, mark)
      .split("\n")
      .filter((l) => l.startsWith("e "))
      .map((l) => l.slice(2)),
  );
  return text
    .split("\n")
    .filter((l) => l.startsWith("b "))
    .some((l) => !endedBefore.has(l.slice(2)));
}

/** Resets the log shows: how many began, and how many of those ended. */
export function resetCounts(file: string | undefined): { begun: number; ended: number } {
  if (file === undefined) return { begun: 0, ended: 0 };
  const all = lines(file);
  return { begun: all.filter((l) => l.startsWith("b ")).length, ended: all.filter((l) => l.startsWith("e ")).length };
}
