// Opens a store with umask 000 and reports the permission bits of everything
// it created, while it is open (so manifest.db-wal, -shm and a temp file of a
// stage in progress exist). Config: ATTACHE_WORKER = { dir, outside }.
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

const { dir, outside } = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
const { openStore } = await import(process.env.ATTACHE_DIST);

process.umask(0o000);
fs.mkdirSync(outside, { recursive: true, mode: 0o777 });
const store = await openStore({ dir, sweepInterval: false });
await store.stage(Buffer.from("copied bytes"));
const copiedPath = path.join(outside, "copied.txt");
fs.writeFileSync(copiedPath, "a path copied in", { mode: 0o666 });
await store.stage(copiedPath);
const movedPath = path.join(outside, "moved.txt");
fs.writeFileSync(movedPath, "a file moved in", { mode: 0o666 });
await store.stage(movedPath, { mode: "move" });
const streamed = await store.stage(Readable.from([Buffer.from("streamed "), Buffer.from("bytes")]));
const lease = await store.lease(streamed.ref);

// A stage in progress: its temp file exists until the stream ends.
let release;
const gate = new Promise((resolve) => (release = resolve));
const slow = (async function* () {
  yield Buffer.from("first half, ");
  await gate;
  yield Buffer.from("second half");
})();
const pending = store.stage(slow);
for (let i = 0; i < 200 && fs.readdirSync(path.join(dir, "tmp")).length === 0; i++) await sleep(5);

const modes = {};
const walk = (at) => {
  const stat = fs.lstatSync(at);
  modes[path.relative(dir, at) || "."] = { dir: stat.isDirectory(), mode: stat.mode & 0o777 };
  if (stat.isDirectory()) for (const name of fs.readdirSync(at)) walk(path.join(at, name));
};
walk(dir);
release();
await pending;
await lease.release();
await store.close();
console.log(JSON.stringify({ modes }));
