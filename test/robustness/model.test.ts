/**
 * Model-based property test: random sequences of stage, release,
 * releaseScope, get, read, resolve, lease, lease release, list, metrics,
 * clock advances, sweep, verify({ repair: true }), reset and reopen run against the real store and against a
 * small in-memory model of the contract (DESIGN.md), and every observable
 * result is compared: ids (dedup: same scope + bytes → same id), expiries,
 * NOT_FOUND, list contents and order, metrics, sweep reports.
 *
 * Runs against the embedded store (filesystem + SQLite; reopen = close and
 * openStore on the same dir) and against memoryBlobStore + memoryManifest
 * (reopen = a new store on the same two objects).
 */
import fc from "fast-check";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  isAttacheError,
  memoryBlobStore,
  memoryManifest,
  openStore,
  type Attachment,
  type BlobStore,
  type Lease,
  type Manifest,
  type Metrics,
  type Store,
  type SweepReport,
} from "../../src/index.js";
import { scaled } from "../helpers/scale.js";
import { auditStore } from "../helpers/store-audit.js";
import { freshDir } from "../helpers/temp-dirs.js";

const GRACE_MS = 60_000;
const RUNS = scaled(100, 1_000);
const MAX_OPS = scaled(40, 80);
const SCOPES = ["chat:1", "chat:2", "session:x"] as const;
const CONTENTS = [Buffer.alloc(0), Buffer.from("hello"), Buffer.alloc(1000, 7), Buffer.alloc(70_000, 9)];
const DIGESTS = CONTENTS.map((c) => createHash("sha256").update(c).digest("hex"));
/** ms, Infinity, or "persist". */
const TTLS = [0, 1_000, 60_000, 3_600_000, Infinity, "persist"] as const;
const LEASE_TTLS = [1_000, 60_000, 3_600_000] as const;
const ADVANCES = [1, 999, 1_000, 59_000, 60_000, 61_000, 3_600_000, 86_400_000] as const;
const UNKNOWN_REF = `attache://${"0".repeat(10)}${"z".repeat(16)}`;

type Op =
  | { kind: "stage"; scope: number; content: number; ttl: number }
  | { kind: "release"; target: number }
  | { kind: "releaseScope"; scope: number }
  | { kind: "get"; target: number }
  | { kind: "read"; target: number }
  | { kind: "resolve"; target: number }
  | { kind: "lease"; target: number; ttl: number }
  | { kind: "leaseRelease"; lease: number }
  | { kind: "list"; scope: number }
  | { kind: "metrics" }
  | { kind: "advance"; ms: number }
  | { kind: "sweep" }
  | { kind: "verifyRepair" }
  | { kind: "reset" }
  | { kind: "reopen" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("stage" as const), scope: fc.nat(SCOPES.length - 1), content: fc.nat(CONTENTS.length - 1), ttl: fc.nat(TTLS.length - 1) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("release" as const), target: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("releaseScope" as const), scope: fc.nat(SCOPES.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("get" as const), target: fc.nat(50) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("read" as const), target: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("resolve" as const), target: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("lease" as const), target: fc.nat(50), ttl: fc.nat(LEASE_TTLS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("leaseRelease" as const), lease: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("list" as const), scope: fc.nat(SCOPES.length) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "metrics" as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.nat(ADVANCES.length - 1) }) },
  { weight: 2, arbitrary: fc.constant({ kind: "sweep" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "verifyRepair" as const }) },
  // Rare: a reset empties the model, so most sequences should get some way without one.
  { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

interface ModelRow {
  id: string;
  scope: string;
  content: number;
  persist: boolean;
  ttlMs: number | null;
  expiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  seq: number;
}

interface ModelLease {
  digest: string;
  expiresAt: number;
  /** The real handle, while the store that made it is open. */
  handle: Lease | null;
  /** The row still exists (not released, not reclaimed). */
  row: boolean;
  /** release() was called on the handle (it is idempotent). */
  ended: boolean;
}

/** The contract, in memory. */
class Model {
  now = Date.UTC(2030, 0, 1);
  rows = new Map<string, ModelRow>(); // by id
  blobs = new Set<string>(); // digests with a blob row
  leases: ModelLease[] = [];
  issued: string[] = [];
  private seq = 0;

  live(row: ModelRow): boolean {
    return row.expiresAt === null || row.expiresAt > this.now;
  }
  byScopeDigest(scope: string, digest: string): ModelRow | undefined {
    for (const row of this.rows.values()) if (row.scope === scope && DIGESTS[row.content] === digest) return row;
    return undefined;
  }
  stage(scope: string, content: number, ttl: (typeof TTLS)[number], realId: string): ModelRow & { merged: boolean } {
    const digest = DIGESTS[content] as string;
    const persist = ttl === "persist";
    const ttlMs = persist ? Infinity : ttl;
    const requested = persist || ttlMs === Infinity ? null : this.now + ttlMs;
    this.blobs.add(digest);
    const existing = this.byScopeDigest(scope, digest);
    if (existing === undefined) {
      const row: ModelRow = {
        id: realId,
        scope,
        content,
        persist: requested === null,
        ttlMs: requested === null ? null : ttlMs,
        expiresAt: requested,
        createdAt: this.now,
        updatedAt: this.now,
        seq: this.seq++,
      };
      this.rows.set(realId, row);
      this.issued.push(realId);
      return { ...row, merged: false };
    }
    if (!this.live(existing)) {
      existing.expiresAt = requested;
      existing.ttlMs = requested === null ? null : ttlMs;
    } else if (existing.expiresAt === null || (requested !== null && requested <= existing.expiresAt)) {
      // keep: never shortened, persist never switched off
    } else {
      existing.expiresAt = requested;
      existing.ttlMs = requested === null ? null : ttlMs;
    }
    existing.persist = existing.expiresAt === null;
    existing.updatedAt = this.now;
    return { ...existing, merged: true };
  }
  /** The fence: deletes the blob if no row, no unexpired lease needs it. */
  tryDelete(digest: string): number {
    if (!this.blobs.has(digest)) return 0;
    for (const row of this.rows.values()) if (DIGESTS[row.content] === digest) return 0;
    if (this.leases.some((l) => l.row && l.digest === digest && l.expiresAt > this.now)) return 0;
    this.blobs.delete(digest);
    return 1;
  }
  release(id: string): boolean {
    const row = this.rows.get(id);
    if (row === undefined || !this.live(row)) return false;
    this.rows.delete(id);
    this.tryDelete(DIGESTS[row.content] as string);
    return true;
  }
  releaseScope(scope: string): number {
    const dropped = [...this.rows.values()].filter((r) => r.scope === scope && this.live(r));
    for (const row of dropped) this.rows.delete(row.id);
    for (const digest of new Set(dropped.map((r) => DIGESTS[r.content] as string))) this.tryDelete(digest);
    return dropped.length;
  }
  sweep(): Omit<SweepReport, "durationMs"> {
    const due = [...this.rows.values()].filter((r) => r.expiresAt !== null && r.expiresAt <= this.now);
    for (const row of due) this.rows.delete(row.id);
    let orphans = 0;
    for (const lease of this.leases) {
      if (lease.row && lease.expiresAt <= this.now - GRACE_MS) {
        lease.row = false;
        orphans++;
      }
    }
    let blobsDeleted = 0;
    let bytesFreed = 0;
    for (const digest of [...this.blobs].sort()) {
      if (this.tryDelete(digest) === 1) {
        blobsDeleted++;
        bytesFreed += (CONTENTS[DIGESTS.indexOf(digest)] as Buffer).length;
      }
    }
    return { expired: due.length, blobsDeleted, bytesFreed, orphansReclaimed: orphans, remoteDeleted: 0, remoteFailed: 0 };
  }
  /** Everything gone: attachments (expired or not), leases (their handles' release becomes a no-op) and blobs. */
  reset(): void {
    this.rows.clear();
    for (const lease of this.leases) lease.row = false;
    this.blobs.clear();
  }
  liveRows(scope?: string): ModelRow[] {
    return [...this.rows.values()].filter((r) => this.live(r) && (scope === undefined || r.scope === scope)).sort((a, b) => a.seq - b.seq);
  }
  metrics(): Omit<Metrics, "nextExpiryAt"> & { nextExpiryAt: number | null } {
    const size = (r: ModelRow) => (CONTENTS[r.content] as Buffer).length;
    const live = this.liveRows();
    const persistent = live.filter((r) => r.expiresAt === null);
    const expirable = live.filter((r) => r.expiresAt !== null);
    const expired = [...this.rows.values()].filter((r) => !this.live(r));
    const logicalBytes = live.reduce((n, r) => n + size(r), 0);
    const distinct = new Map(live.map((r) => [r.content, size(r)]));
    const sum = (rows: ModelRow[]) => rows.reduce((n, r) => n + size(r), 0);
    const future = expirable.map((r) => r.expiresAt as number);
    return {
      attachments: live.length,
      blobs: this.blobs.size,
      scopes: new Set(live.map((r) => r.scope)).size,
      logicalBytes,
      storedBytes: [...this.blobs].reduce((n, d) => n + (CONTENTS[DIGESTS.indexOf(d)] as Buffer).length, 0),
      dedupSavedBytes: logicalBytes - [...distinct.values()].reduce((a, b) => a + b, 0),
      persistent: { count: persistent.length, bytes: sum(persistent) },
      expirable: { count: expirable.length, bytes: sum(expirable) },
      expired: { count: expired.length, bytes: sum(expired) },
      leases: this.leases.filter((l) => l.row && l.expiresAt > this.now).length,
      nextExpiryAt: future.length === 0 ? null : Math.min(...future),
      remote: { count: 0, bytes: 0, destinations: {} },
    };
  }
}

interface Backend {
  name: string;
  /** A new, empty store world; `open` (re)opens the same one. */
  create(clock: () => number): { open(): Promise<Store>; dir: string | null };
}

const embedded: Backend = {
  name: "embedded (filesystem + SQLite)",
  create(clock) {
    const dir = path.join(freshDir("attache-model-", fs.existsSync("/dev/shm") ? "/dev/shm" : undefined), "store");
    return { dir, open: () => openStore({ dir, clock, gracePeriod: GRACE_MS, sweepInterval: false }) };
  },
};

const inMemory: Backend = {
  name: "memoryBlobStore + memoryManifest",
  create(clock) {
    const blobStore: BlobStore = memoryBlobStore({ clock });
    const manifest: Manifest = memoryManifest();
    const dir = freshDir("attache-model-mem-");
    return { dir: null, open: () => openStore({ dir, clock, gracePeriod: GRACE_MS, sweepInterval: false, blobStore, manifest }) };
  },
};

async function outcome<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
  try {
    return { ok: true, value: await promise };
  } catch (err) {
    if (!isAttacheError(err)) throw err;
    return { ok: false, code: err.code };
  }
}

function checkAttachment(a: Attachment, row: ModelRow, where: string): void {
  const expected = {
    id: row.id,
    scope: row.scope,
    size: (CONTENTS[row.content] as Buffer).length,
    checksum: DIGESTS[row.content],
    persist: row.persist,
    ttlMs: row.ttlMs,
    expiresAt: row.expiresAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
  const actual = {
    id: a.id,
    scope: a.scope,
    size: a.size,
    checksum: a.checksum,
    persist: a.persist,
    ttlMs: a.ttlMs,
    expiresAt: a.expiresAt === null ? null : a.expiresAt.getTime(),
    createdAt: a.createdAt.getTime(),
    updatedAt: a.updatedAt.getTime(),
  };
  expect(actual, where).toEqual(expected);
}

/** Runs one sequence against a fresh store and the model; throws on the first difference. */
async function runSequence(backend: Backend, ops: Op[]): Promise<void> {
  const model = new Model();
  const world = backend.create(() => model.now);
  let store = await world.open();
  const target = (n: number): string => {
    const i = n % (model.issued.length + 1);
    return i === model.issued.length ? UNKNOWN_REF : `attache://${model.issued[i]}`;
  };
  try {
    for (const [step, op] of ops.entries()) {
      const where = `step ${step} ${JSON.stringify(op)}`;
      operationsRun++;
      opsByKind[op.kind] = (opsByKind[op.kind] ?? 0) + 1;
      switch (op.kind) {
        case "stage": {
          const scope = SCOPES[op.scope] as string;
          const ttl = TTLS[op.ttl] as (typeof TTLS)[number];
          const options = ttl === "persist" ? { scope, persist: true } : { scope, ttl };
          const a = await store.stage(CONTENTS[op.content] as Buffer, options);
          const known = model.rows.has(a.id);
          const row = model.stage(scope, op.content, ttl, a.id);
          if (row.merged) expect(a.id, `${where}: same scope + bytes must give the same attachment`).toBe(row.id);
          else expect(known, `${where}: a new attachment must get a new id`).toBe(false);
          checkAttachment(a, row, where);
          break;
        }
        case "release": {
          const ref = target(op.target);
          const released = await store.release(ref);
          expect(released, where).toBe(model.release(ref.slice("attache://".length)));
          break;
        }
        case "releaseScope": {
          const scope = SCOPES[op.scope] as string;
          expect(await store.releaseScope(scope), where).toBe(model.releaseScope(scope));
          break;
        }
        case "get":
        case "read":
        case "resolve": {
          const ref = target(op.target);
          const row = model.rows.get(ref.slice("attache://".length));
          const expectLive = row !== undefined && model.live(row);
          if (op.kind === "get") {
            const got = await outcome(store.get(ref));
            if (!expectLive) expect(got, where).toEqual({ ok: false, code: "NOT_FOUND" });
            else if (!got.ok) throw new Error(`${where}: expected the attachment, got ${got.code}`);
            else checkAttachment(got.value, row as ModelRow, where);
          } else if (op.kind === "read") {
            const got = await outcome(store.read(ref));
            if (!expectLive) expect(got, where).toEqual({ ok: false, code: "NOT_FOUND" });
            else if (!got.ok) throw new Error(`${where}: expected the bytes, got ${got.code}`);
            else expect(got.value.equals(CONTENTS[(row as ModelRow).content] as Buffer), `${where}: bytes`).toBe(true);
          } else {
            const got = await outcome(store.resolve(ref));
            if (!expectLive) expect(got, where).toEqual({ ok: false, code: "NOT_FOUND" });
            else if (!got.ok) throw new Error(`${where}: expected a path, got ${got.code}`);
            else expect(fs.readFileSync(got.value.path).equals(CONTENTS[(row as ModelRow).content] as Buffer), `${where}: file at path`).toBe(true);
          }
          break;
        }
        case "lease": {
          const ref = target(op.target);
          const row = model.rows.get(ref.slice("attache://".length));
          const ttl = LEASE_TTLS[op.ttl] as number;
          const got = await outcome(store.lease(ref, { ttl }));
          if (row === undefined || !model.live(row)) {
            expect(got, where).toEqual({ ok: false, code: "NOT_FOUND" });
          } else {
            if (!got.ok) throw new Error(`${where}: expected a lease, got ${got.code}`);
            expect(got.value.expiresAt.getTime(), where).toBe(model.now + ttl);
            expect(fs.readFileSync(got.value.path).equals(CONTENTS[row.content] as Buffer), `${where}: leased file`).toBe(true);
            model.leases.push({ digest: DIGESTS[row.content] as string, expiresAt: model.now + ttl, handle: got.value, row: true, ended: false });
          }
          break;
        }
        case "leaseRelease": {
          const open = model.leases.filter((l) => l.handle !== null);
          if (open.length === 0) break;
          const lease = open[op.lease % open.length] as ModelLease;
          await (lease.handle as Lease).release();
          if (!lease.ended && lease.row) {
            lease.row = false;
            model.tryDelete(lease.digest);
          }
          lease.ended = true;
          break;
        }
        case "list": {
          const scope = SCOPES[op.scope];
          const listed = await store.list(scope === undefined ? {} : { scope });
          expect(listed.map((a) => a.id), where).toEqual(model.liveRows(scope).map((r) => r.id));
          break;
        }
        case "metrics": {
          const m = await store.metrics();
          expect({ ...m, nextExpiryAt: m.nextExpiryAt === null ? null : m.nextExpiryAt.getTime() }, where).toEqual(model.metrics());
          break;
        }
        case "advance":
          model.now += ADVANCES[op.ms] as number;
          break;
        case "sweep": {
          const { durationMs, ...report } = await store.sweep();
          expect(durationMs).toBeGreaterThanOrEqual(0);
          expect(report, where).toEqual(model.sweep());
          break;
        }
        case "verifyRepair": {
          // Nothing is damaged here: a clean report, no repair, and nothing observable changes.
          const before = await store.metrics();
          const report = await store.verify({ repair: true });
          expect(report, where).toMatchObject({ corrupt: [], missing: [], orphanFiles: [], repaired: 0, manifestProblems: [] });
          expect(report.blobsChecked, `${where}: blobs checked`).toBe(model.blobs.size);
          expect(await store.metrics(), `${where}: metrics after the repair`).toEqual(before);
          break;
        }
        case "reset": {
          await store.reset();
          model.reset();
          expect(await store.list(), `${where}: list after the reset`).toEqual([]);
          if (world.dir !== null) expect(auditStore(world.dir).files, `${where}: blob files after the reset`).toEqual([]);
          break;
        }
        case "reopen":
          await store.close();
          for (const lease of model.leases) lease.handle = null;
          store = await world.open();
          break;
      }
    }
    // Final comparison of everything observable.
    const m = await store.metrics();
    expect({ ...m, nextExpiryAt: m.nextExpiryAt === null ? null : m.nextExpiryAt.getTime() }, "final metrics").toEqual(model.metrics());
    expect((await store.list()).map((a) => a.id), "final list").toEqual(model.liveRows().map((r) => r.id));
    const report = await store.verify();
    expect(report, "final verify").toMatchObject({ corrupt: [], missing: [], orphanFiles: [] });
  } finally {
    await store.close();
  }
  if (world.dir !== null) expect(auditStore(world.dir).violations, "audit").toEqual([]);
}

const sequencesRun: Record<string, number> = {};
let operationsRun = 0;
const opsByKind: Record<string, number> = {};
afterAll(() => {
  for (const [name, n] of Object.entries(sequencesRun)) console.log(`model: ${n} sequences run against ${name}`);
  console.log(`model: ${operationsRun} operations compared in all (${opsByKind.reset ?? 0} resets, ${opsByKind.verifyRepair ?? 0} verify repairs)`);
});

describe("the store behaves like its model", () => {
  for (const backend of [embedded, inMemory]) {
    it(`against ${backend.name}`, async () => {
      sequencesRun[backend.name] = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: MAX_OPS, size: "max" }), async (ops) => {
          sequencesRun[backend.name] = (sequencesRun[backend.name] ?? 0) + 1;
          await runSequence(backend, ops);
        }),
        { numRuns: RUNS, endOnFailure: false },
      );
    }, scaled(60_000, 600_000));
  }
});
