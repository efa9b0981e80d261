// Context for the small-file figures: what the filesystem under the temp dir
// charges per metadata operation, measured in the same run. A durable stage of
// a small buffer creates a temp file, writes and fsyncs it, renames it (often
// into a new fan-out directory) and commits to SQLite, so these bound it.
import fs from "node:fs";
import path from "node:path";
import { emit, rmrf, scenarioConfig, summary, syncDisks } from "../lib/common.js";

const { tmp, count, reps } = scenarioConfig();
const root = path.join(tmp, "fs-limits");
const payload = Buffer.alloc(4096, 1);

const ops = {
  "create empty file": (dir, i) => fs.closeSync(fs.openSync(path.join(dir, `f${i}`), "wx")),
  "create + write 4 KiB + close": (dir, i) => {
    const fd = fs.openSync(path.join(dir, `w${i}`), "wx");
    fs.writeSync(fd, payload);
    fs.closeSync(fd);
  },
  "create + write 4 KiB + fsync + close": (dir, i) => {
    const fd = fs.openSync(path.join(dir, `s${i}`), "wx");
    fs.writeSync(fd, payload);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  },
  mkdir: (dir, i) => fs.mkdirSync(path.join(dir, `d${i}`)),
  "rename (same dir)": (dir, i) => fs.renameSync(path.join(dir, `w${i}`), path.join(dir, `r${i}`)),
  unlink: (dir, i) => fs.unlinkSync(path.join(dir, `r${i}`)),
};

const samples = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
for (let rep = 0; rep < reps; rep++) {
  await rmrf(root);
  fs.mkdirSync(root, { recursive: true });
  syncDisks();
  // Order matters here (rename needs the written files, unlink the renamed ones).
  for (const [name, op] of Object.entries(ops)) {
    const start = performance.now();
    for (let i = 0; i < count; i++) op(root, i);
    samples[name].push(((performance.now() - start) * 1000) / count);
  }
}
await rmrf(root);
emit({ count, reps, microsecondsPerOp: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)])) });
