/**
 * Fault injection through the `fileSystem` seam. For each operation (stage in
 * every mode, release, releaseScope, sweep, reset, read, openStore), the calls
 * it makes are recorded once with a pass-through wrapper; then the operation
 * is run again for every call index k with call k failing (ENOSPC, EIO,
 * EACCES, EMFILE), and once more with every call from k on failing (a disk
 * that stays full). After each fault:
 *
 *   - the operation resolves correctly or rejects with an AttacheError whose
 *     code is IO_ERROR (or the documented code: INVALID_SOURCE when the
 *     source itself cannot be read, INTEGRITY_ERROR when stored bytes cannot);
 *   - a failed stage leaves no attachment, and a failed move leaves its source;
 *   - every attachment that was live before still reads and verifies;
 *   - a later sweep past the grace period, with no faults, leaves no residue.
 *
 * Also: the manifest locked by another connection, and a blob corrupted on disk.
 */
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { buffer as drain } from "node:stream/consumers";
import { afterAll, describe, expect, it } from "vitest";
import {
  isAttacheError,
  nodeFileSystem,
  openStore,
  sqliteManifest,
  type Attachment,
  type AttacheErrorCode,
  type Store,
} from "../../src/index.js";
import { assertCliBuilt, runCli } from "../cli/cli-harness.js";
import { ERRNOS, FaultyFileSystem, type FaultPlan, type FsCall } from "../helpers/faulty-fs.js";
import { auditStore, hashFile, sha256Hex } from "../helpers/store-audit.js";
import { freshDir } from "../helpers/temp-dirs.js";
import { openSqlite } from "../support/sqlite.js";

/**
 * This suite injects faults into the filesystem calls of file blobs, so its
 * stores keep every blob in a file (small ones would otherwise stay inline in
 * the manifest and make no filesystem call to fail); inline blobs have their
 * own damage tests in test/store/inline-blobs.test.ts.
 */
const FILE_BLOBS = 0;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const GRACE_MS = 15 * MINUTE;

/** The device of the OS temp dir and of /dev/shm differ on most Linux machines: a cross-device move. */
const SHM = "/dev/shm";
const otherDevice = (() => {
  try {
    return fs.statSync(SHM).dev !== fs.statSync(freshDir("attache-dev-")).dev ? freshDir("attache-xdev-") : null;
  } catch {
    return null;
  }
})();

interface Env {
  root: string;
  dir: string;
  src: string;
  clock: { time: number };
  faulty: FaultyFileSystem;
  store: Store;
  /** Attachments live before the operation: each must still read afterwards. */
  kept: Attachment[];
  /** The outside file of the kept `reference` attachment, and its digest. */
  referenceFile: string;
  referenceDigest: string;
  /** What a scenario's setup hands to its run. */
  state: Record<string, unknown>;
}

interface Scenario {
  name: string;
  /** Codes a rejection may carry (IO_ERROR is always allowed for faults on the store's own files). */
  codes: AttacheErrorCode[];
  /** When true, kept attachments may be gone afterwards (reset). */
  destroysKept?: boolean;
  /** Kept attachments this fault may legitimately drop (documented: verify repair drops a reference file it cannot open). */
  mayDrop?(plan: FaultPlan, call: FsCall | undefined, env: Env): boolean;
  setup?(env: Env): Promise<void>;
  run(env: Env): Promise<unknown>;
  /** Planted leftovers that only verify({ repair }) removes (the sweep never walks blobs/): repaired before the residue check. */
  plantsStrays?: boolean;
  /** Scenario-specific checks after the fault; returns violations. */
  check?(env: Env, outcome: PromiseSettledResult<unknown>, before: Set<string>): Promise<string[]>;
}

const stats = { runs: 0, injected: 0, rejected: 0, absorbed: 0 };
const violationsSeen: string[] = [];

/** Stores live on tmpfs when there is one (fsync is free there), so the hundreds of runs stay fast. */
const FAST_ROOT = fs.existsSync(SHM) ? SHM : undefined;

async function makeEnv(): Promise<Env> {
  const root = freshDir("attache-faults-", FAST_ROOT);
  const dir = path.join(root, "store");
  const src = path.join(root, "src");
  fs.mkdirSync(src);
  const clock = { time: Date.now() };
  const faulty = new FaultyFileSystem();
  const store = await openStore({ dir, clock: () => clock.time, sweepInterval: false, fileSystem: faulty.fs, inlineMaxSize: FILE_BLOBS });
  const referenceFile = path.join(src, "kept-reference.bin");
  fs.writeFileSync(referenceFile, "bytes a reference attachment points at");
  const kept = [
    await store.stage(Buffer.from("kept: a copy that must survive every fault"), { scope: "kept", ttl: "7d" }),
    await store.stage(referenceFile, { scope: "kept", mode: "reference", ttl: "7d" }),
    await store.stage(Buffer.from("shared bytes"), { scope: "kept", persist: true }),
  ];
  return { root, dir, src, clock, faulty, store, kept, referenceFile, referenceDigest: hashFile(referenceFile), state: {} };
}

async function liveIds(store: Store): Promise<Set<string>> {
  return new Set((await store.list()).map((a) => a.id));
}

function writeSource(env: Env, name: string, bytes: string | Buffer, dir = env.src): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Checks a stage that failed left no attachment, and one that succeeded left a readable one. */
function stageCheck(expectedBytes: () => Buffer) {
  return async (env: Env, outcome: PromiseSettledResult<unknown>, before: Set<string>): Promise<string[]> => {
    const out: string[] = [];
    const after = await liveIds(env.store);
    if (outcome.status === "rejected") {
      const added = [...after].filter((id) => !before.has(id));
      if (added.length > 0) out.push(`the stage failed but left attachment(s) ${added.join(", ")} behind`);
    } else {
      const attachment = outcome.value as Attachment;
      const bytes = await env.store.read(attachment.ref).catch((err: unknown) => err);
      if (!Buffer.isBuffer(bytes)) out.push(`the stage resolved but its attachment does not read: ${String(bytes)}`);
      else if (!bytes.equals(expectedBytes())) out.push("the stage resolved but its attachment reads other bytes");
    }
    return out;
  };
}

const MOVE_BYTES = Buffer.from("a file the store takes over with mode move ".repeat(50));

function moveScenario(name: string, sourceDir: (env: Env) => string): Scenario {
  return {
    name,
    codes: ["IO_ERROR", "INVALID_SOURCE"],
    async setup(env) {
      env.state.file = writeSource(env, "moved.bin", MOVE_BYTES, sourceDir(env));
    },
    run: (env) => env.store.stage(env.state.file as string, { mode: "move", scope: "op", ttl: "7d" }),
    async check(env, outcome, before) {
      const out = await stageCheck(() => MOVE_BYTES)(env, outcome, before);
      const file = env.state.file as string;
      if (outcome.status === "rejected") {
        // A failed stage leaves nothing behind, and it must not take the user's file with it either.
        if (!fs.existsSync(file)) out.push(`the move failed (${explain(outcome.reason)}) and the source file is gone: data lost`);
        else if (!fs.readFileSync(file).equals(MOVE_BYTES)) out.push("the move failed and the source file was changed");
      } else if (fs.existsSync(file)) {
        // Removing the source is best effort once the attachment is committed (documented in stage.ts):
        // only a fault on that very removal may leave it, and then the blob must be an inode of its own.
        if (!env.state.sourceUnlinkFailed) out.push("the move resolved but the source file is still there");
        const attachment = outcome.value as Attachment;
        const blob = path.join(env.dir, "blobs", "sha256", attachment.checksum.slice(0, 2), attachment.checksum.slice(2, 4), attachment.checksum);
        if (fs.existsSync(blob) && fs.statSync(blob).ino === fs.statSync(file).ino) out.push("the move resolved and its blob shares an inode with the source file it left");
      }
      fs.rmSync(file, { force: true });
      return out;
    },
  };
}

const BIG = Buffer.alloc(2 * 1024 * 1024 + 17, 7); // several chunks and writes
const scenarios: Scenario[] = [
  {
    name: "openStore",
    codes: ["IO_ERROR"],
    async run(env) {
      const again = await openStore({ dir: env.dir, clock: () => env.clock.time, sweepInterval: false, fileSystem: env.faulty.fs, inlineMaxSize: FILE_BLOBS });
      await again.close();
    },
  },
  {
    name: "stage copy from a path",
    codes: ["IO_ERROR", "INVALID_SOURCE"],
    async setup(env) {
      env.state.file = writeSource(env, "photo.bin", BIG);
    },
    run: (env) => env.store.stage(env.state.file as string, { scope: "op", ttl: "7d" }),
    check: stageCheck(() => BIG),
  },
  {
    name: "stage copy from a stream",
    codes: ["IO_ERROR"],
    run: (env) => env.store.stage(Readable.from([BIG.subarray(0, 1 << 20), BIG.subarray(1 << 20)]), { scope: "op", ttl: "7d" }),
    check: stageCheck(() => BIG),
  },
  {
    name: "stage copy of bytes the store already holds",
    codes: ["IO_ERROR"],
    run: (env) => env.store.stage(Buffer.from("shared bytes"), { scope: "op", ttl: "7d" }),
    check: stageCheck(() => Buffer.from("shared bytes")),
  },
  moveScenario("stage move on the same filesystem", (env) => path.dirname(env.dir)),
  ...(otherDevice === null ? [] : [moveScenario("stage move from another filesystem", () => otherDevice)]),
  {
    name: "stage reference",
    codes: ["IO_ERROR", "INVALID_SOURCE"],
    async setup(env) {
      env.state.file = writeSource(env, "outside.txt", "an outside file, recorded in place");
    },
    run: (env) => env.store.stage(env.state.file as string, { mode: "reference", scope: "op", ttl: "7d" }),
    async check(env, outcome, before) {
      const out = await stageCheck(() => Buffer.from("an outside file, recorded in place"))(env, outcome, before);
      if (fs.readFileSync(env.state.file as string, "utf8") !== "an outside file, recorded in place") out.push("the reference source changed");
      return out;
    },
  },
  {
    name: "release the last attachment of a blob",
    codes: ["IO_ERROR"],
    async setup(env) {
      env.state.attachment = await env.store.stage(Buffer.from("released under fault"), { scope: "op" });
    },
    run: (env) => env.store.release((env.state.attachment as Attachment).ref),
  },
  {
    name: "releaseScope",
    codes: ["IO_ERROR"],
    async setup(env) {
      await env.store.stage(Buffer.from("scope member one"), { scope: "op" });
      await env.store.stage(Buffer.from("scope member two"), { scope: "op" });
      await env.store.stage(Buffer.from("shared bytes"), { scope: "op" });
    },
    run: (env) => env.store.releaseScope("op"),
  },
  {
    name: "lease release",
    codes: ["IO_ERROR"],
    async setup(env) {
      const a = await env.store.stage(Buffer.from("leased then released"), { scope: "op" });
      env.state.lease = await env.store.lease(a.ref);
      await env.store.release(a.ref);
    },
    run: (env) => (env.state.lease as { release(): Promise<void> }).release(),
  },
  {
    name: "sweep",
    codes: ["IO_ERROR"],
    async setup(env) {
      // Expired attachments, an orphan temp file, a crashed stage (intent + temp + blob), a stale lease.
      await env.store.stage(Buffer.from("expires soon"), { scope: "op", ttl: "1m" });
      await env.store.stage(Buffer.from("expires soon too"), { scope: "op2", ttl: "1m" });
      const leased = await env.store.stage(Buffer.from("leased, lease left behind"), { scope: "op", ttl: "1m" });
      await env.store.lease(leased.ref, { ttl: "2m" });
      fs.writeFileSync(path.join(env.dir, "tmp", "orphan.tmp"), "half written by a crashed stage");
      const crashed = "bytes of a stage that crashed after its rename";
      const hex = sha256Hex(crashed);
      const blob = path.join(env.dir, "blobs", "sha256", hex.slice(0, 2), hex.slice(2, 4), hex);
      fs.mkdirSync(path.dirname(blob), { recursive: true });
      fs.writeFileSync(blob, crashed);
      fs.writeFileSync(path.join(env.dir, "tmp", "named.tmp"), "temp named by an intent");
      const db = openSqlite(path.join(env.dir, "manifest.db"));
      db.prepare("INSERT INTO intents (id, digest, temp_name, created_at) VALUES ('crashed-intent', ?, 'named.tmp', ?)").run(hex, env.clock.time);
      db.prepare("INSERT INTO blobs (digest, size, refs, created_at) VALUES (?, ?, 0, ?) ON CONFLICT DO NOTHING").run(hex, crashed.length, env.clock.time);
      db.close();
      env.clock.time += HOUR;
    },
    run: (env) => env.store.sweep(),
  },
  {
    name: "reset",
    codes: ["IO_ERROR"],
    destroysKept: true,
    async setup(env) {
      await env.store.stage(Buffer.from("reset me"), { scope: "op" });
      fs.writeFileSync(path.join(env.dir, "tmp", "orphan.tmp"), "half written");
    },
    run: (env) => env.store.reset(),
    async check(env) {
      const out: string[] = [];
      if (hashFile(env.referenceFile) !== env.referenceDigest) out.push("reset changed a reference file");
      return out;
    },
  },
  {
    name: "verify with repair",
    codes: ["IO_ERROR"],
    plantsStrays: true,
    // "Missing" includes a reference file the process may not open (EACCES): repair drops that one.
    mayDrop: (plan, call, env) => plan.errno === "EACCES" && call?.op === "open" && call.path === env.referenceFile,
    async setup(env) {
      fs.writeFileSync(path.join(env.dir, "tmp", "orphan.tmp"), "half written");
      const stray = path.join(env.dir, "blobs", "sha256", "00", "00");
      fs.mkdirSync(stray, { recursive: true });
      fs.writeFileSync(path.join(stray, "not-a-digest"), "copied in by someone");
      env.clock.time += HOUR;
    },
    run: (env) => env.store.verify({ repair: true }),
  },
  {
    name: "read",
    codes: ["IO_ERROR", "INTEGRITY_ERROR"],
    run: (env) => env.store.read((env.kept[0] as Attachment).ref),
    async check(env, outcome) {
      if (outcome.status === "fulfilled" && !(outcome.value as Buffer).equals(Buffer.from("kept: a copy that must survive every fault"))) {
        return ["read resolved with other bytes"];
      }
      return [];
    },
  },
  {
    name: "open (streamed read)",
    codes: ["IO_ERROR", "INTEGRITY_ERROR"],
    run: async (env) => drain(await env.store.open((env.kept[2] as Attachment).ref)),
  },
];

function explain(err: unknown): string {
  return isAttacheError(err) ? `${err.code}: ${err.message}` : String(err);
}

function isInside(dir: string, file: string): boolean {
  const relative = path.relative(dir, file);
  return !relative.startsWith("..") && !path.isAbsolute(relative);
}

/** Runs the scenario once under `plan` (or none) and returns the violations. */
async function runOnce(scenario: Scenario, plan: FaultPlan | undefined, calls?: FsCall[]): Promise<{ violations: string[]; calls: FsCall[] }> {
  const env = await makeEnv();
  const out: string[] = [];
  try {
    await scenario.setup?.(env);
    const before = await liveIds(env.store);
    env.faulty.arm(plan);
    const injectedBefore = env.faulty.injected;
    const outcome = await Promise.allSettled([scenario.run(env)]).then((r) => r[0] as PromiseSettledResult<unknown>);
    env.faulty.disarm();
    const recorded = [...env.faulty.calls];
    const failedCalls = plan === undefined ? [] : recorded.slice(plan.at, plan.sticky ? undefined : plan.at + 1);
    // The source goes by an lstat (is it still the hashed file?) and an unlink (file-identity.ts, unlinkIfSame).
    env.state.sourceUnlinkFailed = failedCalls.some((c) => (c.op === "unlink" || c.op === "lstat") && c.path === env.state.file);
    const hit = env.faulty.injected - injectedBefore;
    stats.runs++;
    stats.injected += hit;
    if (plan === undefined) {
      if (outcome.status === "rejected") out.push(`fails without any fault: ${explain(outcome.reason)}`);
    } else if (outcome.status === "rejected") {
      stats.rejected++;
      const err = outcome.reason as unknown;
      const faulted = recorded[plan.at] ?? calls?.[plan.at];
      if (!isAttacheError(err)) {
        out.push(`rejects with a non-AttacheError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      } else if (!scenario.codes.includes(err.code)) {
        out.push(`rejects with ${err.code}, expected one of ${scenario.codes.join("/")}: ${err.message}`);
      } else if (!plan.sticky && faulted !== undefined && isInside(env.dir, faulted.path) && err.code === "INVALID_SOURCE") {
        out.push(`a fault on the store's own file ${path.relative(env.dir, faulted.path)} is reported as INVALID_SOURCE`);
      }
    } else if (hit > 0) {
      stats.absorbed++;
    }
    if (scenario.check) out.push(...(await scenario.check(env, outcome, before)));

    // Kept attachments still read and verify (through a fresh store: the faulted one may be in any state).
    await env.store.close();
    const store = await openStore({ dir: env.dir, clock: () => env.clock.time, sweepInterval: false });
    try {
      for (const kept of env.kept) {
        const bytes = await store.read(kept.ref).catch((err: unknown) => err);
        if (Buffer.isBuffer(bytes)) {
          if (sha256Hex(bytes) !== kept.checksum) out.push(`kept attachment ${kept.ref} reads other bytes`);
        } else if (!((scenario.destroysKept || (plan !== undefined && scenario.mayDrop?.(plan, recorded[plan.at], env))) && isAttacheError(bytes, "NOT_FOUND"))) {
          out.push(`kept attachment ${kept.ref} no longer reads: ${explain(bytes)}`);
        }
      }
      // A later sweep past the grace period, with no faults, leaves no residue.
      env.clock.time += HOUR;
      if (scenario.plantsStrays) await store.verify({ repair: true });
      await store.sweep().catch((err: unknown) => out.push(`the sweep after the fault fails: ${explain(err)}`));
    } finally {
      await store.close();
    }
    const audit = auditStore(env.dir, { clean: { now: env.clock.time, gracePeriodMs: GRACE_MS } });
    out.push(...audit.violations.map((v) => `after the sweep: ${v}`));
    if (hashFile(env.referenceFile) !== env.referenceDigest) out.push("a reference file was modified");
    return { violations: out, calls: recorded };
  } finally {
    await env.store.close().catch(() => undefined);
  }
}

function label(calls: FsCall[], at: number): string {
  const call = calls[at];
  if (call === undefined) return `call ${at}`;
  const where = call.path.replace(/^.*attache-faults-[^/]+\//, "").replace(/[0-9a-f]{24,}/g, "…");
  return `call ${at} ${call.op}(${where})`;
}

describe("fault injection through the fileSystem seam", () => {
  afterAll(() => {
    console.log(
      `faults: ${stats.runs} runs, ${stats.injected} faults injected, ${stats.rejected} rejected, ${stats.absorbed} absorbed (the operation still succeeded), ${violationsSeen.length} violations`,
    );
  });

  for (const scenario of scenarios) {
    it(`${scenario.name}: every call failing, once and for good, is reported and leaves nothing behind`, async () => {
      const recording = await runOnce(scenario, undefined);
      expect(recording.violations).toEqual([]);
      const calls = recording.calls;
      expect(calls.length).toBeGreaterThan(0);
      const failures: string[] = [];
      for (let at = 0; at < calls.length; at++) {
        for (const errno of ERRNOS) {
          const { violations } = await runOnce(scenario, { at, errno }, calls);
          for (const v of violations) failures.push(`${errno} at ${label(calls, at)}: ${v}`);
        }
        const { violations } = await runOnce(scenario, { at, errno: "ENOSPC", sticky: true }, calls);
        for (const v of violations) failures.push(`ENOSPC from ${label(calls, at)} on: ${v}`);
      }
      violationsSeen.push(...failures);
      expect(failures, `${scenario.name}: ${calls.length} calls: ${calls.map((c) => c.op).join(", ")}`).toEqual([]);
    });
  }
});

describe("a manifest locked by another connection", () => {
  it("fails writes with IO_ERROR within the busy timeout, serves reads, and recovers when the lock goes", async () => {
    const dir = path.join(freshDir("attache-locked-"), "store");
    const clock = { time: Date.now() };
    const open = () =>
      openStore({
        dir,
        clock: () => clock.time,
        sweepInterval: false,
        // The default busy timeout is 10 s; the store has no option for it, so the manifest is built here.
        manifest: sqliteManifest({ file: path.join(dir, "manifest.db"), busyTimeoutMs: 200 }),
      });
    const store = await open();
    const kept = await store.stage(Buffer.from("staged before the lock"), { ttl: "7d" });
    const lock = openSqlite(path.join(dir, "manifest.db"));
    lock.exec("BEGIN EXCLUSIVE");
    try {
      const started = Date.now();
      // How long the event loop stalls while a write waits for the lock (better-sqlite3 waits synchronously).
      let last = performance.now();
      let stall = 0;
      const ticker = setInterval(() => {
        stall = Math.max(stall, performance.now() - last);
        last = performance.now();
      }, 5);
      const attempts = {
        stage: store.stage(Buffer.from("staged under the lock")),
        release: store.release(kept.ref),
        lease: store.lease(kept.ref),
        sweep: store.sweep(),
        releaseScope: store.releaseScope("default"),
      };
      for (const [name, attempt] of Object.entries(attempts)) {
        const err = await attempt.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isAttacheError(err, "IO_ERROR"), `${name} under the lock: ${String(err)}`).toBe(true);
        expect((err as Error).message).toMatch(/retry/i);
      }
      clearInterval(ticker);
      console.log(`locked manifest: 5 writes refused with IO_ERROR in ${Date.now() - started} ms; the event loop stalled up to ${Math.round(stall)} ms at a time (busy timeout 200 ms)`);
      expect(Date.now() - started).toBeLessThan(10_000);
      // Reads do not need the write lock (WAL).
      expect((await store.read(kept.ref)).toString()).toBe("staged before the lock");
      expect((await store.get(kept.ref)).id).toBe(kept.id);
      expect((await store.metrics()).attachments).toBe(1);
      expect(fs.readdirSync(path.join(dir, "tmp"))).toEqual([]);
    } finally {
      lock.exec("COMMIT");
      lock.close();
    }
    const after = await store.stage(Buffer.from("staged after the lock"));
    expect((await store.read(after.ref)).toString()).toBe("staged after the lock");
    expect((await store.read(kept.ref)).toString()).toBe("staged before the lock");
    const report = await store.verify();
    expect(report).toMatchObject({ corrupt: [], missing: [], orphanFiles: [] });
    clock.time += HOUR;
    await store.sweep();
    await store.close();
    expect(auditStore(dir, { clean: { now: clock.time, gracePeriodMs: GRACE_MS } }).violations).toEqual([]);
  });
});

describe("a blob corrupted on disk", () => {
  function blobPath(dir: string, hex: string): string {
    return path.join(dir, "blobs", "sha256", hex.slice(0, 2), hex.slice(2, 4), hex);
  }

  for (const kind of ["same size", "truncated", "deleted"] as const) {
    it(`(${kind}) is caught by read, open and verify, and repaired by verify({ repair: true })`, async () => {
      const dir = path.join(freshDir("attache-corrupt-"), "store");
      const store = await openStore({ dir, sweepInterval: false, inlineMaxSize: FILE_BLOBS });
      const bytes = Buffer.from("precious bytes that rot on disk ".repeat(100));
      const victim = await store.stage(bytes, { scope: "a", ttl: "7d" });
      const sibling = await store.stage(bytes, { scope: "b", ttl: "7d" });
      const healthy = await store.stage(Buffer.from("healthy neighbour"), { scope: "a", ttl: "7d" });
      const file = blobPath(dir, victim.checksum);
      if (kind === "same size") {
        const rotten = Buffer.from(bytes);
        rotten.writeUInt8(rotten.readUInt8(100) ^ 0xff, 100);
        fs.writeFileSync(file, rotten);
      } else if (kind === "truncated") fs.truncateSync(file, 10);
      else fs.rmSync(file);

      for (const ref of [victim.ref, sibling.ref]) {
        await expect(store.read(ref)).rejects.toMatchObject({ code: "INTEGRITY_ERROR" });
        const streamed = await store.open(ref).then(drain, (err: unknown) => Promise.reject(err)).catch((err: unknown) => err);
        expect(isAttacheError(streamed, "INTEGRITY_ERROR"), `open(${kind}): ${String(streamed)}`).toBe(true);
      }
      const report = await store.verify();
      expect(report[kind === "deleted" ? "missing" : "corrupt"]).toEqual([victim.digest]);
      expect((await store.read(healthy.ref)).toString()).toBe("healthy neighbour");

      const repaired = await store.verify({ repair: true });
      expect(repaired.repaired).toBeGreaterThanOrEqual(2);
      await expect(store.get(victim.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(store.get(sibling.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await store.verify()).toMatchObject({ corrupt: [], missing: [], orphanFiles: [] });
      // Staging the bytes again works and verifies.
      const again = await store.stage(bytes, { scope: "a", ttl: "7d" });
      expect((await store.read(again.ref)).equals(bytes)).toBe(true);
      await store.close();
      expect(auditStore(dir).violations).toEqual([]);
    });
  }

  it("a corrupt blob repaired while a lease pins it does not poison the next stage of the same bytes", async () => {
    const dir = path.join(freshDir("attache-corrupt-"), "store");
    const store = await openStore({ dir, sweepInterval: false, inlineMaxSize: FILE_BLOBS });
    const bytes = Buffer.from("leased bytes that rot ".repeat(64));
    const victim = await store.stage(bytes, { ttl: "7d" });
    const lease = await store.lease(victim.ref);
    const rotten = Buffer.from(bytes);
    rotten.writeUInt8(rotten.readUInt8(0) ^ 1, 0);
    fs.writeFileSync(blobPath(dir, victim.checksum), rotten);
    const report = await store.verify({ repair: true });
    expect(report.corrupt).toEqual([victim.digest]);
    await expect(store.get(victim.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
    // The user stages the good bytes again while the lease is still held.
    const again = await store.stage(bytes, { scope: "other", ttl: "7d" });
    const read = await store.read(again.ref).catch((err: unknown) => err);
    await lease.release();
    expect(isAttacheError(read) ? `${read.code}: ${read.message}` : "verified").toBe("verified");
    await store.close();
  });
});

describe("issue 8: reset while others stage", () => {
  it("finding 5: reset() racing stages on the same store leaves no live attachment without bytes, and both keep staging", async () => {
    const dir = path.join(freshDir("attache-reset-race-"), "store");
    const resetter = await openStore({ dir, sweepInterval: false });
    const stager = await openStore({ dir, sweepInterval: false });
    const payload = (round: number, i: number) => Buffer.from(`round ${round} stage ${i} `.repeat(2_000 + i));
    try {
      for (let round = 0; round < 6; round++) {
        const stages = Array.from({ length: 24 }, (_, i) =>
          (i % 2 === 0 ? stager : resetter).stage(payload(round, i % 6), { scope: `s${i}` }).then(
            (a) => ({ ok: true as const, a }),
            (error: unknown) => ({ ok: false as const, error }),
          ),
        );
        // The reset lands while the stages are under way.
        await new Promise((resolve) => setImmediate(resolve));
        await resetter.reset();
        for (const outcome of await Promise.all(stages)) {
          if (!outcome.ok) {
            expect(isAttacheError(outcome.error), String(outcome.error)).toBe(true);
            continue;
          }
          // Dropped by the reset, or live with its bytes: never live without them.
          const read = await stager.read(outcome.a.ref).catch((err: unknown) => err);
          if (!Buffer.isBuffer(read)) expect(isAttacheError(read, "NOT_FOUND"), `${outcome.a.ref}: ${String(read)}`).toBe(true);
          else expect(sha256Hex(read)).toBe(outcome.a.checksum);
        }
        expect(auditStore(dir).violations).toEqual([]);
        // Both handles stage afterwards as if nothing happened.
        for (const store of [resetter, stager]) {
          const after = await store.stage(Buffer.from(`after reset ${round}`), { scope: "after" });
          expect((await store.read(after.ref)).toString()).toBe(`after reset ${round}`);
        }
      }
    } finally {
      await stager.close();
      await resetter.close();
    }
  });

  it("finding 6: after another process runs `attache reset --yes`, or the store's folders are removed, a long-running process stages without reopening", async () => {
    assertCliBuilt();
    const dir = path.join(freshDir("attache-reset-cli-"), "store");
    const store = await openStore({ dir, sweepInterval: false, inlineMaxSize: FILE_BLOBS });
    try {
      // Fill the directory cache: blobs land in several fan-out folders.
      for (let i = 0; i < 8; i++) await store.stage(Buffer.from(`before ${i}`));
      const reset = await runCli(["reset", "--yes", "--dir", dir]);
      expect(reset.code, reset.stderr).toBe(0);
      for (let i = 0; i < 8; i++) {
        const a = await store.stage(Buffer.from(`before ${i}`));
        expect((await store.read(a.ref)).toString()).toBe(`before ${i}`);
      }
      // Someone removes the folders outright (an older version's reset did): stages recreate them.
      fs.rmSync(path.join(dir, "blobs"), { recursive: true, force: true });
      fs.rmSync(path.join(dir, "tmp"), { recursive: true, force: true });
      await store.sweep();
      for (let i = 0; i < 8; i++) {
        const a = await store.stage(Buffer.from(`after ${i}`));
        expect((await store.read(a.ref)).toString()).toBe(`after ${i}`);
      }
      const moved = path.join(freshDir("attache-reset-move-"), "moved.txt");
      fs.writeFileSync(moved, "moved after the folders went");
      fs.rmSync(path.join(dir, "tmp"), { recursive: true, force: true });
      const m = await store.stage(moved, { mode: "move" });
      expect((await store.read(m.ref)).toString()).toBe("moved after the folders went");
    } finally {
      await store.close();
    }
  });
});

describe("issue 8: reads racing a release or a reset elsewhere", () => {
  it("read, open, resolve and lease of an attachment released or reset between lookup and read are NOT_FOUND, never INTEGRITY_ERROR", async () => {
    const dir = path.join(freshDir("attache-read-race-"), "store");
    const blobs = path.join(dir, "blobs");
    let beforeBlobAccess: (() => Promise<void>) | undefined;
    // Runs the armed action (another handle releasing the attachment) right before the reader touches the blob.
    const intercept = <F extends (...args: never[]) => Promise<unknown>>(fn: F) =>
      (async (...args: Parameters<F>) => {
        if (beforeBlobAccess !== undefined && String(args[0]).startsWith(blobs)) {
          const act = beforeBlobAccess;
          beforeBlobAccess = undefined;
          await act();
        }
        return fn(...args);
      }) as unknown as F;
    const reader = await openStore({
      dir,
      sweepInterval: false,
      inlineMaxSize: FILE_BLOBS,
      fileSystem: { ...nodeFileSystem, open: intercept(nodeFileSystem.open), stat: intercept(nodeFileSystem.stat) },
    });
    const releaser = await openStore({ dir, sweepInterval: false, inlineMaxSize: FILE_BLOBS });
    try {
      const calls: [string, (ref: string) => Promise<unknown>][] = [
        ["read", (ref) => reader.read(ref)],
        ["open", (ref) => reader.open(ref)],
        ["resolve", (ref) => reader.resolve(ref)],
        // A lease pins the bytes from its first step, so only a reset (which ends leases) can pull them away.
        ["reset then lease", (ref) => reader.lease(ref)],
        ["reset then read", (ref) => reader.read(ref)],
      ];
      for (const [what, call] of calls) {
        const a = await releaser.stage(Buffer.from(`bytes for ${what}`), { scope: "race" });
        beforeBlobAccess = async () => {
          if (what.startsWith("reset")) await releaser.reset();
          else expect(await releaser.release(a.ref)).toBe(true);
        };
        const outcome = await call(a.ref).then(
          () => "resolved",
          (err: unknown) => (isAttacheError(err) ? err.code : String(err)),
        );
        expect(outcome, what).toBe("NOT_FOUND");
      }
      expect(auditStore(dir).violations).toEqual([]);
    } finally {
      await reader.close();
      await releaser.close();
    }
  });
});

describe("issue 8: a reset between a stage's intent and its commit", () => {
  it("leaves no blob file that no row owns (found by the kill -9 harness with resets in the mix)", async () => {
    const root = freshDir("attache-reset-mid-stage-");
    const dir = path.join(root, "store");
    const tmp = path.join(dir, "tmp");
    const resetter = await openStore({ dir, sweepInterval: false });
    let resetNow = true;
    // A move links its file into tmp/ after recording its intent: the reset lands just before that link.
    const link = (async (from: string, to: string) => {
      if (resetNow && String(to).startsWith(tmp)) {
        resetNow = false;
        await resetter.reset();
      }
      return nodeFileSystem.link(from, to);
    }) as typeof nodeFileSystem.link;
    const stager = await openStore({ dir, sweepInterval: false, fileSystem: { ...nodeFileSystem, link } });
    const file = path.join(root, "moved.txt");
    fs.writeFileSync(file, "bytes linked in after a reset");
    try {
      const outcome = await stager.stage(file, { mode: "move" }).then(
        () => "resolved",
        (err: unknown) => (isAttacheError(err) ? err.code : String(err)),
      );
      expect(resetNow).toBe(false);
      expect(outcome).toBe("IO_ERROR");
      expect(fs.readFileSync(file, "utf8")).toBe("bytes linked in after a reset");
      expect(auditStore(dir).violations).toEqual([]);
      const again = await stager.stage(file, { mode: "move" });
      expect((await stager.read(again.ref)).toString()).toBe("bytes linked in after a reset");
    } finally {
      await stager.close();
      await resetter.close();
    }
  });
});
