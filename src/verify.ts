/**
 * `verify`: re-hashes every managed blob and every `reference` file, and
 * lists files in the store's directories that no row knows. With `repair`,
 * drops the attachments whose bytes are damaged or gone and deletes stray
 * files, but never touches a `reference` file. It reads everything, so it is
 * an operator's tool, not something to run on a hot path.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { deleteBlobIfUnneeded, freeBlobsOf, toAttachment, type StoreContext } from "./context.js";
import { ioError } from "./errors.js";
import { errnoCode } from "./fs-seam.js";
import { openRaw } from "./read.js";
import { publishReleased } from "./telemetry.js";
import type { VerifyOptions, VerifyReport } from "./types.js";

const PAGE = 500;

/**
 * Hex SHA-256 of a stream, or `null` if its file is missing (`missingCodes`
 * when opening it). A failure after the file opened (a read or close error) is
 * no evidence that the bytes are gone: it fails the verify instead, so repair
 * never drops an attachment over a transient error.
 */
async function digestOf(
  open: () => Promise<Readable>,
  missingCodes: readonly string[] = ["ENOENT"],
): Promise<{ digest: string; size: number } | null> {
  let stream: Readable;
  try {
    stream = await open();
  } catch (err) {
    if (missingCodes.includes(errnoCode(err) ?? "")) return null;
    throw err;
  }
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: hash.digest("hex"), size };
}

export async function verifyStore(
  ctx: StoreContext,
  repair: boolean,
  onProgress: VerifyOptions["onProgress"],
): Promise<VerifyReport> {
  try {
    return await verifySteps(ctx, repair, onProgress);
  } catch (err) {
    throw ioError("verify the store", err);
  }
}

async function verifySteps(
  ctx: StoreContext,
  repair: boolean,
  onProgress: VerifyOptions["onProgress"],
): Promise<VerifyReport> {
  const progress = () => onProgress?.({ blobsChecked: report.blobsChecked, bytesChecked: report.bytesChecked });
  const report: VerifyReport = { blobsChecked: 0, bytesChecked: 0, corrupt: [], missing: [], orphanFiles: [], repaired: 0 };
  const damaged: string[] = [];

  let afterDigest: string | null = null;
  for (;;) {
    const blobs = await ctx.manifest.listBlobs(afterDigest, PAGE);
    for (const blob of blobs) {
      const found = await digestOf(() => ctx.blobs.openRead(blob.digest));
      // A blob no attachment uses yet may be a stage between its intent and its rename.
      if (found === null && blob.refs === 0) continue;
      report.blobsChecked++;
      if (found === null) {
        report.missing.push(`sha256:${blob.digest}`);
        damaged.push(blob.digest);
        progress();
        continue;
      }
      report.bytesChecked += found.size;
      if (found.digest !== blob.digest) {
        report.corrupt.push(`sha256:${blob.digest}`);
        damaged.push(blob.digest);
      }
      progress();
    }
    if (blobs.length < PAGE) break;
    afterDigest = (blobs[blobs.length - 1] as { digest: string }).digest;
  }

  let afterId: string | null = null;
  const damagedReferences: string[] = [];
  for (;;) {
    const references = await ctx.manifest.listReferences(afterId, PAGE);
    for (const record of references) {
      // An outside file that is gone or unreadable to this process counts as missing.
      const found = await digestOf(() => openRaw(ctx, record), ["ENOENT", "ENOTDIR", "EACCES"]);
      report.blobsChecked++;
      if (found === null) {
        report.missing.push(`sha256:${record.digest}`);
        damagedReferences.push(record.id);
        progress();
        continue;
      }
      report.bytesChecked += found.size;
      if (found.digest !== record.digest) {
        report.corrupt.push(`sha256:${record.digest}`);
        damagedReferences.push(record.id);
      }
      progress();
    }
    if (references.length < PAGE) break;
    afterId = (references[references.length - 1] as { id: string }).id;
  }

  const strays: { location: string; temp: boolean; name: string }[] = [];
  for await (const object of ctx.blobs.list()) {
    if (object.digest !== null && (await ctx.manifest.getBlob(object.digest)) !== undefined) continue;
    report.orphanFiles.push(object.location);
    strays.push({ location: object.location, temp: false, name: "" });
  }
  const named = await ctx.manifest.intentTempNames();
  const orphanBefore = ctx.now() - ctx.options.gracePeriodMs;
  for (const temp of await ctx.blobs.listTemp()) {
    if (temp.mtimeMs > orphanBefore || named.has(temp.name)) continue;
    report.orphanFiles.push(temp.location);
    strays.push({ location: temp.location, temp: true, name: temp.name });
  }

  if (repair) {
    for (const digest of damaged) {
      const dropped = await ctx.manifest.dropAttachmentsOfBlob(digest);
      for (const record of dropped) publishReleased(toAttachment(ctx, record));
      report.repaired += dropped.length;
      if ((await deleteBlobIfUnneeded(ctx, digest)) !== undefined) report.repaired++;
      else if (report.corrupt.includes(`sha256:${digest}`)) {
        // Still pinned (a lease): its bytes are wrong for every reader anyway. Remove the damaged file,
        // keeping the row, so the next stage of these bytes finds no file and writes them afresh instead
        // of deduplicating onto the damage (commit trusts a blob file of the right size).
        await ctx.blobs.delete(digest);
        report.repaired++;
      }
    }
    for (const id of damagedReferences) {
      const dropped = await ctx.manifest.dropAttachment(id);
      if (dropped !== undefined) {
        publishReleased(toAttachment(ctx, dropped));
        report.repaired++;
        await freeBlobsOf(ctx, [dropped]);
      }
    }
    for (const stray of strays) {
      if (stray.temp) await ctx.blobs.removeTemp(stray.name);
      else await ctx.blobs.removeStray(stray.location);
      report.repaired++;
    }
  }
  return report;
}
