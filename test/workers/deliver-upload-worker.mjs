// A child process that uploads one attachment of a shared store to a fake
// provider through the official SDK client, as another agent process would.
// It opens the store, prints "ready", waits for `goFile` to exist (when
// given: so that several workers start at the same instant), uploads, and
// prints the record as one JSON line. A test may SIGKILL it at any moment.
// ATTACHE_WORKER: { dir, ref, provider: "openai" | "gemini", baseURL, apiKey, chunkSize?, concurrency?, goFile? }
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const config = JSON.parse(process.env.ATTACHE_WORKER);
const dist = path.dirname(process.env.ATTACHE_DIST);
const { openStore } = await import(process.env.ATTACHE_DIST);
const store = await openStore({ dir: config.dir, sweepInterval: false });

let destination;
const common = {
  ...(config.chunkSize ? { chunkSize: config.chunkSize } : {}),
  ...(config.concurrency ? { concurrency: config.concurrency } : {}),
  retry: { retries: 3, minDelay: 1, maxDelay: 50 },
};
if (config.provider === "gemini") {
  const { GoogleGenAI } = await import("@google/genai");
  const { geminiFiles } = await import(pathToFileURL(path.join(dist, "gemini.js")).href);
  destination = geminiFiles({ client: new GoogleGenAI({ apiKey: config.apiKey, httpOptions: { baseUrl: config.baseURL } }), ...common });
} else {
  const { default: OpenAI } = await import("openai");
  const { openaiFiles } = await import(pathToFileURL(path.join(dist, "openai.js")).href);
  destination = openaiFiles({ client: new OpenAI({ apiKey: config.apiKey, baseURL: config.baseURL }), purpose: "user_data", ...common });
}

process.stdout.write("ready\n");
if (config.goFile) {
  while (!fs.existsSync(config.goFile)) await new Promise((resolve) => setTimeout(resolve, 2));
}
try {
  const record = await store.upload(config.ref, destination);
  process.stdout.write(`${JSON.stringify({ ok: true, key: destination.key, ...record })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ ok: false, code: err?.code ?? null, message: String(err?.message ?? err) })}\n`);
  process.exitCode = 1;
}
await store.close();
