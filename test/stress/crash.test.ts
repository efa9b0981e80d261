/**
 * The crash harness (invariants 1, 2, 4 and 5 through kill -9). Rounds of
 * worker processes (crash-worker.mjs) stage, release, lease and sweep on one
 * store; each is killed with SIGKILL at a random moment, some while still
 * opening the store. Workers also run verify({ repair: true }) (its report
 * must be clean) and, in every third round, reset(): each reset is logged to
 * the round's reset log and journalled around the call, and each stage records
 * the log's size when it began, so an attachment counts as "in doubt" (may be
 * gone, must read if not) only when a reset that had not ended before its
 * stage began ran in this round, or it was staged in an earlier round. After
 * every round, with every worker dead:
 *
 *   1. every file under blobs/ hashes to its name and has a row (no half-written blob);
 *   2. every reference-mode source file is intact (never modified or deleted);
 *   3. the store reopens, and every attachment whose stage returned and was
 *      not released is live and read() verifies (and so does every other live one);
 *   4. a sweep past the grace period (a store whose clock is 1 h ahead) leaves
 *      no temp file, no intent, no stale lease, no unreferenced blob, checked
 *      in the SQLite file directly, and the tracked attachments are still there.
 *
 * Prints: kills, attachments checked, violations (must be 0).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { isAttacheError, openStore, type Store } from "../../src/index.js";
import { requireDist, startWorker, type Worker } from "../helpers/processes.js";
import { resetCounts, resetSince } from "../helpers/reset-log.js";
import { scaled, STRESS } from "../helpers/scale.js";
import { auditStore, hashFile, sha256Hex } from "../helpers/store-audit.js";
import { explain, sweepPastGrace } from "../helpers/sweep-audit.js";
import { freshDir } from "../helpers/temp-dirs.js";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "crash-worker.mjs");
const WORKERS = scaled(5, 6);
const KILLS = Number(process.env.ATTACHE_CRASH_KILLS ?? scaled(150, 1200));
const ROUNDS = Math.ceil(KILLS / WORKERS);
/** A worker dies this long (ms, uniform) after it reports ready. */
const KILL_WINDOW_MS = scaled(350, 900);
/** Share of kills aimed at start-up (while the store opens). */
const EARLY_KILLS = 0.1;
const HOUR = 3_600_000;
const GRACE_MS = 60_000;
/** Weight of reset among the workers' operations (about 100 in all), in the rounds that reset. */
const RESET_WEIGHT = 8;
const resetsIn = (round: number) => round % 3 === 2;

interface Expected {
  digest: string;
  scope: string;
  mode: string;
  slot: number;
  round: number;
  /** The round's reset log size when the stage began. */
  mark: number;
}

type Pending = { kind: "release"; id: string } | { kind: "scope"; scope: string } | null;

/** Random in [0, n). Math.random is fine: the harness wants variety, and failures print what they saw. */
const rand = (n: number) => Math.floor(Math.random() * n);

describe("crash harness", () => {
  it(`survives ${KILLS} SIGKILLs of ${WORKERS} concurrent workers`, { timeout: scaled(300_000, 3_600_000) }, async () => {
    requireDist();
    const started = Date.now();
    const root = freshDir("attache-crash-");
    const dir = path.join(root, "store");
    const refsDir = path.join(root, "refs");
    const workDir = path.join(root, "work");
    const moveDir = path.join(root, "moves");
    const journals = path.join(root, "journals");
    for (const d of [refsDir, workDir, moveDir, journals]) fs.mkdirSync(d, { recursive: true });
    let xdevDir: string | null = null;
    if (fs.existsSync("/dev/shm") && fs.statSync("/dev/shm").dev !== fs.statSync(root).dev) xdevDir = freshDir("attache-crash-xdev-", "/dev/shm");

    // Reference sources: outside files the store must never change or delete.
    const refPool: { file: string; digest: string }[] = [];
    for (let i = 0; i < 6; i++) {
      const file = path.join(refsDir, `reference-${i}.bin`);
      const bytes = Buffer.alloc([0, 10, 5000, 70_000, 1_100_000, 300][i] as number, i + 1);
      fs.writeFileSync(file, bytes);
      refPool.push({ file, digest: sha256Hex(bytes) });
    }

    const expected = new Map<string, Expected>();
    const violations: string[] = [];
    const stats = { kills: 0, earlyKills: 0, checked: 0, unknownChecked: 0, stagesReturned: 0, releases: 0, inDoubt: 0, interruptedMoves: 0, movedSourcesLost: 0, opsBegun: 0, workerMs: 0, checkMs: 0, resets: 0, resetsCut: 0, resetDoubts: 0, goneAfterReset: 0, verifies: 0, verifyRepaired: 0, verifyOrphans: 0, interruptedByReset: 0 };

    for (let round = 0; round < ROUNDS; round++) {
      const workers: Worker[] = [];
      const journalFiles: string[] = [];
      const resetLog = path.join(journals, `r${round}-resets.log`);
      for (let slot = 0; slot < WORKERS; slot++) {
        const journal = path.join(journals, `r${round}-w${slot}.jsonl`);
        journalFiles.push(journal);
        workers.push(
          startWorker(WORKER, {
            dir,
            journal,
            slot,
            seed: (round * 7919 + slot * 104729 + Date.now()) >>> 0,
            stress: STRESS,
            refPool: refPool.map((r) => r.file),
            workDir,
            moveDir,
            xdevDir,
            resetLog,
            resetWeight: resetsIn(round) ? RESET_WEIGHT : 0,
          }),
        );
      }
      const t0 = Date.now();
      await Promise.all(
        workers.map(async (worker, slot) => {
          const early = Math.random() < EARLY_KILLS;
          if (early) {
            stats.earlyKills++;
            await sleep(rand(250));
          } else {
            try {
              await worker.waitForLine((line) => line === "ready", 30_000);
            } catch (err) {
              violations.push(`round ${round} worker ${slot} did not start: ${explain(err)}`);
            }
            await sleep(rand(KILL_WINDOW_MS));
          }
          worker.child.kill("SIGKILL");
          const { code, signal } = await worker.exited;
          stats.kills++;
          if (signal !== "SIGKILL") violations.push(`round ${round} worker ${slot} exited by itself (${code}):\n${worker.output()}`);
        }),
      );

      // What the journals say must be live.
      const pending: { slot: number; pending: Pending }[] = [];
      const interrupted: { scope: string; src: string; digest: string }[] = [];
      for (const [slot, file] of journalFiles.entries()) {
        if (!fs.existsSync(file)) continue;
        const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
        let open: Pending = null;
        let lastOp: Record<string, unknown> | null = null;
        for (const [i, line] of lines.entries()) {
          let event: Record<string, unknown>;
          try {
            event = JSON.parse(line) as Record<string, unknown>;
          } catch {
            if (i !== lines.length - 1) violations.push(`round ${round} worker ${slot}: unreadable journal line ${i}`);
            continue;
          }
          switch (event.e) {
            case "op":
              stats.opsBegun++;
              lastOp = event;
              break;
            case "stage":
              stats.stagesReturned++;
              expected.set(event.id as string, { digest: event.digest as string, scope: event.scope as string, mode: event.mode as string, slot, round, mark: event.mark as number });
              lastOp = null;
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
            case "verified":
              stats.verifies++;
              stats.verifyRepaired += (event.repaired as number) - (event.orphanFiles as number);
              stats.verifyOrphans += event.orphanFiles as number;
              break;
            case "interrupted":
              stats.interruptedByReset++;
              break;
          }
        }
        if (open !== null) pending.push({ slot, pending: open });
        if (lastOp !== null && lastOp.op === "stage-move" && typeof lastOp.src === "string") {
          interrupted.push({ scope: lastOp.scope as string, src: lastOp.src, digest: String(lastOp.digest ?? "") });
        }
      }

      // A reset in this round: attachments staged before it may be gone (checked below: gone, or live and reading).
      const resets = resetCounts(resetLog);
      stats.resets += resets.begun;
      stats.resetsCut += resets.begun - resets.ended;
      const resetDoubts = new Set<string>();
      if (resets.begun > 0) {
        for (const [id, e] of expected) if (e.round < round || resetSince(resetLog, e.mark)) resetDoubts.add(id);
      }

      const t1 = Date.now();
      violations.push(...(await checkRound(round)));
      stats.workerMs += t1 - t0;
      stats.checkMs += Date.now() - t1;
      // Keep the tracked set (and so each round's checks) bounded: drop one scope of one slot, as a user would.
      if (expected.size > 120) {
        const scope = `w${rand(WORKERS)}:${"abc"[rand(3)]}`;
        const store = await openStore({ dir, sweepInterval: false });
        await store.releaseScope(scope).finally(() => store.close());
        for (const [id, e] of expected) if (e.scope === scope) expected.delete(id);
      }
      for (const f of fs.readdirSync(workDir)) fs.rmSync(path.join(workDir, f), { force: true });
      for (const d of [moveDir, ...(xdevDir === null ? [] : [xdevDir])]) for (const f of fs.readdirSync(d)) fs.rmSync(path.join(d, f), { force: true });
      if (violations.length > 20) break;

      async function checkRound(r: number): Promise<string[]> {
        const out: string[] = [];
        const tag = `round ${r}`;
        // 1. No half-written blob is visible; every blob file has its row.
        out.push(...auditStore(dir, { hash: true }).violations.map((v) => `${tag}, after the kills: ${v}`));
        // 2. Reference sources untouched.
        for (const ref of refPool) {
          if (!fs.existsSync(ref.file)) out.push(`${tag}: reference source ${ref.file} was deleted`);
          else if (hashFile(ref.file) !== ref.digest) out.push(`${tag}: reference source ${ref.file} was modified`);
        }
        // 3. Reopen: what the journals promise is live and verifies.
        let store: Store;
        try {
          store = await openStore({ dir, sweepInterval: false });
        } catch (err) {
          return [...out, `${tag}: the store does not reopen: ${explain(err)}`];
        }
        try {
          for (const { pending: p } of pending) {
            // The kill came during a release: either outcome is right; the store says which.
            stats.inDoubt++;
            const ids = p?.kind === "release" ? [p.id] : [...expected].filter(([, e]) => e.scope === (p as { scope: string }).scope).map(([id]) => id);
            for (const id of ids) {
              const alive = await store.get(`attache://${id}`).then(
                () => true,
                () => false,
              );
              if (!alive) expected.delete(id);
            }
          }
          for (const id of resetDoubts) {
            if (!expected.has(id)) continue;
            stats.resetDoubts++;
            const alive = await store.get(`attache://${id}`).then(
              () => true,
              (err: unknown) => (isAttacheError(err, "NOT_FOUND") ? false : err),
            );
            if (alive === false) {
              stats.goneAfterReset++;
              expected.delete(id);
            } else if (alive !== true) out.push(`${tag}: get of ${id} after a reset fails: ${explain(alive)}`);
          }
          for (const move of interrupted) {
            stats.interruptedMoves++;
            if (fs.existsSync(move.src)) continue;
            const kept = (await store.list({ scope: move.scope })).some((a) => a.checksum === move.digest);
            if (!kept) stats.movedSourcesLost++;
          }
          for (const [id, e] of expected) {
            stats.checked++;
            const bytes = await store.read(`attache://${id}`).catch((err: unknown) => err);
            if (!Buffer.isBuffer(bytes)) out.push(`${tag}: attachment ${id} (${e.mode}, ${e.scope}, staged in round ${e.round}) is lost: ${explain(bytes)}`);
            else if (sha256Hex(bytes) !== e.digest) out.push(`${tag}: attachment ${id} reads bytes that do not match its digest`);
          }
          for (const a of await store.list()) {
            if (expected.has(a.id)) continue;
            stats.unknownChecked++;
            const bytes = await store.read(a.ref).catch((err: unknown) => err);
            // A short-lived churn attachment may expire between list() and read().
            const expiredMeanwhile = isAttacheError(bytes, "NOT_FOUND") && a.expiresAt !== null && a.expiresAt.getTime() <= Date.now();
            if (!Buffer.isBuffer(bytes) && !expiredMeanwhile) out.push(`${tag}: live attachment ${a.id} (${a.mode}, ${a.scope}) does not read: ${explain(bytes)}`);
            else if (Buffer.isBuffer(bytes) && sha256Hex(bytes) !== a.checksum) out.push(`${tag}: live attachment ${a.id} reads bytes that do not match its digest`);
          }
        } finally {
          await store.close();
        }
        // 4. A sweep past the grace period leaves nothing behind.
        out.push(...(await sweepPastGrace(dir, tag, expected.keys(), GRACE_MS)));
        return out;
      }
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `crash: ${stats.kills} kills (${stats.earlyKills} during start-up) in ${ROUNDS} rounds of ${WORKERS} workers, ` +
        `${stats.checked} attachments checked (+${stats.unknownChecked} untracked live ones read), ` +
        `${stats.stagesReturned} stages returned, ${stats.releases} releases, ${stats.inDoubt} releases cut by a kill, ` +
        `${stats.interruptedMoves} moves cut by a kill (${stats.movedSourcesLost} of them lost the source file), ` +
        `${stats.verifies} verify repairs (${stats.verifyOrphans} orphan files found, ${stats.verifyRepaired} other repairs: blobs given an inode of their own), ${stats.resets} resets (${stats.resetsCut} cut by a kill; ${stats.resetDoubts} attachments in doubt, ${stats.goneAfterReset} of them gone; ` +
        `${stats.interruptedByReset} operations failed cleanly during a reset), ` +
        `${stats.opsBegun} operations begun, ${violations.length} violations, ${seconds} s (${(stats.workerMs / 1000).toFixed(1)} s running workers, ${(stats.checkMs / 1000).toFixed(1)} s checking)`,
    );
    expect(violations).toEqual([]);
  });
});

const STEP_WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "step-kill-worker.mjs");

describe("kill -9 after every filesystem step of one stage", () => {
  const cases = [
    { name: "copy from a path, new bytes", mode: "copy", kind: "path", known: false, xdev: false },
    { name: "copy from a path, bytes already stored", mode: "copy", kind: "path", known: true, xdev: false },
    { name: "copy from a stream", mode: "copy", kind: "stream", known: false, xdev: false },
    { name: "move on the same filesystem", mode: "move", kind: "path", known: false, xdev: false },
    { name: "move of bytes already stored", mode: "move", kind: "path", known: true, xdev: false },
    { name: "move from another filesystem", mode: "move", kind: "path", known: false, xdev: true },
    { name: "reference", mode: "reference", kind: "path", known: false, xdev: false },
  ] as const;
  let kills = 0;
  let violationsTotal = 0;

  for (const c of cases) {
    it(`${c.name}: the store is consistent and the source is safe whichever step the kill follows`, { timeout: 120_000 }, async () => {
      requireDist();
      const root = freshDir("attache-step-");
      const dir = path.join(root, "store");
      let sourceDir = root;
      if (c.xdev) {
        if (!fs.existsSync("/dev/shm") || fs.statSync("/dev/shm").dev === fs.statSync(root).dev) return;
        sourceDir = freshDir("attache-step-xdev-", "/dev/shm");
      }
      const bytesFor = (k: number) => {
        const bytes = Buffer.alloc(scaled(100_000, 3 * 1024 * 1024 + 5), 3);
        if (!c.known) bytes.writeUInt32LE(k + 1, 0);
        return bytes;
      };
      const setup = await openStore({ dir, sweepInterval: false });
      const kept = [await setup.stage(Buffer.from("kept across every kill"), { scope: "kept", persist: true })];
      if (c.known) kept.push(await setup.stage(bytesFor(0), { scope: "kept", ttl: "7d" }));
      await setup.close();

      // Record the calls on a scratch copy of the same situation.
      const scratch = path.join(root, "scratch");
      const scratchStore = await openStore({ dir: scratch, sweepInterval: false });
      if (c.known) await scratchStore.stage(bytesFor(0), { scope: "kept", ttl: "7d" });
      await scratchStore.close();
      const recordSource = path.join(sourceDir, "record.bin");
      fs.writeFileSync(recordSource, bytesFor(1_000));
      const recording = startWorker(STEP_WORKER, { dir: scratch, source: recordSource, kind: c.kind, mode: c.mode, scope: "op", killAfter: -1 });
      const recorded = await recording.exited;
      expect(recorded.code, recording.output()).toBe(0);
      const calls = (JSON.parse(recording.output().trim().split("\n").pop() as string) as { calls: string[] }).calls;
      expect(calls.length).toBeGreaterThan(0);

      const violations: string[] = [];
      for (let k = 0; k < calls.length; k++) {
        // Calls were recorded on the scratch store with its own source: name them generically.
        const call = (calls[k] as string).replace(scratch, "<store>").replace(recordSource, "<source>").replace(root, "").replace(/[0-9a-f]{24,}/g, "…");
        const step = `kill after call ${k} (${call})`;
        const source = path.join(sourceDir, `source-${k}.bin`);
        const bytes = bytesFor(k);
        fs.writeFileSync(source, bytes);
        const digest = sha256Hex(bytes);
        const worker = startWorker(STEP_WORKER, { dir, source, kind: c.kind, mode: c.mode, scope: "op", killAfter: k });
        const { signal, code } = await worker.exited;
        if (signal === "SIGKILL") kills++;
        else if (code !== 0) violations.push(`${step}: the worker failed: ${worker.output()}`);

        violations.push(...auditStore(dir).violations.map((v) => `${step}: ${v}`));
        const store = await openStore({ dir, sweepInterval: false });
        try {
          const adopted = (await store.list({ scope: "op" })).find((a) => a.checksum === digest);
          if (adopted !== undefined) {
            const read = await store.read(adopted.ref).catch((err: unknown) => err);
            if (!Buffer.isBuffer(read) || sha256Hex(read) !== digest) violations.push(`${step}: the committed attachment does not read: ${explain(read)}`);
          }
          if (c.mode === "reference" || (c.mode === "move" && adopted === undefined)) {
            // A reference source is never touched; a move that did not commit must leave the user's file.
            if (!fs.existsSync(source)) violations.push(`${step}: the source file is gone and no attachment holds its bytes: the user's file is lost`);
            else if (sha256Hex(fs.readFileSync(source)) !== digest) violations.push(`${step}: the source file was changed`);
          }
          for (const a of kept) {
            const read = await store.read(a.ref).catch((err: unknown) => err);
            if (!Buffer.isBuffer(read) || sha256Hex(read) !== a.checksum) violations.push(`${step}: kept attachment ${a.id} does not read: ${explain(read)}`);
          }
          await store.releaseScope("op");
        } finally {
          await store.close();
        }
        const later = Date.now() + HOUR;
        const sweeper = await openStore({ dir, sweepInterval: false, clock: () => later, gracePeriod: GRACE_MS });
        await sweeper.sweep().finally(() => sweeper.close());
        violations.push(...auditStore(dir, { hash: false, clean: { now: later, gracePeriodMs: GRACE_MS } }).violations.map((v) => `${step}, after the sweep: ${v}`));
        fs.rmSync(source, { force: true });
      }
      violationsTotal += violations.length;
      console.log(`step kills (${c.name}): ${calls.length} steps, ${kills} kills so far, ${violationsTotal} violations so far`);
      expect(violations).toEqual([]);
    });
  }
});
