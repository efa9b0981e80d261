// A local OpenAI Files/Uploads server for the delivery benchmarks: the
// tests' strict fake, in a child process (./fake-openai-process.js), in its
// hash-and-discard mode (`keepBytes: false`: every part is hashed as it
// arrives and only its size and SHA-256 are kept, so 256 MiB are never held
// in memory), optionally answering every request `latencyMs` late.
import { fork } from "node:child_process";
import path from "node:path";
import { BENCH_DIR } from "./common.js";

/**
 * Starts the fake; resolves to `{ url, file(fileId), requests(route?), peak(route), unexpected(), close() }`.
 * `url` is the origin: point the SDK at `${url}/v1` with the API key "sk-test".
 */
export function startFakeOpenAI({ latencyMs = 0, keepBytes = false } = {}) {
  const child = fork(path.join(BENCH_DIR, "lib", "fake-openai-process.js"), [JSON.stringify({ latencyMs, keepBytes })], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  let next = 0;
  const waiting = new Map();
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      const failure = new Error(`the fake OpenAI server exited with ${code}`);
      reject(failure);
      for (const { reject: fail } of waiting.values()) fail(failure);
      waiting.clear();
    });
    child.on("message", (message) => {
      if (message.ready) {
        const call = (op, args = {}) =>
          new Promise((res, rej) => {
            const id = ++next;
            waiting.set(id, { resolve: res, reject: rej });
            child.send({ id, op, ...args });
          });
        resolve({
          url: message.url,
          file: (fileId) => call("file", { fileId }),
          requests: (route) => call("requests", { route }),
          peak: (route) => call("peak", { route }),
          unexpected: () => call("unexpected"),
          close: async () => {
            await call("close").catch(() => undefined);
            if (child.exitCode === null) await new Promise((done) => child.once("exit", done));
          },
        });
        return;
      }
      const pending = waiting.get(message.id);
      if (!pending) return;
      waiting.delete(message.id);
      if (message.error) pending.reject(new Error(message.error));
      else pending.resolve(message.result);
    });
  });
}
