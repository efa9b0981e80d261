// A child process that opens the store in argv[2], waits for "go" on stdin so
// that several workers start together, stages argv[3] (a file path) in scope
// argv[4], prints the attachment as JSON and closes the store.
import { openStore } from "../../dist/index.js";

const [dir, file, scope] = process.argv.slice(2);
const store = await openStore({ dir, sweepInterval: false });
process.stdout.write("ready\n");
await new Promise((resolve) => process.stdin.once("data", resolve));
const attachment = await store.stage(file, { scope, persist: true });
process.stdout.write(JSON.stringify(attachment) + "\n");
await store.close();
