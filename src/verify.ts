/**
 * `verify`: re-hashes every managed blob and every `reference` file, and
 * lists files in the store's directories that no row knows. With `repair`,
 * drops the attachments whose bytes are damaged or gone and deletes stray
 * files, but never touches a `reference` file. It reads everything, so it is
 * an operator's tool, not something to run on a hot path.
 *
 * Verify decides from pages of the manifest and from files it read a moment
 * ago, while other scopes and processes keep staging and releasing. So no
 * observation is trusted later than it was made: a blob seen missing is looked
 * at again before it is reported (a release may have deleted it on purpose),
 * and every repair is re-checked at the moment it is applied — the blob
 * re-hashed outside any lock, then, inside the manifest's delete fence
 * (`Manifest.repairBlob`), a cheap `lstat` that the file is still the one
 * hashed and no stage of those bytes in flight. A repair never drops an
 * attachment staged after verify looked.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { freeBlobsOf, secureBlob, toAttachment, type StoreContext } from "./context.js";
import { ioError } from "./errors.js";
import { errnoCode } from "./fs-seam.js";
import type { LocalBlobFiles } from "./backends/blob-store.js";
import type { AttachmentRecord } from "./backends/manifest.js";
import { openRaw } from "./read.js";
import { publishBlobDeleted, publishReleased } from "./telemetry.js";
import type { VerifyOptions, VerifyReport } from "./types.js";

const PAGE = 500;
/** An outside file that is gone or unreadable to this process counts as missing. */
const REFERENCE_MISSING_CODES = ["ENOENT", "ENOTDIR", "EACCES"];

interface Hashed {
  digest: string;
  size: number;
}

/**
 * Hex SHA-256 of a stream, or `null` if its file is missing (`missingCodes`
 * when opening it). A failure after the file opened (a read or close error) is
 * no evidence that the bytes are gone: it fails the verify instead, so repair
 * never drops an attachment over a transient error.
 */
async function digestOf(open: () => Promise<Readable>, missingCodes: readonly string[] = ["ENOENT"]): Promise<Hashed | null> {
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

/** What verify saw of a managed blob when it hashed it. */
interface BlobObservation {
  /** The hash of its bytes, or `null`: the file is missing. */
  found: Hashed | null;
  /**
   * A token that changes whenever the file does (see {@link BlobFiles.identity});
   * `null` for a missing file.
   */
  identity: string | null;
}

/** How verify looks at managed blob files, and tells whether one changed since it looked. */
class BlobFiles {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * The file's identity right now, cheaply: device, inode, size and change
   * times from `lstat` (a file deleted and written again, or rewritten in
   * place, differs). A store without local files has nothing to `lstat`: its
   * identity is the hash of its bytes (such stores live in memory, so that is
   * cheap too). `null` when the blob is missing.
   */
  async identity(digest: string): Promise<string | null> {
    if (!(await this.isLocal(digest))) {
      const found = await digestOf(() => this.open(digest));
      return found && `${found.digest}:${found.size}`;
    }
    try {
      const stats = await this.ctx.fs.lstat((this.ctx.blobs.local as LocalBlobFiles).pathOf(digest), { bigint: true });
      return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT" || code === "ENOTDIR") return null;
      throw err;
    }
  }

  /** Hashes the blob; `undefined` when its file changed while it was being hashed (someone is at work on it). */
  async observe(digest: string): Promise<BlobObservation | undefined> {
    if (!(await this.isLocal(digest))) {
      const found = await digestOf(() => this.open(digest));
      return { found, identity: found && `${found.digest}:${found.size}` };
    }
    const before = await this.identity(digest);
    const found = await digestOf(() => this.ctx.blobs.openRead(digest));
    const after = await this.identity(digest);
    if (before !== after || (found === null) !== (after === null)) return undefined;
    return { found, identity: after };
  }

  /** The blob's bytes where they are: inline in the manifest, or in the blob store. */
  async open(digest: string): Promise<Readable> {
    const inline = await this.ctx.manifest.blobs.readInline?.(digest);
    return inline === undefined ? this.ctx.blobs.openRead(digest) : Readable.from([inline]);
  }

  /** Whether the blob is a local file (not inline, and the blob store keeps local files). */
  private async isLocal(digest: string): Promise<boolean> {
    if (this.ctx.blobs.local === undefined) return false;
    return (await this.ctx.manifest.blobs.readInline?.(digest)) === undefined;
  }
}

/** True for the errors SQLite gives when the manifest's file is damaged. */
function isManifestDamage(err: unknown): boolean {
  for (let at = err, depth = 0; at !== undefined && at !== null && depth < 8; at = (at as { cause?: unknown }).cause, depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === "string" && (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB")) return true;
  }
  return false;
}

/**
 * Verifies the store. A damaged manifest is reported, not thrown: its
 * integrity check's findings go to `manifestProblems`, and a query that later
 * fails on a damaged page ends the checks there, adding the failure to
 * `manifestProblems` (the rest of the report is then partial). `repair`
 * changes nothing while the manifest has problems.
 */
export async function verifyStore(
  ctx: StoreContext,
  repair: boolean,
  onProgress: VerifyOptions["onProgress"],
): Promise<VerifyReport> {
  const report: VerifyReport = {
    blobsChecked: 0,
    bytesChecked: 0,
    corrupt: [],
    missing: [],
    orphanFiles: [],
    repaired: 0,
    manifestProblems: [],
  };
  try {
    report.manifestProblems.push(...(await ctx.manifest.checkIntegrity()));
    const found = await findProblems(ctx, report, onProgress);
    // A damaged manifest cannot tell which attachments and files are needed: repairing from it could delete good bytes.
    if (repair && report.manifestProblems.length === 0) await repairProblems(ctx, report, found);
    return report;
  } catch (err) {
    if (!isManifestDamage(err)) throw ioError("verify the store", err);
    const message = err instanceof Error ? err.message : String(err);
    report.manifestProblems.push(`verify stopped early, the manifest could not be read: ${message}`);
    return report;
  }
}

/** What the checks found that a repair may act on. */
interface Found {
  /** Managed blobs (hex digests) found corrupt or missing. */
  damagedBlobs: string[];
  /** `reference` attachments whose file is damaged or gone, as verify read them. */
  damagedReferences: AttachmentRecord[];
  strays: Stray[];
}

type Stray =
  | { kind: "temp"; name: string }
  | { kind: "other"; location: string }
  /** A file named like a blob that no row knows, and its identity when verify saw it. */
  | { kind: "blob"; location: string; digest: string; identity: string };

async function findProblems(ctx: StoreContext, report: VerifyReport, onProgress: VerifyOptions["onProgress"]): Promise<Found> {
  const progress = () => onProgress?.({ blobsChecked: report.blobsChecked, bytesChecked: report.bytesChecked });
  const files = new BlobFiles(ctx);
  const found: Found = { damagedBlobs: [], damagedReferences: [], strays: [] };

  let afterDigest: string | null = null;
  for (;;) {
    const blobs = await ctx.manifest.blobs.list(afterDigest, PAGE);
    for (const blob of blobs) {
      let hashed = await digestOf(() => files.open(blob.digest));
      if (hashed === null) {
        // A blob no attachment uses yet may be a stage between its intent and its rename.
        if (blob.refs === 0) continue;
        // The page may be stale: a release may have deleted the blob since, and a stage may have put it back.
        const now = await ctx.manifest.blobs.get(blob.digest);
        if (now === undefined || now.refs === 0) continue;
        hashed = await digestOf(() => files.open(blob.digest));
      }
      report.blobsChecked++;
      if (hashed === null) {
        report.missing.push(`sha256:${blob.digest}`);
        found.damagedBlobs.push(blob.digest);
        progress();
        continue;
      }
      report.bytesChecked += hashed.size;
      if (hashed.digest !== blob.digest) {
        report.corrupt.push(`sha256:${blob.digest}`);
        found.damagedBlobs.push(blob.digest);
      }
      progress();
    }
    if (blobs.length < PAGE) break;
    afterDigest = (blobs[blobs.length - 1] as { digest: string }).digest;
  }

  let afterId: string | null = null;
  for (;;) {
    const references = await ctx.manifest.attachments.listReferences(afterId, PAGE);
    for (const record of references) {
      const hashed = await digestOf(() => openRaw(ctx, record), REFERENCE_MISSING_CODES);
      // Released since the page was read: no longer this verify's business.
      if (hashed === null && !(await isStillReference(ctx, record))) continue;
      report.blobsChecked++;
      if (hashed === null) {
        report.missing.push(`sha256:${record.digest}`);
        found.damagedReferences.push(record);
        progress();
        continue;
      }
      report.bytesChecked += hashed.size;
      if (hashed.digest !== record.digest) {
        report.corrupt.push(`sha256:${record.digest}`);
        found.damagedReferences.push(record);
      }
      progress();
    }
    if (references.length < PAGE) break;
    afterId = (references[references.length - 1] as { id: string }).id;
  }

  for await (const object of ctx.blobs.list()) {
    if (object.digest === null) {
      report.orphanFiles.push(object.location);
      found.strays.push({ kind: "other", location: object.location });
      continue;
    }
    const row = await ctx.manifest.blobs.get(object.digest);
    if (row !== undefined) {
      // A file beside inline bytes: reported, never repaired (a stage may be writing it there as the row changes).
      if (row.inline === true) report.orphanFiles.push(object.location);
      continue;
    }
    // A release deletes the file, then the row: one listed before and looked up after was no orphan.
    const identity = await files.identity(object.digest);
    if (identity === null || (await ctx.manifest.blobs.get(object.digest)) !== undefined) continue;
    report.orphanFiles.push(object.location);
    found.strays.push({ kind: "blob", location: object.location, digest: object.digest, identity });
  }
  const named = await ctx.manifest.pins.intentTempNames();
  const orphanBefore = ctx.writer.staleBefore(ctx.now());
  const live = await ctx.manifest.pins.liveWriters(orphanBefore);
  for (const temp of await ctx.blobs.listTemp()) {
    if (temp.mtimeMs > orphanBefore || named.has(temp.name)) continue;
    if (temp.writer === ctx.writer.id ? ctx.writer.temps.has(temp.name) : temp.writer !== null && live.has(temp.writer)) continue;
    report.orphanFiles.push(temp.location);
    found.strays.push({ kind: "temp", name: temp.name });
  }
  return found;
}

/** Whether `record` is still the same `reference` attachment (not released, nor turned into a managed copy by a new stage). */
/**
 * Gives every blob that shares its inode with a file outside the store (a
 * hard link an older version's `move` left, or one made by hand) an inode of
 * its own, so a write to that file cannot change the blob. One `lstat` per
 * blob; a copy only for the shared ones. Returns how many were copied.
 */
async function secureSharedBlobs(ctx: StoreContext): Promise<number> {
  if (ctx.blobs.local === undefined) return 0;
  let copied = 0;
  let after: string | null = null;
  for (;;) {
    const blobs = await ctx.manifest.blobs.list(after, PAGE);
    for (const blob of blobs) if (blob.inline !== true && (await secureBlob(ctx, blob.digest))) copied++;
    if (blobs.length < PAGE) return copied;
    after = (blobs[blobs.length - 1] as { digest: string }).digest;
  }
}

async function isStillReference(ctx: StoreContext, record: AttachmentRecord): Promise<boolean> {
  const now = await ctx.manifest.attachments.get(record.id);
  return now !== undefined && now.referencePath === record.referencePath && now.digest === record.digest;
}

async function repairProblems(ctx: StoreContext, report: VerifyReport, found: Found): Promise<void> {
  const files = new BlobFiles(ctx);
  for (const digest of found.damagedBlobs) report.repaired += await repairBlob(ctx, files, digest);
  report.repaired += await secureSharedBlobs(ctx);
  for (const seen of found.damagedReferences) {
    // Look again right before dropping: the file may have been put right, or the scope may have staged the bytes anew.
    if (!(await isStillReference(ctx, seen))) continue;
    const hashed = await digestOf(() => openRaw(ctx, seen), REFERENCE_MISSING_CODES);
    if (hashed !== null && hashed.digest === seen.digest) continue;
    const dropped = await ctx.manifest.attachments.drop(seen.id);
    if (dropped !== undefined) {
      publishReleased(toAttachment(ctx, dropped));
      report.repaired++;
      await freeBlobsOf(ctx, [dropped]);
    }
  }
  for (const stray of found.strays) {
    if (stray.kind === "temp") await ctx.blobs.removeTemp(stray.name);
    else if (stray.kind === "other") await ctx.blobs.removeStray(stray.location);
    else if (!(await removeStrayBlob(ctx, files, stray))) continue;
    report.repaired++;
  }
}

/**
 * Removes a file named like a blob that no row knows, through the fence: it
 * is condemned only if there is still no row (no stage has claimed these
 * bytes since), and deleted only if it is still the very file seen. A stage
 * of these bytes meanwhile waits for the condemnation to end.
 */
async function removeStrayBlob(ctx: StoreContext, files: BlobFiles, stray: Extract<Stray, { kind: "blob" }>): Promise<boolean> {
  const writer = ctx.writer;
  await writer.ready();
  if ((await ctx.manifest.blobs.condemnDamaged(stray.digest, writer.id, { rowless: true })) === undefined) return false;
  writer.condemning.add(stray.digest);
  try {
    const same = (await files.identity(stray.digest)) === stray.identity;
    if (same) await ctx.blobs.removeStray(stray.location);
    await ctx.manifest.blobs.forget([stray.digest], writer.id, ctx.now());
    return same;
  } catch (err) {
    await ctx.manifest.blobs.spare([stray.digest], writer.id).catch(() => undefined);
    throw err;
  } finally {
    writer.condemning.delete(stray.digest);
  }
}

/**
 * Repairs one managed blob found damaged, if it still is: re-hashes it
 * outside any lock (put right since, or changing under a stage: leave it),
 * then condemns it (no stage in flight names it; new stages of these bytes
 * wait), checks cheaply that its file is still the one just hashed, drops
 * its attachments, deletes the bytes and forgets the row (kept, unused, while
 * a lease pins it). A stage that waited then writes the bytes afresh.
 * Returns what it counts as repaired.
 */
async function repairBlob(ctx: StoreContext, files: BlobFiles, digest: string): Promise<number> {
  const seen = await files.observe(digest);
  if (seen === undefined || seen.found?.digest === digest) return 0;
  const writer = ctx.writer;
  await writer.ready();
  const condemned = await ctx.manifest.blobs.condemnDamaged(digest, writer.id);
  if (condemned === undefined) return 0;
  writer.condemning.add(digest);
  try {
    if ((await files.identity(digest)) !== seen.identity) {
      await ctx.manifest.blobs.spare([digest], writer.id);
      return 0;
    }
    const dropped = await ctx.manifest.attachments.dropCondemned(digest, writer.id);
    for (const record of dropped) publishReleased(toAttachment(ctx, record));
    // Also when a lease keeps the row: the next stage of these bytes then finds no file and writes
    // them afresh instead of deduplicating onto the damage (commit trusts a blob file of the right size).
    try {
      await ctx.blobs.delete(digest);
    } catch (err) {
      await ctx.manifest.blobs.spare([digest], writer.id).catch(() => undefined);
      throw err;
    }
    const forgotten = await ctx.manifest.blobs.forget([digest], writer.id, ctx.now());
    for (const blob of forgotten) publishBlobDeleted(`sha256:${digest}`, blob.size);
    await ctx.cache?.drop(digest).catch(() => undefined);
    const fileRemoved = forgotten.length > 0 || seen.found !== null;
    return dropped.length + (fileRemoved ? 1 : 0);
  } finally {
    writer.condemning.delete(digest);
  }
}
