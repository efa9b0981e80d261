// Stages a file into the store in ./.attache (or $ATTACHE_DIR) and shows the
// result: `node examples/quickstart.mjs [file]` after `npm ci`.
// (Plain JavaScript on Node 20 has no `await using`; TypeScript compiles it.)
import { openStore } from "../dist/index.js";

const file = process.argv[2] ?? new URL("../README.md", import.meta.url);
const store = await openStore();
try {
  const chat = store.scope("example:chat");
  const staged = await chat.stage(file, { ttl: "30m", source: "quickstart" });
  console.log("staged", staged);
  const { path } = await chat.resolve(staged.ref);
  console.log("bytes at", path);
  console.log("metrics", await store.metrics());
} finally {
  await store.close();
}
