/**
 * Crash cases aimed inside the SQLite manifest's group commit (issue 13).
 * Each round, one worker (group-commit-crash-worker.mjs) keeps 16–64
 * operations in flight on one store — inline stages (200 B–60 KiB), file
 * stages (> 64 KiB), stages of bytes already stored, releases, leases — so
 * that group-commit.ts batches them, and SIGKILLs itself at one chosen point:
 *
 *   inside   in the k-th savepoint (k ≥ 2) of a batch, before the batch commits
 *   commit   right after a batch of ≥ 2 writes returned from COMMIT, before any
 *            of its promises resolved
 *   between  after one batch, before the next one's BEGIN
 *
 * At that instant the worker records the manifest's committed state (through
 * a second connection) and what the batch wrote. After each kill:
 *
 *   1. the manifest holds exactly the committed state: for "inside" none of
 *      the batch's writes (atomicity), for "commit" all of them (durable at
 *      COMMIT though no promise resolved); PRAGMA integrity_check is ok;
 *   2. no attachment the killed batch created was journalled (its promise
 *      never resolved): the kill really was inside the batch;
 *   3. every journalled stage not released is live and read() verifies it;
 *      the audit is clean (blob files, refs, running totals against a recount)
 *      and metrics() agrees with the rows;
 *   4. a sweep with a clock 1 h ahead leaves no intent, temp file, stale lease
 *      or unreferenced blob, and keeps every tracked attachment.
 *
 * Prints: kills by kind, batch sizes killed in, rows the killed batches wrote,
 * attachments checked, violations (must be 0).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import { countRows, diffDumps, dumpManifest, type ManifestDump } from "../helpers/manifest-dump.mjs";
import { requireDist, startWorker } from "../helpers/processes.js";
import { scaled, STRESS } from "../helpers/scale.js";
import { auditStore, readManifest, sha256Hex } from "../helpers/store-audit.js";
import { explain, sweepPastGrace } from "../helpers/sweep-audit.js";
import { freshDir } from "../helpers/temp-dirs.js";
import { openSqlite } from "../support/sqlite.js";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "group-commit-crash-worker.mjs");
const KILLS = Number(process.env.ATTACHE_GROUP_COMMIT_KILLS ?? scaled(24, 300));
const GRACE_MS = 60_000;
/** Past this many attachments, the oldest round's scopes are released (keeps each check small). */
const MAX_TRACKED = 250;
/** Older rounds' attachments read back after each kill (all of them must be live; this round's are all read). */
const OLDER_READS = 40;

type Kind = "inside" | "commit" | "between";
const KINDS: Kind[] = ["inside", "commit", "inside", "commit", "between"];

/** What the worker wrote at the instant it killed itself. */
interface KillRecord {
  kind: Kind;
  at?: "enter" | "leave";
  k?: number;
  /** Writes (savepoints) of the batch killed in; for "between", of the batch before. */
  size: number;
  batches: number;
  /** Every row committed at the kill, read through a second connection. */
  committed: ManifestDump;
  /** inside/commit: rows the batch wrote and deleted, its own view against its view at BEGIN. */
  added?: ManifestDump;
  removed?: ManifestDump;
}

interface Tracked {
  digest: string;
  scope: string;
  round: number;
}

const rand = (n: number) => Math.floor(Math.random() * n);

/** Attachment ids in rows of a dump's `attachments` table. */
function attachmentIds(rows: string[] | undefined): Set<string> {
  return new Set((rows ?? []).map((row) => (JSON.parse(row) as { id: string }).id));
}

/** The manifest as it survived, read raw, and its integrity check. */
function survivingManifest(dir: string): { dump: ManifestDump; integrity: string } {
  const db = openSqlite(path.join(dir, "manifest.db"), { readonly: true, fileMustExist: true });
  try {
    const integrity = (db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[]).map((r) => r.integrity_check).join("; ");
    return { dump: dumpManifest(db), integrity };
  } finally {
    db.close();
  }
}

describe("group-commit crash", () => {
  it(`keeps each batch atomic and durable at COMMIT through ${KILLS} SIGKILLs aimed at group commits`, { timeout: scaled(120_000, 3_600_000) }, async () => {
    requireDist();
    const started = Date.now();
    const root = freshDir("attache-group-commit-");
    const dir = path.join(root, "store");
    const journals = path.join(root, "journals");
    fs.mkdirSync(journals, { recursive: true });
    const setup = await openStore({ dir, sweepInterval: false });
    const kept = await setup.stage(Buffer.from("kept across every kill"), { scope: "kept", persist: true });
    await setup.close();

    const expected = new Map<string, Tracked>([[kept.id, { digest: kept.checksum, scope: "kept", round: -1 }]]);
    const violations: string[] = [];
    const stats = { kills: 0, inside: 0, insideEnter: 0, commit: 0, between: 0, full: 0, batchRows: 0, emptyBatches: 0, mixedBatches: 0, checked: 0, stagesJournalled: 0, releasesInDoubt: 0, workerMs: 0, checkMs: 0 };
    const sizesByKind: Record<Kind, number[]> = { inside: [], commit: [], between: [] };

    for (let round = 0; round < KILLS; round++) {
      const kind = KINDS[round % KINDS.length] as Kind;
      const lanes = 16 + rand(49);
      const durability = round % 3 === 2 ? "full" : "normal";
      const plan = {
        dir,
        journal: path.join(journals, `r${round}.jsonl`),
        expectFile: path.join(journals, `r${round}.expect.json`),
        seed: (round * 7919 + Date.now()) >>> 0,
        round,
        durability,
        kind,
        k: 2 + rand(Math.max(1, Math.floor(lanes / 4) - 1)),
        at: round % 2 === 0 ? "enter" : "leave",
        warmBatches: 1 + rand(8),
        lanes,
      };
      const tag = `round ${round} (${kind}${kind === "inside" ? ` at ${plan.at} of savepoint ${plan.k}` : ""}, ${lanes} lanes, ${durability})`;
      const t0 = Date.now();
      const worker = startWorker(WORKER, plan);
      const { code, signal } = await worker.exited;
      const t1 = Date.now();
      stats.workerMs += t1 - t0;
      if (signal !== "SIGKILL") {
        violations.push(`${tag}: the worker was not killed at its aim (exit ${code ?? signal}):\n${worker.output().slice(-2000)}`);
        continue;
      }
      stats.kills++;
      if (durability === "full") stats.full++;

      // The journal: what resolved, what is in doubt.
      const journalled = new Set<string>();
      let killLogged = false;
      const lines = fs.existsSync(plan.journal) ? fs.readFileSync(plan.journal, "utf8").split("\n") : [];
      const releaseOpen = new Set<string>();
      for (const [i, line] of lines.entries()) {
        if (line === "") continue;
        let event: Record<string, unknown>;
        try {
          event = JSON.parse(line) as Record<string, unknown>;
        } catch {
          if (i !== lines.length - 1) violations.push(`${tag}: unreadable journal line ${i}`);
          continue;
        }
        if (event.e === "stage") {
          stats.stagesJournalled++;
          journalled.add(event.id as string);
          expected.set(event.id as string, { digest: event.digest as string, scope: event.scope as string, round });
        } else if (event.e === "release?") releaseOpen.add(event.id as string);
        else if (event.e === "release") {
          releaseOpen.delete(event.id as string);
          expected.delete(event.id as string);
        } else if (event.e === "violation") violations.push(`${tag}: ${String(event.message)}`);
        else if (event.e === "kill") killLogged = true;
      }
      if (!killLogged) violations.push(`${tag}: the journal does not show the aimed kill`);
      // A release in flight at the kill may or may not have committed: the store says which (checked below).
      stats.releasesInDoubt += releaseOpen.size;

      if (!fs.existsSync(plan.expectFile)) {
        violations.push(`${tag}: the worker died without recording the committed state`);
        continue;
      }
      const record = JSON.parse(fs.readFileSync(plan.expectFile, "utf8")) as KillRecord;
      stats[kind]++;
      if (kind === "inside" && record.at === "enter") stats.insideEnter++;
      sizesByKind[kind].push(record.size);
      violations.push(...checkKill(tag, record, journalled));
      violations.push(...(await checkStore(tag, round, releaseOpen)));
      stats.checkMs += Date.now() - t1;
      if (violations.length > 20) break;
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const histogram = (sizes: number[]) => [...sizes].sort((a, b) => a - b).join(",");
    console.log(
      `group-commit crash: ${stats.kills} kills in ${seconds} s (inside ${stats.inside} [${stats.insideEnter} as the write began], commit ${stats.commit}, between ${stats.between}; ${stats.full} with durability "full"); ` +
        `batch sizes killed in: inside [${histogram(sizesByKind.inside)}], commit [${histogram(sizesByKind.commit)}], before "between" [${histogram(sizesByKind.between)}]; ` +
        `${stats.batchRows} rows written by killed batches (${stats.emptyBatches} batches wrote none, ${stats.mixedBatches} mixed file and inline blobs); ${stats.stagesJournalled} stages journalled, ${stats.releasesInDoubt} releases in doubt, ` +
        `${stats.checked} attachments read back; workers ${(stats.workerMs / 1000).toFixed(1)} s, checks ${(stats.checkMs / 1000).toFixed(1)} s; ${violations.length} violations${STRESS ? " (stress)" : ""}`,
    );
    expect(violations).toEqual([]);
    expect(stats.kills).toBe(KILLS);
    // The aim really was inside batches of several writes, and those batches wrote rows.
    for (const size of [...sizesByKind.inside, ...sizesByKind.commit]) expect(size).toBeGreaterThanOrEqual(2);
    expect(stats.emptyBatches).toBeLessThanOrEqual((stats.inside + stats.commit) / 4);

    /** Check 1 and 2: the surviving manifest against what the worker recorded. */
    function checkKill(tag: string, record: KillRecord, journalled: Set<string>): string[] {
      const out: string[] = [];
      const { dump, integrity } = survivingManifest(dir);
      if (integrity !== "ok") out.push(`${tag}: PRAGMA integrity_check: ${integrity}`);
      const drift = diffDumps(record.committed, dump);
      for (const [table, rows] of Object.entries(drift.added)) out.push(`${tag}: ${table} has ${rows.length} uncommitted row(s) after the kill, e.g. ${rows[0]}`);
      for (const [table, rows] of Object.entries(drift.removed)) out.push(`${tag}: ${table} lost ${rows.length} committed row(s), e.g. ${rows[0]}`);
      if (record.kind === "between") return out;
      if (record.size < 2) out.push(`${tag}: the kill came in a batch of ${record.size} write(s), not a group`);
      const added = record.added ?? {};
      const removed = record.removed ?? {};
      const rows = countRows(added) + countRows(removed);
      stats.batchRows += rows;
      if (rows === 0) stats.emptyBatches++;
      // Did file blobs (> inlineMaxSize) and inline blobs share the batch?
      const inlineOf = (row: string) => (JSON.parse(row) as { inline: number }).inline;
      const fileBlobs = (added.blobs ?? []).some((row) => inlineOf(row) === 0) || (added.intents ?? []).length + (removed.intents ?? []).length > 0;
      const inlineBlobs = (added.blobs ?? []).some((row) => inlineOf(row) === 1) || (added.blob_bytes ?? []).length > 0;
      if (fileBlobs && inlineBlobs) stats.mixedBatches++;
      const present = new Set(Object.values(dump).flat());
      const expectPresent = (side: ManifestDump, present_: boolean, what: string) => {
        for (const [table, list] of Object.entries(side)) {
          const wrong = list.filter((row) => present.has(row) !== present_);
          if (wrong.length > 0) out.push(`${tag}: ${wrong.length} of ${list.length} ${table} row(s) ${what}, e.g. ${wrong[0]}`);
        }
      };
      if (record.kind === "inside") {
        expectPresent(added, false, "written by the killed batch survived the kill (the batch is not atomic)");
        expectPresent(removed, true, "deleted by the killed batch are gone after the kill (the batch is not atomic)");
      } else {
        expectPresent(added, true, "written by the committed batch were lost (not durable at COMMIT)");
        expectPresent(removed, false, "deleted by the committed batch are back (not durable at COMMIT)");
      }
      // Attachments the batch created: their stages cannot have resolved, so none may be journalled.
      const before = attachmentIds(removed.attachments);
      for (const id of attachmentIds(added.attachments)) {
        if (!before.has(id) && journalled.has(id)) out.push(`${tag}: attachment ${id}, created by the killed batch, was journalled: its promise resolved before the kill`);
      }
      return out;
    }

    /** Checks 3 and 4: the store reopens, keeps what was promised, and sweeps clean. */
    async function checkStore(tag: string, round: number, inDoubt: Set<string>): Promise<string[]> {
      const out = auditStore(dir, { hash: true }).violations.map((v) => `${tag}, after the kill: ${v}`);
      let store;
      try {
        store = await openStore({ dir, sweepInterval: false });
      } catch (err) {
        return [...out, `${tag}: the store does not reopen: ${explain(err)}`];
      }
      try {
        for (const id of inDoubt) {
          const alive = await store.get(`attache://${id}`).then(
            () => true,
            () => false,
          );
          if (!alive) expected.delete(id);
        }
        const rows = readManifest(dir).attachments;
        const liveIds = new Set(rows.map((a) => a.id));
        const older = [...expected].filter(([id, e]) => e.round !== round && liveIds.has(id));
        const sample = new Set(older.map(([id]) => id).sort(() => Math.random() - 0.5).slice(0, OLDER_READS));
        for (const [id, e] of expected) {
          if (!liveIds.has(id)) {
            out.push(`${tag}: attachment ${id} (${e.scope}, journalled in round ${e.round}) has no row after the kill`);
            continue;
          }
          if (e.round !== round && !sample.has(id)) continue;
          stats.checked++;
          const bytes = await store.read(`attache://${id}`).catch((err: unknown) => err);
          if (!Buffer.isBuffer(bytes)) out.push(`${tag}: attachment ${id} (${e.scope}, journalled in round ${e.round}) is lost: ${explain(bytes)}`);
          else if (sha256Hex(bytes) !== e.digest) out.push(`${tag}: attachment ${id} reads bytes that do not match its digest`);
        }
        const metrics = await store.metrics();
        const persistent = rows.filter((a) => a.expires_at === null);
        const sum = (list: typeof rows) => list.reduce((s, a) => s + a.size, 0);
        const recount = {
          attachments: rows.length,
          scopes: new Set(rows.map((a) => a.scope)).size,
          logicalBytes: sum(rows),
          persistent: `${persistent.length}/${sum(persistent)}`,
          expirable: `${rows.length - persistent.length}/${sum(rows) - sum(persistent)}`,
        };
        const reported = {
          attachments: metrics.attachments,
          scopes: metrics.scopes,
          logicalBytes: metrics.logicalBytes,
          persistent: `${metrics.persistent.count}/${metrics.persistent.bytes}`,
          expirable: `${metrics.expirable.count}/${metrics.expirable.bytes}`,
        };
        if (JSON.stringify(reported) !== JSON.stringify(recount)) out.push(`${tag}: metrics() says ${JSON.stringify(reported)} but the rows count ${JSON.stringify(recount)}`);
        // Keep each check small: drop the scopes of rounds before the last two, and the shared pool when it grows, as a user would.
        if (rows.length > MAX_TRACKED) {
          const scopes = new Map<string, number>();
          for (const a of rows) scopes.set(a.scope, (scopes.get(a.scope) ?? 0) + 1);
          for (const [scope, count] of scopes) {
            const of = /^r(\d+):/.exec(scope);
            if ((of !== null && Number(of[1]) < round - 1) || (scope === "pool" && count > MAX_TRACKED / 4)) {
              await store.releaseScope(scope);
              for (const [id, e] of expected) if (e.scope === scope) expected.delete(id);
            }
          }
        }
      } finally {
        await store.close();
      }
      out.push(...(await sweepPastGrace(dir, tag, expected.keys(), GRACE_MS)));
      return out;
    }
  });
});
