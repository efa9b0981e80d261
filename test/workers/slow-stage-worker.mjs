// A child process that starts staging a stream and never finishes it: it
// writes the first chunk (so a temp object exists under its writer's name),
// prints "writing", and waits to be killed. Its heartbeat keeps beating.
// ATTACHE_WORKER: { dir, gracePeriod }
import { PassThrough } from "node:stream";

const { dir, gracePeriod } = JSON.parse(process.env.ATTACHE_WORKER);
const { openStore } = await import(process.env.ATTACHE_DIST);
const store = await openStore({ dir, gracePeriod, sweepInterval: false });
const source = new PassThrough();
const staging = store.stage(source, { scope: "slow" });
staging.catch((err) => process.stdout.write(`failed ${err.code}\n`));
source.write(Buffer.alloc(64 * 1024, 7));
const tmp = `${dir}/tmp`;
const fs = await import("node:fs");
for (;;) {
  if (fs.readdirSync(tmp).some((name) => name.endsWith(".tmp"))) break;
  await new Promise((resolve) => setTimeout(resolve, 10));
}
process.stdout.write("writing\n");
// Stay alive (an unsettled top-level await alone would let the process exit) until killed.
setInterval(() => {}, 1 << 30);
