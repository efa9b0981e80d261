/**
 * The cleanup pass. Every step starts from an index, so a sweep with nothing
 * to do costs a handful of indexed queries and one listing of `tmp/`:
 *
 *   1. drop expired attachments             (attachments.expires_at index)
 *   2. drop intents of stages whose writer is gone, and their temp objects   (grace period)
 *   3. drop leases past their ttl           (grace period)
 *   4. delete temp objects of writers that are gone   (grace period, by mtime and heartbeat)
 *   5. finish blob deletions whose writer is gone   (condemned rows)
 *   6. delete blobs nothing needs           (blobs.refs = 0 index: condemn, delete, forget, in batches)
 *   7. forget writers gone past the grace period; drop cached copies of deleted blobs
 *   8. forget ledger entries whose remote file expired; delete remote files no live attachment uses, for destinations made with
 *      `deleteWhenUnused` (failures are counted, never thrown: retried next time)
 *
 * A writer is "gone" when its heartbeat is older than the grace period; this
 * handle's own leftovers (not in flight) count as gone too. So a slow stage
 * on another host, whose writer keeps beating, is never reclaimed under it.
 *
 * A step that fails stops the sweep with an IO_ERROR: deletion is fail-closed,
 * and whatever was not reached is picked up by the next sweep.
 */
import { secureBlob, toAttachment, type StoreContext } from "./context.js";
import { ioError } from "./errors.js";
import { deleteUnusedRemoteFiles } from "./deliver/remote-cleanup.js";
import { deleteCondemned, deleteUnneeded } from "./fence.js";
import { reclaimNamedPaths } from "./named-paths.js";
import { publishExpired, publishOrphanReclaimed } from "./telemetry.js";
import type { SweepReport } from "./types.js";

const BATCH = 500;

export async function sweepStore(ctx: StoreContext): Promise<SweepReport> {
  try {
    return await sweepSteps(ctx);
  } catch (err) {
    // Fail closed: whatever this sweep did not reach, the next one picks up.
    throw ioError("sweep the store", err);
  }
}

async function sweepSteps(ctx: StoreContext): Promise<SweepReport> {
  const started = performance.now();
  const now = ctx.now();
  const writer = ctx.writer;
  const orphanBefore = writer.staleBefore(now);
  const report: SweepReport = {
    expired: 0, blobsDeleted: 0, bytesFreed: 0, orphansReclaimed: 0, remoteDeleted: 0, remoteFailed: 0, durationMs: 0,
  };
  await writer.ready();
  await writer.beat();

  for (;;) {
    const expired = await ctx.manifest.attachments.expireDue(now, BATCH);
    for (const record of expired) publishExpired(toAttachment(ctx, record));
    report.expired += expired.length;
    if (expired.length < BATCH) break;
  }

  for (;;) {
    const intents = (await ctx.manifest.pins.staleIntents(orphanBefore, writer.id, BATCH)).filter((i) => !writer.intents.has(i.id));
    for (const intent of intents) {
      // A move cut short after linking the user's file in: the blob gets an inode of its own
      // (the user's file stays where it is; at worst the move became a copy).
      if (intent.linkedFrom != null) await secureBlob(ctx, intent.digest);
      if (intent.tempName !== null) await ctx.blobs.removeTemp(intent.tempName);
      await ctx.manifest.pins.dropIntent(intent.id);
      publishOrphanReclaimed("intent", intent.tempName ?? `intent:${intent.id}`, 0);
      report.orphansReclaimed++;
    }
    if (intents.length < BATCH) break;
  }

  for (;;) {
    const leases = await ctx.manifest.pins.reclaimLeases(orphanBefore, BATCH);
    for (const lease of leases) publishOrphanReclaimed("lease", `lease:${lease.id}`, 0);
    report.orphansReclaimed += leases.length;
    if (leases.length < BATCH) break;
  }

  // Named paths of leases that are gone (ended by a crash, or reclaimed just above).
  report.orphansReclaimed += await reclaimNamedPaths(ctx);

  const named = await ctx.manifest.pins.intentTempNames();
  const live = await ctx.manifest.pins.liveWriters(orphanBefore);
  for (const temp of await ctx.blobs.listTemp()) {
    if (temp.mtimeMs > orphanBefore || named.has(temp.name)) continue;
    // A writer still at work keeps its temp objects, however old (a slow upload); this handle knows its own.
    if (temp.writer === writer.id ? writer.temps.has(temp.name) : temp.writer !== null && live.has(temp.writer)) continue;
    await ctx.blobs.removeTemp(temp.name);
    publishOrphanReclaimed("temp", temp.location, temp.size);
    report.orphansReclaimed++;
  }

  const count = (deleted: { size: number }[]) => {
    report.blobsDeleted += deleted.length;
    for (const blob of deleted) report.bytesFreed += blob.size;
  };
  for (;;) {
    const abandoned = (await ctx.manifest.blobs.claimAbandoned(orphanBefore, writer.id, BATCH)).filter((b) => !writer.condemning.has(b.digest));
    count(await deleteCondemned(ctx, abandoned));
    if (abandoned.length < BATCH) break;
  }

  let after: string | null = null;
  for (;;) {
    const candidates = await ctx.manifest.blobs.unreferenced(after, BATCH);
    count(await deleteUnneeded(ctx, candidates.map((blob) => blob.digest)));
    if (candidates.length < BATCH) break;
    after = (candidates[candidates.length - 1] as { digest: string }).digest;
  }

  // Pages freed by deleted inline bytes (here, or by releases since the last sweep) go back to the filesystem.
  await ctx.manifest.reclaimSpace?.();
  await ctx.manifest.pins.forgetStaleWriters(orphanBefore);
  if (ctx.cache !== null) {
    // Copies of blobs deleted by other hosts (this one drops its own as it deletes them).
    await ctx.cache.prune(async (digests: string[]) => {
      const kept = new Set<string>();
      for (const digest of digests) {
        const blob = await ctx.manifest.blobs.get(digest);
        if (blob !== undefined && blob.condemnedBy === null) kept.add(digest);
      }
      return kept;
    }, ctx.options.gracePeriodMs);
  }

  // Remote files the provider deleted at their expiry are forgotten; those still held and unused are deleted.
  await ctx.manifest.uploads.dropExpired(now);
  const remote = await deleteUnusedRemoteFiles(ctx, now);
  report.remoteDeleted = remote.deleted;
  report.remoteFailed = remote.failed;

  report.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
  return report;
}
