// A store in its own process, driven by the parent one command at a time, so
// tests can choreograph several processes deterministically: one JSON command
// per stdin line, one JSON reply per stdout line ({ seq, ok, value | error }).
//
// Config (ATTACHE_WORKER, JSON): { dir, clockFile?, gracePeriod? }
// clockFile: the store's clock reads epoch ms from this file (a clock shared
// by several processes). Commands may pause the agent's own filesystem calls
// (`pause: { call, match, when: "before" | "after" }`): the matching call waits
// until `resume`, and the agent reports `{ paused: call }` when it gets there.
import fs from "node:fs";
import readline from "node:readline";
import { Readable } from "node:stream";
import { sha256 } from "./workload.mjs";

const config = JSON.parse(process.env.ATTACHE_WORKER ?? "{}");
const { openStore, nodeFileSystem, isAttacheError } = await import(process.env.ATTACHE_DIST);

const clock = config.clockFile ? () => Number(fs.readFileSync(config.clockFile, "utf8")) : Date.now;
let pause = null; // { op, match, resume?: () => void }
const fileSystem = { ...nodeFileSystem };
async function maybePause(name, file, when) {
  if (pause !== null && pause.op === name && pause.when === when && file.includes(pause.match) && pause.resume === undefined) {
    await new Promise((resolve) => {
      pause.resume = resolve;
      reply({ seq: "pause", ok: true, value: { paused: name, file, when } });
    });
  }
}
for (const name of ["rename", "unlink", "stat", "rm"]) {
  fileSystem[name] = async (...args) => {
    const file = String(args[0]);
    await maybePause(name, file, "before");
    const result = await nodeFileSystem[name](...args);
    await maybePause(name, file, "after");
    return result;
  };
}

const store = await openStore({
  dir: config.dir,
  sweepInterval: false,
  clock,
  fileSystem,
  ...(config.gracePeriod === undefined ? {} : { gracePeriod: config.gracePeriod }),
});
const leases = new Map();

function reply(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const commands = {
  stage: ({ text, size, fill, scope, ttl, persist, mode, path }) =>
    store.stage(path ?? (text !== undefined ? Buffer.from(text) : Buffer.alloc(size, fill)), {
      scope,
      mode,
      ...(persist ? { persist: true } : { ttl: ttl ?? "7d" }),
    }),
  stageStream: ({ size, fill, scope, ttl }) => store.stage(Readable.from([Buffer.alloc(size, fill)]), { scope, ttl: ttl ?? "7d" }),
  get: ({ ref }) => store.get(ref),
  read: async ({ ref }) => {
    const bytes = await store.read(ref);
    return { size: bytes.length, digest: sha256(bytes) };
  },
  release: ({ ref }) => store.release(ref),
  releaseScope: ({ scope }) => store.releaseScope(scope),
  lease: async ({ ref, ttl }) => {
    const lease = await store.lease(ref, { ttl });
    leases.set(lease.id, lease);
    return { id: lease.id, path: lease.path, expiresAt: lease.expiresAt.getTime() };
  },
  leaseRelease: async ({ id }) => {
    await leases.get(id).release();
    leases.delete(id);
    return true;
  },
  sweep: () => store.sweep(),
  metrics: () => store.metrics(),
  reset: () => store.reset(),
  verify: () => store.verify(),
  list: ({ scope }) => store.list(scope === undefined ? {} : { scope }),
  pause: ({ call, match, when }) => {
    pause = { op: call, match, when: when ?? "before" };
    return true;
  },
  resume: () => {
    const resume = pause?.resume;
    pause = null;
    resume?.();
    return resume !== undefined;
  },
  close: async () => {
    await store.close();
    setImmediate(() => process.exit(0));
    return true;
  },
};

reply({ seq: "ready", ok: true, value: process.pid });
const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const { seq, op, ...args } = JSON.parse(line);
  Promise.resolve()
    .then(() => commands[op](args))
    .then(
      (value) => reply({ seq, ok: true, value }),
      (err) => reply({ seq, ok: false, error: { code: isAttacheError(err) ? err.code : null, message: String(err?.message ?? err), name: err?.name } }),
    );
});
