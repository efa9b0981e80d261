/**
 * The cleanup pass. Every step starts from an index, so a sweep with nothing
 * to do costs a handful of indexed queries and one listing of `tmp/`:
 *
 *   1. drop expired attachments             (attachments.expires_at index)
 *   2. drop intents of stages that never finished, and their temp objects   (grace period)
 *   3. drop leases past their ttl           (grace period)
 *   4. delete temp objects no intent names  (grace period, by mtime)
 *   5. delete blobs nothing needs           (blobs.refs = 0 index, each through the fence)
 *
 * A step that fails stops the sweep with an IO_ERROR: deletion is fail-closed,
 * and whatever was not reached is picked up by the next sweep.
 */
import { deleteBlobIfUnneeded, secureBlob, toAttachment, type StoreContext } from "./context.js";
import { ioError } from "./errors.js";
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
  const orphanBefore = now - ctx.options.gracePeriodMs;
  const report: SweepReport = { expired: 0, blobsDeleted: 0, bytesFreed: 0, orphansReclaimed: 0, durationMs: 0 };

  for (;;) {
    const expired = await ctx.manifest.expireDue(now, BATCH);
    for (const record of expired) publishExpired(toAttachment(ctx, record));
    report.expired += expired.length;
    if (expired.length < BATCH) break;
  }

  for (;;) {
    const intents = await ctx.manifest.staleIntents(orphanBefore, BATCH);
    for (const intent of intents) {
      // A move cut short after linking the user's file in: the blob gets an inode of its own
      // (the user's file stays where it is; at worst the move became a copy).
      if (intent.linkedFrom != null) await secureBlob(ctx, intent.digest);
      if (intent.tempName !== null) await ctx.blobs.removeTemp(intent.tempName);
      await ctx.manifest.abandonStage(intent.id);
      publishOrphanReclaimed("intent", intent.tempName ?? `intent:${intent.id}`, 0);
      report.orphansReclaimed++;
    }
    if (intents.length < BATCH) break;
  }

  for (;;) {
    const leases = await ctx.manifest.reclaimLeases(orphanBefore, BATCH);
    for (const lease of leases) publishOrphanReclaimed("lease", `lease:${lease.id}`, 0);
    report.orphansReclaimed += leases.length;
    if (leases.length < BATCH) break;
  }

  // Named paths of leases that are gone (ended by a crash, or reclaimed just above).
  report.orphansReclaimed += await reclaimNamedPaths(ctx);

  const named = await ctx.manifest.intentTempNames();
  for (const temp of await ctx.blobs.listTemp()) {
    if (temp.mtimeMs > orphanBefore || named.has(temp.name)) continue;
    await ctx.blobs.removeTemp(temp.name);
    publishOrphanReclaimed("temp", temp.location, temp.size);
    report.orphansReclaimed++;
  }

  let after: string | null = null;
  for (;;) {
    const candidates = await ctx.manifest.unreferencedBlobs(after, BATCH);
    for (const candidate of candidates) {
      const deleted = await deleteBlobIfUnneeded(ctx, candidate.digest);
      if (deleted !== undefined) {
        report.blobsDeleted++;
        report.bytesFreed += deleted.size;
      }
    }
    if (candidates.length < BATCH) break;
    after = (candidates[candidates.length - 1] as { digest: string }).digest;
  }

  report.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
  return report;
}
