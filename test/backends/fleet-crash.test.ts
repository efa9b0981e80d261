/**
 * The crash harness on the fleet pair: a PostgreSQL manifest (a schema for the
 * run) and an S3 bucket prefix on s3rver. Rounds of four worker processes
 * (fleet-crash-worker.mjs), each with a directory and a cacheDir of its own as
 * on four hosts (slot i keeps its cacheDir across rounds, as a host that
 * restarts), stage (buffers, streams and paths, empty to three parts of a
 * multipart upload), release, lease, read and sweep; each is killed with
 * SIGKILL at a random moment: some while the store opens (the first round's
 * also while the schema is created), some a little after a stage of more than
 * one part began (a multipart upload in flight), the rest during a random one
 * of their first operations (counted in operations, not time, so a busy
 * machine does as much work before each kill). After
 * every round, with every worker dead:
 *
 *   1. every object under blobs/ hashes to its key (nothing half-written is visible);
 *   2. every attachment whose stage returned and was not released is live and
 *      reads back verified (and so does every other live one) — 0 lost, 0 corrupt;
 *   3. a sweep past the grace period (a store whose clock is an hour ahead)
 *      leaves exactly one object per live digest and nothing else in the
 *      bucket: no temp object, no multipart upload (s3rver cannot list them:
 *      test/support/s3.ts emulates ListMultipartUploads and reads its upload
 *      directory), no intent, no condemned blob row, no stale lease, no writer
 *      of a dead process; and the tracked attachments still read (fleet-audit.ts).
 *
 * Prints: kills, attachments checked, what the kills left in flight, violations (must be 0).
 */
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAttacheError } from "../../src/index.js";
import { requireDist, startWorker, type Worker } from "../helpers/processes.js";
import { scaled, STRESS } from "../helpers/scale.js";
import { freshDir } from "../helpers/temp-dirs.js";
import { postgresForTests, SKIP_POSTGRES } from "../support/postgres.js";
import { startS3Server, type S3TestServer } from "../support/s3.js";
import { auditFleet, hashBlobObjects, inFlight, openFleetStore, type FleetLocation, type Held } from "./fleet-audit.js";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "fleet-crash-worker.mjs");
const WORKERS = 4;
const KILLS = Number(process.env.ATTACHE_FLEET_CRASH_KILLS ?? scaled(24, 160));
const ROUNDS = Math.ceil(KILLS / WORKERS);
/** A worker killed "anywhere" dies during its n-th operation, n uniform below this. */
const OPS_BEFORE_KILL = scaled(10, 20);
/** Shares of kills aimed at start-up (while the store opens) and a little after a multipart stage began. */
const EARLY_KILLS = 0.15;
const BIG_KILLS = 0.35;
const GRACE = "1m";
/** The smallest part S3 allows: blobs above it go up in several parts. */
const PART_SIZE = 5 * 1024 * 1024;
/** Tracked attachments above this: one scope of one slot is released between rounds, as a user would. */
const TRACKED_MAX = scaled(30, 80);

interface Expected {
  digest: string;
  scope: string;
  slot: number;
  round: number;
}

type Pending = { kind: "release"; id: string } | { kind: "scope"; scope: string };

function explain(err: unknown): string {
  return isAttacheError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Random in [0, n). Math.random is fine: the harness wants variety, and failures print what they saw. */
const rand = (n: number) => Math.floor(Math.random() * n);

const postgres = postgresForTests();
let server: S3TestServer | undefined;
beforeAll(async () => {
  if (!SKIP_POSTGRES) server = await startS3Server({ keepEmptyDirectories: true });
});
afterAll(() => server?.stop());

describe.skipIf(SKIP_POSTGRES)("crash harness on S3 + PostgreSQL: four hosts", () => {
  it(`survives ${KILLS} SIGKILLs of ${WORKERS} concurrent workers, each with its own cacheDir`, { timeout: scaled(240_000, 3_600_000) }, async () => {
    requireDist();
    const started = Date.now();
    const root = freshDir("attache-fleet-crash-");
    const journals = path.join(root, "journals");
    const workDir = path.join(root, "work");
    for (const d of [journals, workDir]) fs.mkdirSync(d, { recursive: true });
    const at: FleetLocation = {
      url: await postgres.url(),
      schema: await postgres.freshSchema(),
      server: server as S3TestServer,
      prefix: `crash-${randomBytes(6).toString("hex")}/`,
      gracePeriod: GRACE,
    };
    const admin = await postgres.admin();
    const hosts = Array.from({ length: WORKERS }, (_, slot) => {
      const dir = path.join(root, `host${slot}`);
      return { dir, cacheDir: path.join(dir, "cache") };
    });

    const expected = new Map<string, Expected>();
    /** Blob objects hashed in earlier rounds (see hashBlobObjects). */
    const hashedBefore = new Map<string, string>();
    const violations: string[] = [];
    const stats = {
      kills: 0, earlyKills: 0, killedOpening: 0, bigKills: 0, checked: 0, stagesReturned: 0, bigStagesReturned: 0, releases: 0, inDoubt: 0,
      opsBegun: 0, uploadsLeft: 0, tempsLeft: 0, objectsHashed: 0, bytesHashed: 0, liveAfterSweep: 0, blobsDeleted: 0, orphansReclaimed: 0,
      workerMs: 0, checkMs: 0, readyMs: 0, readied: 0, journaledMs: 0,
    };

    for (let round = 0; round < ROUNDS; round++) {
      const workers: Worker[] = [];
      const journalFiles: string[] = [];
      for (const [slot, host] of hosts.entries()) {
        const journal = path.join(journals, `r${round}-w${slot}.jsonl`);
        journalFiles.push(journal);
        workers.push(
          startWorker(WORKER, {
            ...host,
            url: at.url,
            schema: at.schema,
            endpoint: at.server.endpoint,
            bucket: at.server.bucket,
            prefix: at.prefix,
            slot,
            seed: (round * 7919 + slot * 104729 + Date.now()) >>> 0,
            journal,
            workDir,
            gracePeriod: GRACE,
            partSize: PART_SIZE,
            stress: STRESS,
          }),
        );
      }
      const t0 = Date.now();
      await Promise.all(
        workers.map(async (worker, slot) => {
          const dice = Math.random();
          try {
            if (dice < EARLY_KILLS) {
              stats.earlyKills++;
              await worker.waitForLine((line) => line === "opening", 30_000);
              await sleep(rand(300));
              if (!worker.output().includes("ready\n")) stats.killedOpening++;
            } else {
              await worker.waitForLine((line) => line === "ready", 30_000);
              stats.readyMs += Date.now() - t0;
              stats.readied++;
              if (dice < EARLY_KILLS + BIG_KILLS) {
                // A little after the first, second or third stage of several parts began.
                stats.bigKills++;
                const nth = 1 + rand(3);
                await worker.waitForLine((line) => line === `big ${nth}`, 60_000);
                await sleep(rand(600));
              } else {
                // At a random moment of a random operation.
                const nth = rand(OPS_BEFORE_KILL);
                await worker.waitForLine((line) => line.startsWith(`op ${nth} `), 60_000);
                await sleep(rand(300));
              }
            }
          } catch (err) {
            violations.push(`round ${round} worker ${slot} did not get going: ${explain(err)}`);
          }
          worker.child.kill("SIGKILL");
          const { code, signal } = await worker.exited;
          stats.kills++;
          if (signal !== "SIGKILL") violations.push(`round ${round} worker ${slot} exited by itself (${code}):\n${worker.output()}`);
        }),
      );

      // What the journals say must be live.
      const pending: Pending[] = [];
      for (const [slot, file] of journalFiles.entries()) {
        if (!fs.existsSync(file)) continue;
        const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
        let open: Pending | null = null;
        let first: number | undefined;
        let last: number | undefined;
        for (const [i, line] of lines.entries()) {
          let event: Record<string, unknown>;
          try {
            event = JSON.parse(line) as Record<string, unknown>;
          } catch {
            if (i !== lines.length - 1) violations.push(`round ${round} worker ${slot}: unreadable journal line ${i}`);
            continue;
          }
          if (typeof event.t === "number") {
            first ??= event.t;
            last = event.t;
          }
          switch (event.e) {
            case "op":
              stats.opsBegun++;
              break;
            case "stage":
              stats.stagesReturned++;
              if (String(event.what).startsWith("big")) stats.bigStagesReturned++;
              expected.set(event.id as string, { digest: event.digest as string, scope: event.scope as string, slot, round });
              break;
            case "release?":
              open = { kind: "release", id: event.id as string };
              break;
            case "release":
              stats.releases++;
              expected.delete(event.id as string);
              open = null;
              break;
            case "releaseScope?":
              open = { kind: "scope", scope: event.scope as string };
              break;
            case "releaseScope":
              for (const [id, e] of expected) if (e.scope === event.scope) expected.delete(id);
              open = null;
              break;
            case "violation":
              violations.push(`round ${round} worker ${slot}: ${String(event.message)}`);
              break;
          }
        }
        if (open !== null) pending.push(open);
        if (first !== undefined && last !== undefined) stats.journaledMs += last - first;
      }
      const t1 = Date.now();
      stats.workerMs += t1 - t0;
      violations.push(...(await checkRound(round, pending)));
      stats.checkMs += Date.now() - t1;
      for (const f of fs.readdirSync(workDir)) fs.rmSync(path.join(workDir, f), { force: true });
      if (violations.length > 20) break;
    }

    /** The checks after a round; see the file's comment. */
    async function checkRound(round: number, pending: Pending[]): Promise<string[]> {
      const tag = `round ${round}`;
      const out: string[] = [];
      const left = await inFlight(at);
      stats.uploadsLeft += left.uploads;
      stats.tempsLeft += left.temps;
      // 1. Nothing half-written under blobs/.
      const hashed = await hashBlobObjects(at, hashedBefore);
      stats.objectsHashed += hashed.objects;
      stats.bytesHashed += hashed.bytes;
      out.push(...hashed.problems.map((p) => `${tag}, after the kills: ${p}`));
      // A kill during a release: either outcome is right; the store says which.
      const store = await openFleetStore(at);
      try {
        for (const p of pending) {
          stats.inDoubt++;
          const ids = p.kind === "release" ? [p.id] : [...expected].filter(([, e]) => e.scope === p.scope).map(([id]) => id);
          for (const id of ids) {
            const alive = await store.get(`attache://${id}`).then(
              () => true,
              (err: unknown) => (isAttacheError(err, "NOT_FOUND") ? false : err),
            );
            if (alive === false) expected.delete(id);
            else if (alive !== true) out.push(`${tag}: get of ${id} (release cut by a kill) fails: ${explain(alive)}`);
          }
        }
      } finally {
        await store.close();
      }
      // 2 and 3. Held attachments read verified before and after a sweep past grace; the bucket and the manifest are clean.
      const held: Held[] = [...expected].map(([id, e]) => ({ ref: `attache://${id}`, digest: e.digest }));
      stats.checked += held.length;
      const audit = await auditFleet(at, held, admin);
      stats.liveAfterSweep = audit.liveAttachments;
      for (const s of audit.sweeps) {
        stats.blobsDeleted += s.blobsDeleted;
        stats.orphansReclaimed += s.orphansReclaimed;
      }
      const whose = (line: string) => {
        const e = expected.get(/attache:\/\/(\S+)/.exec(line)?.[1] ?? "");
        return e === undefined ? "" : ` (worker ${e.slot}, ${e.scope}, staged in round ${e.round})`;
      };
      out.push(...audit.lost.map((l) => `${tag}: lost: ${l}${whose(l)}`));
      out.push(...audit.corrupt.map((c) => `${tag}: corrupt: ${c}`));
      out.push(...audit.problems.map((p) => `${tag}: ${p}`));
      // Keep the tracked set (and so each round's checks) bounded: drop one scope of one slot, as a user would.
      if (expected.size > TRACKED_MAX) {
        const scope = `w${rand(WORKERS)}:${"abc"[rand(3)]}`;
        const dropper = await openFleetStore(at);
        await dropper.releaseScope(scope).finally(() => dropper.close());
        for (const [id, e] of expected) if (e.scope === scope) expected.delete(id);
      }
      return out;
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `fleet crash: ${stats.kills} kills in ${ROUNDS} rounds of ${WORKERS} workers on S3 + PostgreSQL ` +
        `(${stats.earlyKills} aimed at start-up, ${stats.killedOpening} of them before the store was open; ${stats.bigKills} just after a multipart stage began), ` +
        `${stats.checked} attachments checked, ${stats.stagesReturned} stages returned (${stats.bigStagesReturned} of several parts), ${stats.releases} releases, ${stats.inDoubt} releases cut by a kill, ` +
        `${stats.opsBegun} operations begun (${((stats.opsBegun * 1000) / Math.max(1, stats.journaledMs)).toFixed(1)} a second per open worker); the kills left ${stats.uploadsLeft} multipart uploads and ${stats.tempsLeft} temp objects, ` +
        `${stats.objectsHashed} blob objects hashed (${(stats.bytesHashed / 1024 / 1024).toFixed(0)} MiB); sweeps past grace deleted ${stats.blobsDeleted} blobs and reclaimed ${stats.orphansReclaimed} orphans; ` +
        `${stats.liveAfterSweep} live attachments at the end; ${violations.length} violations, ${seconds} s (workers ready ${(stats.readyMs / Math.max(1, stats.readied)).toFixed(0)} ms after start on average; ${(stats.workerMs / 1000).toFixed(1)} s running workers, ${(stats.checkMs / 1000).toFixed(1)} s checking)`,
    );
    expect(violations).toEqual([]);
    expect(stats.stagesReturned, "the workers got work done before the kills").toBeGreaterThan(ROUNDS);
    expect(stats.uploadsLeft + stats.tempsLeft, "the kills left something in flight for the sweeps").toBeGreaterThan(0);
  });
});
