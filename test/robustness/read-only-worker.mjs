// Run as an unprivileged user (root ignores file modes): stages the same bytes
// in two scopes, then tries to write through the path resolve() hands out, as
// a careless tool would. Prints { writeError, otherScopeReads }.
// argv: <dist entry> <store dir>
import fs from "node:fs";

const [entry, dir] = process.argv.slice(2);
const { openStore } = await import(entry);
const store = await openStore({ dir, sweepInterval: false });
const mine = await store.stage(Buffer.from("shared bytes"), { scope: "tool" });
const theirs = await store.stage(Buffer.from("shared bytes"), { scope: "other" });
const { path } = await store.resolve(mine.ref);
let writeError = null;
try {
  fs.appendFileSync(path, " and a formatter's newline\n");
} catch (err) {
  writeError = err.code;
}
let otherScopeReads;
try {
  otherScopeReads = (await store.read(theirs.ref)).toString() === "shared bytes";
} catch (err) {
  otherScopeReads = err.code;
}
await store.close();
console.log(JSON.stringify({ uid: process.getuid(), writeError, otherScopeReads }));
