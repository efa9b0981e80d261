/**
 * `reset`: drops every attachment, intent and lease, then every temp file
 * and every managed blob. Blobs go page by page through the delete fence, and
 * no directory is ever removed, because other processes may be staging into
 * the same store at that moment: a stage that commits after the manifest was
 * emptied pins its blob (its intent, then its attachment), so the fence
 * keeps that blob's file, and every stage finds the directories it expects.
 * A stage caught half-way (its intent dropped, its temp file removed) fails
 * cleanly with an AttacheError and leaves nothing. A reset that fails or is
 * killed part-way leaves only unreferenced rows and files the sweep reclaims.
 */
import type { StoreContext } from "./context.js";
import { deleteUnneeded } from "./fence.js";
import { reclaimNamedPaths } from "./named-paths.js";

const PAGE = 500;

export async function resetStore(ctx: StoreContext): Promise<void> {
  await ctx.manifest.reset();
  // Temp files named by an intent belong to stages that began after the manifest was emptied;
  // those this handle is writing are its own stages in flight.
  const named = await ctx.manifest.pins.intentTempNames();
  for (const temp of await ctx.blobs.listTemp()) {
    if (!named.has(temp.name) && !ctx.writer.temps.has(temp.name)) await ctx.blobs.removeTemp(temp.name);
  }
  // Every lease was dropped: their named paths go too.
  await reclaimNamedPaths(ctx);
  let after: string | null = null;
  for (;;) {
    const blobs = await ctx.manifest.blobs.list(after, PAGE);
    await deleteUnneeded(ctx, blobs.map((blob) => blob.digest));
    if (blobs.length < PAGE) break;
    after = (blobs[blobs.length - 1] as { digest: string }).digest;
  }
}
