/**
 * Tests that run attache in child processes (the CLI, crash and concurrency
 * tests) use the built package in dist/. Build it once if it is missing or
 * older than the sources, so `npm test` works on its own.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

export default function setup(): void {
  const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "..");
  const built = ["dist/index.js", "dist/cli.js"].map((f) => path.join(root, f));
  const oldestBuild = Math.min(...built.map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0)));
  if (oldestBuild >= newestMtime(path.join(root, "src"))) return;
  execFileSync(process.execPath, [path.join(root, "node_modules", "tsup", "dist", "cli-default.js")], {
    cwd: root,
    stdio: "ignore",
  });
}
