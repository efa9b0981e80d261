/**
 * The sweep's remote step: for each destination made with
 * `deleteWhenUnused: true` that this store knows (passed to `openStore` as
 * `destinations`, or used by `upload()` in this process), deletes the remote
 * files whose bytes no live attachment uses any more, and forgets them once
 * the provider confirms (a 404 counts). A failed delete is counted and left
 * in the ledger for the next sweep: the sweep never fails for it.
 */
import type { StoreContext } from "../context.js";

const PAGE = 100;

export interface RemoteCleanup {
  deleted: number;
  failed: number;
}

export async function deleteUnusedRemoteFiles(ctx: StoreContext, now: number): Promise<RemoteCleanup> {
  const outcome: RemoteCleanup = { deleted: 0, failed: 0 };
  for (const destination of ctx.delivery.destinations.values()) {
    if (!destination.settings.deleteWhenUnused) continue;
    let after: string | null = null;
    for (;;) {
      const unused = await ctx.manifest.uploads.unused(destination.key, now, after, PAGE);
      for (const entry of unused) {
        try {
          await destination.delete(entry.remoteId as string);
          await ctx.manifest.uploads.drop(destination.key, entry.digest, entry.remoteId as string);
          outcome.deleted++;
        } catch {
          outcome.failed++;
        }
      }
      if (unused.length < PAGE) break;
      after = (unused[unused.length - 1] as { digest: string }).digest;
    }
  }
  return outcome;
}
