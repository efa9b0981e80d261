/**
 * The concurrency profiles of test/stress/concurrency.test.ts on the fleet
 * pair: a PostgreSQL manifest (a schema per test) and an S3 bucket prefix on
 * s3rver, four worker processes (fleet-concurrency-worker.mjs) each with a
 * directory and a cacheDir of its own, as on four hosts; in most profiles two
 * of them commit big blobs by multipart copy (UploadPartCopy). Each profile runs for a
 * bounded time, the workers checking their own invariants live (own
 * attachments read verified, leases hold their bytes, also across a sweep);
 * then the audit of fleet-audit.ts: every object under blobs/ hashes to its
 * key, what the workers hold reads back verified before and after a sweep past
 * the grace period, and after it exactly one object per live digest, no temp
 * object, no multipart upload, no intent, no condemned row, no stale lease.
 *
 * Then two races played out in this process with hosts of their own (a
 * store each: its pool, client and cacheDir), a stage held at its commit by
 * its S3 client while another host releases the same bytes and sweeps:
 * release + sweep must never delete bytes a stage in flight needs.
 */
import fs from "node:fs";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { isAttacheError, openStore, type Store } from "../../src/index.js";
import { s3BlobStore } from "../../src/backends/s3/index.js";
import { postgresManifest } from "../../src/backends/postgres/index.js";
import { requireDist, startWorker } from "../helpers/processes.js";
import { resetCounts, resetSince } from "../helpers/reset-log.js";
import { scaled } from "../helpers/scale.js";
import { freshDir } from "../helpers/temp-dirs.js";
import { tempDir } from "../support/fixtures.js";
import { postgresForTests, SKIP_POSTGRES } from "../support/postgres.js";
import { startS3Server, type S3TestServer } from "../support/s3.js";
import { auditFleet, HOUR, hashBlobObjects, openFleetStore, type FleetAudit, type FleetLocation, type Held } from "./fleet-audit.js";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "fleet-concurrency-worker.mjs");
const WORKERS = 4;
const MIXED_MS = Number(process.env.ATTACHE_FLEET_CONCURRENCY_MS ?? scaled(5_000, 60_000));
const RACE_MS = scaled(2_500, 15_000);
const GRACE = "1m";
const PART_SIZE = 5 * 1024 * 1024;
/**
 * Odd slots commit big blobs by a multipart copy, even slots by a plain
 * CopyObject, so two hosts committing one new digest at once (both copy, as
 * designed) race the two kinds. That needs the test server's whole-object
 * writes (test/support/s3.ts): s3rver alone rewrites an object's file in
 * place, and a host reading the blob meanwhile got a short body.
 */

const postgres = postgresForTests();
let server: S3TestServer | undefined;
beforeAll(async () => {
  if (!SKIP_POSTGRES) server = await startS3Server({ keepEmptyDirectories: true });
});
afterAll(() => server?.stop());

const totals: Record<string, number> = {};
afterAll(() => {
  const total = Object.values(totals).reduce((a, b) => a + b, 0);
  const byKind = Object.entries(totals).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(", ");
  console.log(`fleet concurrency: ${total} concurrent operations on S3 + PostgreSQL (${byKind})`);
});

interface WorkerResult {
  slot: number;
  counts: Record<string, number>;
  mine: (Held & { mark?: number })[];
  violations: string[];
}

async function freshFleet(): Promise<FleetLocation> {
  return {
    url: await postgres.url(),
    schema: await postgres.freshSchema(),
    server: server as S3TestServer,
    prefix: `conc-${randomBytes(6).toString("hex")}/`,
    gracePeriod: GRACE,
  };
}

interface Run {
  results: WorkerResult[];
  violations: string[];
  audit: FleetAudit;
  ops: number;
}

/** Runs four workers with `profile` for `ms`, then audits the fleet; prints a summary line. */
async function runProfile(profile: string, ms: number, options: { resetLog?: string; resetters?: number[] } = {}): Promise<Run> {
  requireDist();
  const at = await freshFleet();
  const started = Date.now();
  const workers = Array.from({ length: WORKERS }, (_, slot) => {
    const dir = tempDir(`attache-fleet-conc${slot}-`);
    return startWorker(WORKER, {
      dir,
      cacheDir: path.join(dir, "cache"),
      url: at.url,
      schema: at.schema,
      endpoint: at.server.endpoint,
      bucket: at.server.bucket,
      prefix: at.prefix,
      slot,
      seed: (Date.now() + slot * 7919) >>> 0,
      durationMs: ms,
      profile,
      gracePeriod: GRACE,
      partSize: PART_SIZE,
      ...(slot % 2 === 1 ? { multipartCopyThreshold: PART_SIZE } : {}),
      ...options,
    });
  });
  const results: WorkerResult[] = [];
  const violations: string[] = [];
  for (const [slot, worker] of workers.entries()) {
    const { code, signal } = await worker.exited;
    const line = worker.output().trim().split("\n").reverse().find((l) => l.startsWith("{"));
    if (code !== 0 || line === undefined) {
      violations.push(`${profile} worker ${slot} failed (${code ?? signal}):\n${worker.output()}`);
      continue;
    }
    const result = JSON.parse(line) as WorkerResult;
    results.push(result);
    violations.push(...result.violations.map((v) => `${profile} worker ${slot}: ${v}`));
    for (const [kind, n] of Object.entries(result.counts)) totals[kind] = (totals[kind] ?? 0) + n;
  }
  const ran = Date.now() - started;

  // With resets, a held attachment whose stage began before a reset ended may be gone (never damaged).
  const held = results.flatMap((r) => r.mine);
  const doubtful = held.filter((h) => resetSince(options.resetLog, h.mark ?? Infinity));
  const sure = held.filter((h) => !doubtful.includes(h));
  if (doubtful.length > 0) {
    const store = await openFleetStore(at);
    try {
      for (const h of doubtful) {
        const bytes = await store.read(h.ref).catch((err: unknown) => err);
        if (isAttacheError(bytes, "NOT_FOUND")) totals.heldGoneAfterReset = (totals.heldGoneAfterReset ?? 0) + 1;
        else sure.push(h);
      }
    } finally {
      await store.close();
    }
  }
  const hashed = await hashBlobObjects(at);
  violations.push(...hashed.problems.map((p) => `${profile}, after the workers: ${p}`));
  const audit = await auditFleet(at, sure, await postgres.admin());
  violations.push(...audit.lost.map((l) => `${profile}: lost: ${l}`), ...audit.corrupt.map((c) => `${profile}: corrupt: ${c}`));
  violations.push(...audit.problems.map((p) => `${profile}: ${p}`));

  const byKind: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.counts)) byKind[k] = (byKind[k] ?? 0) + v;
  const ops = Object.values(byKind).reduce((a, b) => a + b, 0);
  const kinds = Object.entries(byKind).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(", ");
  const resets = options.resetLog === undefined ? "" : `, ${resetCounts(options.resetLog).begun} resets`;
  console.log(
    `fleet ${profile}: ${results.length} processes, ${ops} operations (${kinds})${resets} in ${ran} ms; ` +
      `held ${held.length} (${held.length - sure.length} gone after a reset), checked ${sure.length}: lost ${audit.lost.length}, corrupt ${audit.corrupt.length}; ` +
      `${hashed.objects} blob objects hashed; after the sweep ${audit.liveAttachments} live attachments, ${audit.liveDigests} digests, ${audit.blobObjects} objects; ${violations.length} violations`,
  );
  for (const violation of violations) console.log(`  violation: ${violation}`);
  return { results, violations, audit, ops };
}

describe.skipIf(SKIP_POSTGRES)("S3 + PostgreSQL: the concurrency profiles with four hosts", () => {
  it(`mixed: stage, release, lease, verify and sweep concurrently for ${MIXED_MS / 1000} s`, { timeout: MIXED_MS + 120_000 }, async () => {
    const { violations, results, ops } = await runProfile("mixed", MIXED_MS);
    expect(violations).toEqual([]);
    expect(results).toHaveLength(WORKERS);
    expect(ops).toBeGreaterThan(30);
  });

  const races = [
    ["sweep-vs-stage", "sweeps delete blobs (after short expiries) while other hosts stage the same bytes"],
    ["scope-vs-scope", "hosts release their scopes while the others hold the same bytes"],
    ["sweepers", "hosts sweep at once while staging shared bytes"],
    ["verify-vs-stage", "verify({ repair: true }) while scopes release and restage the same bytes"],
  ] as const;
  for (const [profile, what] of races) {
    it(`${profile}: ${what}, for ${RACE_MS / 1000} s`, { timeout: RACE_MS + 120_000 }, async () => {
      const { violations, results, ops } = await runProfile(profile, RACE_MS);
      expect(violations).toEqual([]);
      expect(results).toHaveLength(WORKERS);
      expect(ops).toBeGreaterThan(8);
      if (profile === "verify-vs-stage") expect(results.reduce((n, r) => n + (r.counts.verifyRepair ?? 0), 0), "verifies run").toBeGreaterThan(0);
    });
  }

  for (const resetters of scaled([[0, 1]], [[0], [0, 1]])) {
    it(`reset-vs-stage: ${resetters.length} of four hosts reset while the others stage, read, lease and release, for ${RACE_MS / 1000} s`, { timeout: RACE_MS + 120_000 }, async () => {
      const resetLog = path.join(freshDir("attache-fleet-reset-"), "resets.log");
      const { violations, ops } = await runProfile("reset-vs-stage", RACE_MS, { resetLog, resetters });
      const resets = resetCounts(resetLog);
      expect(violations).toEqual([]);
      expect(resets.begun, "resets run").toBeGreaterThan(0);
      expect(resets.ended).toBe(resets.begun);
      expect(ops).toBeGreaterThan(8);
    });
  }
});

/** A host of its own in this process: its directory and cacheDir, a pool and an S3 client of its own. */
async function host(at: FleetLocation, options: { client?: S3Client; clock?: () => number } = {}): Promise<Store> {
  const dir = tempDir("attache-fleet-race-");
  const store = await openStore({
    dir,
    cacheDir: path.join(dir, "cache"),
    sweepInterval: false,
    gracePeriod: GRACE,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    manifest: postgresManifest({ connectionString: at.url, schema: at.schema, max: 4 }),
    blobStore: s3BlobStore({ client: options.client ?? at.server.client(), bucket: at.server.bucket, prefix: at.prefix, partSize: PART_SIZE }),
  });
  opened.push(store);
  return store;
}
const opened: Store[] = [];
// Before the temp directories go (fixtures.ts removes them after each test, after this hook).
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close().catch(() => undefined);
});

interface Gate {
  /** Resolves when the first matching request is held. */
  reached: Promise<void>;
  /** Lets it (and every later one) through. */
  open(): void;
}

/** Holds the first request of `command` (a command name) whose key `matches`, until opened: the S3 analog of the agents' paused filesystem call. */
function gate(client: S3Client, command: string, matches: (key: string) => boolean = () => true): Gate {
  let open = () => undefined as void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let reached = () => undefined as void;
  const hit = new Promise<void>((resolve) => (reached = resolve));
  let armed = true;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: string; Delete?: { Objects?: { Key?: string }[] } };
      const keys = input.Key !== undefined ? [input.Key] : (input.Delete?.Objects ?? []).map((o) => o.Key ?? "");
      if (armed && context.commandName === command && keys.some(matches)) {
        armed = false;
        reached();
        await opened;
      }
      return next(args);
    },
    { step: "initialize", name: `testGate${command}` },
  );
  return { reached: hit, open };
}

const fill = (size: number, byte: number) => Buffer.alloc(size, byte);
const digestOf = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const blobKey = (at: FleetLocation, digest: string) => `${at.prefix}blobs/sha256/${digest.slice(0, 2)}/${digest.slice(2, 4)}/${digest}`;
const isBlobKey = (key: string) => key.includes("/blobs/");

/** The object under blobs/ for `digest` exists. */
async function blobObjectExists(at: FleetLocation, digest: string): Promise<boolean> {
  return at.server
    .client()
    .send(new HeadObjectCommand({ Bucket: at.server.bucket, Key: blobKey(at, digest) }))
    .then(() => true, () => false);
}

/** Reads `ref` on a host that has never seen it (an empty cache): the bytes come from S3. */
async function readElsewhere(at: FleetLocation, ref: string): Promise<string> {
  const reader = await openFleetStore(at);
  try {
    const bytes = await reader.read(ref).catch((err: unknown) => err);
    return Buffer.isBuffer(bytes) ? digestOf(bytes) : isAttacheError(bytes) ? bytes.code : String(bytes);
  } finally {
    await reader.close();
  }
}

async function expectClean(at: FleetLocation, held: Held[]): Promise<void> {
  const audit = await auditFleet(at, held, await postgres.admin());
  expect({ lost: audit.lost, corrupt: audit.corrupt, problems: audit.problems }).toEqual({ lost: [], corrupt: [], problems: [] });
}

describe.skipIf(SKIP_POSTGRES)("S3 + PostgreSQL: release + sweep never delete bytes a stage on another host needs", () => {
  it("a sweep deleting a blob while another host stages the same bytes: the stage waits for the deletion and puts the bytes back", { timeout: 60_000 }, async () => {
    const at = await freshFleet();
    const sweeperClient = at.server.client();
    const sweeper = await host(at, { client: sweeperClient });
    const stager = await host(at);
    const bytes = fill(300_000, 42);
    const doomed = await sweeper.stage(bytes, { scope: "a", ttl: 1 });
    await sleep(5);
    // The sweeper stops after condemning the blob, before its DeleteObjects.
    const held = gate(sweeperClient, "DeleteObjectsCommand", isBlobKey);
    const sweeping = sweeper.sweep();
    await held.reached;
    const staging = stager.stage(bytes, { scope: "b", ttl: "7d" });
    const early = await Promise.race([staging.then(() => "returned", () => "failed"), sleep(1_000).then(() => "waiting")]);
    held.open();
    const swept = await sweeping;
    const staged = await staging;
    expect(swept).toMatchObject({ expired: 1, blobsDeleted: 1 });
    expect(early, "the stage must not return while the blob's deletion is in flight").toBe("waiting");
    expect(staged.checksum).toBe(doomed.checksum);
    expect(await blobObjectExists(at, doomed.checksum), "the stage put the deleted bytes back").toBe(true);
    expect(await readElsewhere(at, staged.ref)).toBe(doomed.checksum);
    await expectClean(at, [{ ref: staged.ref, digest: staged.checksum }]);
  });

  for (const source of ["buffer", "stream"] as const) {
    it(`a ${source} stage held at its commit keeps the blob from another host's release and sweep`, { timeout: 60_000 }, async () => {
      const at = await freshFleet();
      const stagerClient = at.server.client();
      const stager = await host(at, { client: stagerClient });
      const other = await host(at);
      const bytes = fill(source === "buffer" ? 400_000 : PART_SIZE + 4321, 7);
      // A buffer of a stored size and digest is only recorded (its intent pins the blob, then a HEAD checks the object);
      // a stream is written to a temp object, and its commit HEADs the blob key before copying.
      const first = source === "buffer" ? await other.stage(bytes, { scope: "a", ttl: 1 }) : undefined;
      const held = gate(stagerClient, "HeadObjectCommand", isBlobKey);
      const staging = stager.stage(source === "buffer" ? bytes : Readable.from([bytes.subarray(0, 1_000_000), bytes.subarray(1_000_000)]), { scope: "b", ttl: "7d" });
      await held.reached;
      // Meanwhile the other host stages (or has staged) the same bytes, releases them and sweeps.
      const again = await other.stage(bytes, { scope: "c" });
      expect(await other.release(again.ref)).toBe(true);
      await sleep(5);
      const swept = await other.sweep();
      expect(swept.expired).toBe(first === undefined ? 0 : 1);
      expect(swept.blobsDeleted, "the blob a stage in flight commits to must not be deleted").toBe(0);
      expect(await blobObjectExists(at, again.checksum)).toBe(true);
      held.open();
      const staged = await staging;
      expect(staged.checksum).toBe(digestOf(bytes));
      expect(await readElsewhere(at, staged.ref)).toBe(staged.checksum);
      await expectClean(at, [{ ref: staged.ref, digest: staged.checksum }]);
    });
  }

  it("a lease keeps its bytes after its attachment expired and another host swept, until it is stale", { timeout: 60_000 }, async () => {
    const at = await freshFleet();
    const t0 = Date.now();
    let now = t0;
    const holder = await host(at);
    const sweeper = await host(at, { clock: () => now });
    const other = await host(at);
    const bytes = fill(500_000, 5);
    const a = await holder.stage(bytes, { scope: "chat", ttl: "1m" });
    const lease = await holder.lease(a.ref, { ttl: "1h" });
    expect(lease.path).not.toBeNull();
    const leased = lease.path as string;

    now = t0 + 10 * 60_000; // the attachment expired 9 minutes ago
    await expect(sweeper.get(a.ref)).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await sweeper.sweep()).toMatchObject({ expired: 1, blobsDeleted: 0 });
    expect(digestOf(fs.readFileSync(leased))).toBe(a.checksum);
    // Another host stages the same bytes meanwhile and releases them: the lease still pins the blob, here and in S3.
    const b = await other.stage(bytes, { scope: "elsewhere" });
    expect(await other.release(b.ref)).toBe(true);
    expect(await sweeper.sweep()).toMatchObject({ blobsDeleted: 0 });
    expect(await blobObjectExists(at, a.checksum)).toBe(true);
    expect(digestOf(fs.readFileSync(leased))).toBe(a.checksum);

    // Past the lease's ttl and the grace period, a sweep on any host reclaims it and deletes the bytes.
    now = t0 + HOUR + 2 * 60_000;
    expect(await sweeper.sweep()).toMatchObject({ blobsDeleted: 1 });
    expect(await blobObjectExists(at, a.checksum)).toBe(false);
    // The holder's next sweep drops its cached copy of bytes deleted elsewhere.
    await holder.sweep();
    expect(fs.existsSync(leased), "the holder's cached copy of deleted bytes").toBe(false);
    await lease.release(); // late: a no-op
    await expectClean(at, []);
  });
});
