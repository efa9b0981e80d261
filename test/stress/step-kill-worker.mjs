// Stages one source and SIGKILLs itself right after the k-th filesystem call
// the stage makes (counted through the fileSystem seam), so the parent can
// check the store after a crash at every step of the durable-write protocol.
// With killAfter = -1 it stages to the end and prints the calls it made.
//
// Config (ATTACHE_WORKER, JSON): { dir, source, kind: "path" | "stream", mode, scope, killAfter }
import fs from "node:fs";
import { Readable } from "node:stream";

const config = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
const { openStore, nodeFileSystem } = await import(process.env.ATTACHE_DIST);

const calls = [];
let armed = false;

function after(op, file) {
  if (!armed) return;
  calls.push(`${op} ${file}`);
  if (calls.length - 1 === config.killAfter) process.kill(process.pid, "SIGKILL");
}

function wrapHandle(handle, file) {
  return new Proxy(handle, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      if (["read", "write", "sync", "stat", "close"].includes(key)) {
        return async (...args) => {
          const result = await value.apply(target, args);
          after(`handle.${key}`, file);
          return result;
        };
      }
      return value.bind(target);
    },
  });
}

const fileSystem = {};
for (const [name, fn] of Object.entries(nodeFileSystem)) {
  fileSystem[name] = async (...args) => {
    const result = await fn(...args);
    const wrapped = name === "open" ? wrapHandle(result, String(args[0])) : result;
    after(name, String(args[0]));
    return wrapped;
  };
}

const store = await openStore({ dir: config.dir, sweepInterval: false, fileSystem });
const source = config.kind === "stream" ? Readable.from([fs.readFileSync(config.source)]) : config.source;
armed = true;
const attachment = await store.stage(source, { mode: config.mode, scope: config.scope, ttl: "7d" });
armed = false;
await store.close();
console.log(JSON.stringify({ calls, id: attachment.id, checksum: attachment.checksum }));
