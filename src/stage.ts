/**
 * The staging pipeline. A managed stage (copy, or a move that cannot rename):
 *
 *   1. stream the bytes into a unique temp object while hashing them; fsync
 *   2. record the intent (pins the digest against the sweep) and a blob row
 *   3. rename the temp object into place, or drop it if the blob is there
 *   4. commit the attachment (or merge into the scope's existing one)
 *
 * A crash between any two steps leaves a temp file or an intent, which the
 * sweep reclaims after the grace period. A failure at any step undoes what
 * the earlier steps did. A `move` on the same filesystem hashes the file in
 * place and renames it at step 3; a `reference` hashes it and records it.
 */
import { constants } from "node:fs";
import path from "node:path";
import { detectContentType } from "./content-type.js";
import { inlineLimit, secureBlob, storedInline, type StoreContext } from "./context.js";
import { awaitRevival, deleteUnneeded } from "./fence.js";
import { aborted, AttacheError, invalidArgument, ioError } from "./errors.js";
import { newId } from "./ids.js";
import { hashSource, type Hashed } from "./ingest.js";
import type { BlobWriter } from "./backends/blob-store.js";
import type { AttachmentRecord, StagedAttachment } from "./backends/manifest.js";
import { isInsideDirectory, unlinkIfSame, type FileIdentity } from "./file-identity.js";
import { sanitizeName } from "./names.js";
import { Spool } from "./spool.js";
import { invalidSource, openSource, type OpenedSource } from "./source.js";
import type { ResolvedStageOptions } from "./stage-options.js";
import type { StageSource } from "./types.js";

export interface StageOutcome {
  record: AttachmentRecord;
  /** False when the scope already held these bytes and got its attachment back. */
  created: boolean;
  /** The bytes were already stored, so none were written. */
  deduplicated: boolean;
}

export async function stageSource(
  ctx: StoreContext,
  source: StageSource,
  options: ResolvedStageOptions,
): Promise<StageOutcome> {
  if (options.signal?.aborted) throw aborted(options.signal.reason);
  const noFollow = options.mode !== "copy";
  const opened = await openSource(source, ctx.fs, { noFollow, fetch: options.fetch, maxSize: ctx.options.maxSize, signal: options.signal });
  try {
    if (options.mode === "reference" && ctx.blobs.local === undefined) {
      throw invalidArgument(
        `mode "reference" needs a blob store with local files: the ${ctx.blobs.kind} blob store keeps bytes elsewhere, where other hosts could not read the outside file. Use mode "copy".`,
      );
    }
    if (options.mode !== "copy") {
      if (opened.path === null) {
        throw invalidArgument(`mode "${options.mode}" needs a path source (a string or file: URL); use mode "copy" for bytes and streams.`);
      }
      await assertOutsideStore(ctx, opened.path);
    }
    if (options.mode === "reference") return await stageReference(ctx, opened, options);
    if (options.mode === "move") return await stageMove(ctx, opened, options);
    return await stageCopy(ctx, opened, options);
  } finally {
    await opened.close();
  }
}

/**
 * `move` and `reference` must never take or record the store's own files. The
 * check compares real directories (device + inode), not path strings: a path
 * through a symlinked parent, a store opened through a symlink or a bind
 * mount would pass a string comparison and let a move unlink a blob.
 */
async function assertOutsideStore(ctx: StoreContext, file: string): Promise<void> {
  if (await isInsideDirectory(ctx.fs, file, ctx.options.dir)) {
    throw invalidSource(`${file} is inside the store's own directory; it cannot be moved or referenced. Use mode "copy".`, undefined, file);
  }
}

/** `move` needs to remove the source afterwards: refuse before copying if its directory is not writable. */
async function assertRemovable(ctx: StoreContext, file: string): Promise<void> {
  try {
    await ctx.fs.access(path.dirname(file), constants.W_OK);
  } catch (err) {
    throw invalidSource(`${file} cannot be moved: its directory is not writable by this process. Use mode "copy".`, err, file);
  }
}

function checkChecksum(options: ResolvedStageOptions, hashed: Hashed): void {
  if (options.checksum !== undefined && options.checksum !== hashed.digest) {
    throw new AttacheError(
      "CHECKSUM_MISMATCH",
      `The bytes do not match the expected checksum; nothing was kept. Check that the source is complete and the checksum is for this file.`,
      { expected: `sha256:${options.checksum}`, actual: `sha256:${hashed.digest}` },
    );
  }
}

function throwIfAborted(options: ResolvedStageOptions): void {
  if (options.signal?.aborted) throw aborted(options.signal.reason);
}

async function describe(
  ctx: StoreContext,
  opened: OpenedSource,
  options: ResolvedStageOptions,
  hashed: Hashed,
  referencePath: string | null,
): Promise<StagedAttachment> {
  const name = sanitizeName(options.name ?? opened.nameHint);
  return {
    id: newId(),
    scope: options.scope,
    digest: hashed.digest,
    size: hashed.size,
    name,
    contentType: await detectContentType(options.contentType ?? opened.typeHint ?? undefined, hashed.head, name, opened.servedType ?? undefined),
    mode: options.mode,
    referencePath,
    persist: options.persist,
    ttlMs: options.ttlMs,
    now: ctx.now(),
    source: options.source ?? opened.provenance ?? null,
    metadata: options.metadata,
  };
}

/**
 * Steps 2–4 for bytes that are complete and durable somewhere (`putInPlace`
 * moves them into the blob store). Undoes itself on failure.
 */
async function commitManaged(
  ctx: StoreContext,
  hashed: Hashed,
  tempName: string | null,
  putInPlace: () => Promise<boolean>,
  describeStaged: () => Promise<StagedAttachment>,
  options: ResolvedStageOptions,
  cleanUp?: () => Promise<void>,
): Promise<StageOutcome> {
  const writer = ctx.writer;
  const intentId = newId();
  writer.intents.add(intentId);
  try {
    let blobState: "ok" | "condemned";
    try {
      await writer.ready();
      const intent = { id: intentId, digest: hashed.digest, tempName, writer: writer.id, createdAt: ctx.now() };
      blobState = await ctx.manifest.pins.beginStage(intent, hashed.size);
    } catch (err) {
      throw ioError("record the stage in the manifest", err);
    }
    try {
      // The blob's bytes are being deleted: wait for that to end, then put them back in place.
      if (blobState === "condemned") await awaitRevival(ctx, hashed.digest, options.signal);
      let wrote: boolean;
      try {
        wrote = await putInPlace();
      } catch (err) {
        throw err === CAPTURE_UNSUPPORTED || err instanceof AttacheError ? err : ioError("put the staged bytes in place", err);
      }
      const staged = await describeStaged();
      throwIfAborted(options);
      const { record, merged } = await ctx.manifest.attachments.commitStage(intentId, staged);
      return { record, created: !merged, deduplicated: merged || !wrote };
    } catch (err) {
      // Undo: what the caller put in place, the intent, then the blob if this stage was its only reason to exist.
      await cleanUp?.().catch(() => undefined);
      await ctx.manifest.pins.dropIntent(intentId).catch(() => undefined);
      await deleteUnneeded(ctx, [hashed.digest]).catch(() => undefined);
      throw err;
    }
  } finally {
    writer.intents.delete(intentId);
  }
}

/**
 * Known bytes are not written again. A source that can be read twice (a path
 * or a buffer) whose size matches a stored blob is hashed first, without
 * writing; if its digest is stored, the stage only records the attachment.
 * Only when that guess fails (same size, other bytes) is it read again and
 * copied, so a new file costs one pass and a known one costs a hash.
 */
async function stageCopy(ctx: StoreContext, opened: OpenedSource, options: ResolvedStageOptions): Promise<StageOutcome> {
  if (options.checksum !== undefined && !opened.rereadable) {
    const known = await knownStream(ctx, opened, options.checksum);
    if (known) return verifyKnown(ctx, opened, options);
  }
  // Bytes small enough to go inline are deduplicated by the one transaction that commits them.
  const goesInline = opened.size !== null && opened.size <= inlineLimit(ctx);
  if (!goesInline && opened.rereadable && opened.size !== null && (await ctx.manifest.blobs.hasSize(opened.size).catch(() => false))) {
    const hashed = await hashSource(opened, { writer: null, maxSize: ctx.options.maxSize, signal: options.signal, onProgress: options.onProgress });
    checkChecksum(options, hashed);
    await opened.assertUnchanged();
    if ((await ctx.manifest.blobs.get(hashed.digest).catch(() => undefined)) !== undefined) {
      throwIfAborted(options);
      return commitManaged(
        ctx,
        hashed,
        null,
        // The intent now pins the blob; its file must be there too, or the bytes are written after all.
        async () =>
          (await storedInline(ctx, hashed.digest)) || (await ctx.blobs.stat(hashed.digest)) === hashed.size ? false : writeCopy(ctx, opened, options, hashed),
        () => describe(ctx, opened, options, hashed, null),
        options,
      );
    }
  }
  return copyIn(ctx, opened, options);
}

/** Whether a stream announced by its `checksum` is stored already (of its size, when the stream says). */
async function knownStream(ctx: StoreContext, opened: OpenedSource, checksum: string): Promise<boolean> {
  const blob = await ctx.manifest.blobs.get(checksum).catch(() => undefined);
  return blob !== undefined && blob.condemnedBy === null && (opened.size === null || opened.size === blob.size);
}

/**
 * A stream whose `checksum` names stored bytes: verified as it is read, and
 * not written. If the stored bytes vanish before the stage pins them (a
 * sweep deleted them meanwhile), the stream cannot be read again: the stage
 * fails, retryable, and keeps nothing.
 */
async function verifyKnown(ctx: StoreContext, opened: OpenedSource, options: ResolvedStageOptions): Promise<StageOutcome> {
  const hashed = await hashSource(opened, { writer: null, maxSize: ctx.options.maxSize, signal: options.signal, onProgress: options.onProgress });
  checkChecksum(options, hashed);
  throwIfAborted(options);
  return commitManaged(
    ctx,
    hashed,
    null,
    async () => {
      if ((await storedInline(ctx, hashed.digest)) || (await ctx.blobs.stat(hashed.digest)) === hashed.size) return false;
      throw new AttacheError("IO_ERROR", "The stored bytes this stream's checksum named were deleted while it was read; nothing was kept. Stage it again.", {
        retryable: true,
      });
    },
    () => describe(ctx, opened, options, hashed, null),
    options,
  );
}

/** The second pass of a failed guess: write the bytes, checking they are the ones hashed before. */
async function writeCopy(
  ctx: StoreContext,
  opened: OpenedSource,
  options: ResolvedStageOptions,
  expected: Hashed,
): Promise<boolean> {
  const writer = await openWriter(ctx);
  try {
    const hashed = await hashSource(opened, { writer, maxSize: ctx.options.maxSize, signal: options.signal });
    if (hashed.digest !== expected.digest) {
      throw invalidSource(`${opened.path ?? "The source"} changed while it was being staged; nothing was kept. Stage it again once it is complete.`);
    }
    await writer.finish();
    const wrote = await ctx.blobs.commit(writer.tempName, hashed.digest, hashed.size);
    await writer.keep(hashed);
    return wrote;
  } catch (err) {
    await writer.abort().catch(() => undefined);
    throw err;
  } finally {
    writer.done();
  }
}

/**
 * The common case: one pass that hashes the bytes as it writes them. Bytes
 * within the inline limit stay in memory and are committed inside the
 * manifest (`stageInline`); past it, they go to a temp object of the blob
 * store, opened when the limit is crossed (at once for a source of known,
 * larger size).
 */
async function copyIn(ctx: StoreContext, opened: OpenedSource, options: ResolvedStageOptions): Promise<StageOutcome> {
  const limit = inlineLimit(ctx);
  const spool = new Spool(opened.size !== null && opened.size > limit ? 0 : limit, async () => {
    try {
      return await openWriter(ctx);
    } catch (err) {
      throw ioError("create a temp file for the staged bytes", err);
    }
  });
  let placed = false;
  try {
    const hashed = await hashSource(opened, { writer: spool, maxSize: ctx.options.maxSize, signal: options.signal, onProgress: options.onProgress });
    checkChecksum(options, hashed);
    // A path source written to while it was copied would give a torn mix that never existed as a file.
    await opened.assertUnchanged();
    const writer = spool.writer;
    if (writer === null) return await stageInline(ctx, opened, options, hashed, spool.bytes());
    try {
      await writer.finish();
    } catch (err) {
      throw ioError("flush the staged bytes to disk", err);
    }
    throwIfAborted(options);
    const tempName = writer.tempName;
    const outcome = await commitManaged(
      ctx,
      hashed,
      tempName,
      async () => {
        placed = true;
        // Another handle keeps these bytes inline (its inlineMaxSize is larger): they are stored.
        if (await storedInline(ctx, hashed.digest)) {
          await ctx.blobs.removeTemp(tempName);
          return false;
        }
        return ctx.blobs.commit(tempName, hashed.digest, hashed.size);
      },
      () => describe(ctx, opened, options, hashed, null),
      options,
    );
    await writer.keep(hashed);
    return outcome;
  } catch (err) {
    const writer = await spool.openedWriter();
    await writer?.abort().catch(() => undefined);
    if (placed && writer !== null) await ctx.blobs.removeTemp(writer.tempName).catch(() => undefined);
    throw err;
  } finally {
    (await spool.openedWriter())?.done();
  }
}

/**
 * Small bytes, whole in memory: the blob row, its bytes and the attachment
 * in one manifest transaction, with no intent, temp object or blob-store
 * call. When the digest's bytes are in the blob store already (or being
 * deleted from it), the stage takes the blob-store path instead, writing the
 * bytes from memory only if they are not there.
 */
async function stageInline(ctx: StoreContext, opened: OpenedSource, options: ResolvedStageOptions, hashed: Hashed, bytes: Buffer): Promise<StageOutcome> {
  const staged = await describe(ctx, opened, options, hashed, null);
  throwIfAborted(options);
  const commitInline = ctx.manifest.attachments.commitInline?.bind(ctx.manifest.attachments);
  const committed = commitInline === undefined ? "elsewhere" : await commitInline(staged, bytes);
  if (committed !== "elsewhere") {
    return { record: committed.record, created: !committed.merged, deduplicated: committed.merged || !committed.wrote };
  }
  return commitManaged(
    ctx,
    hashed,
    null,
    async () => ((await storedInline(ctx, hashed.digest)) || (await ctx.blobs.stat(hashed.digest)) === hashed.size ? false : writeBytes(ctx, bytes, hashed)),
    async () => staged,
    options,
  );
}

/** Writes bytes held in memory to the blob store (an inline stage whose digest lives there). */
async function writeBytes(ctx: StoreContext, bytes: Buffer, hashed: Hashed): Promise<boolean> {
  const writer = await openWriter(ctx);
  try {
    await writer.write(bytes);
    await writer.finish();
    const wrote = await ctx.blobs.commit(writer.tempName, hashed.digest, hashed.size);
    await writer.keep(hashed);
    return wrote;
  } catch (err) {
    await writer.abort().catch(() => undefined);
    throw err;
  } finally {
    writer.done();
  }
}

/**
 * A temp object of this handle's writer, known to it while in hand (its own
 * sweep leaves it alone), and — with a local cache and a blob store without
 * local files — teeing every chunk into
 * a cached copy, so that the host that stages bytes has them as a local file
 * without reading them back (write-through).
 */
interface StageWriter extends BlobWriter {
  /** Commits the cached copy once the blob is in place (never fails the stage). */
  keep(hashed: Hashed): Promise<void>;
  /** Forgets the temp object (committed or aborted). */
  done(): void;
}

async function openWriter(ctx: StoreContext): Promise<StageWriter> {
  const owner = ctx.writer;
  await owner.ready();
  const writer = await ctx.blobs.createWriter(owner.id);
  owner.temps.add(writer.tempName);
  // A blob store with local files has the bytes as a file already: the cache is for inline and remote bytes.
  const copy = ctx.blobs.local === undefined ? ctx.cache?.writeThrough() : undefined;
  return {
    tempName: writer.tempName,
    write(chunk) {
      copy?.write(chunk);
      return writer.write(chunk);
    },
    finish: () => writer.finish(),
    async abort() {
      await copy?.abort();
      await writer.abort();
    },
    async keep(hashed) {
      await copy?.commit(hashed.digest, hashed.size);
    },
    done() {
      owner.temps.delete(writer.tempName);
    },
  };
}

/**
 * `move`: the file is hashed through the descriptor opened at the start, then
 * hard-linked into the store, and what was linked is checked to be the very
 * inode that was hashed (an editor may have saved a new file over the path
 * meanwhile, or swapped in a symlink: that one is never taken, deleted or
 * followed). The user's file stays where it is until the attachment is
 * committed, so a crash before that never loses it. Then the path is
 * unlinked — only if it still names the hashed file — and the blob is made
 * its own inode (copied if the unlink failed), so once `stage()` returns no
 * blob shares an inode with a file outside the store. An intent that names
 * the outside file covers the moment in between: left by a crash, it tells
 * the sweep to give the blob its own inode. Across devices, or where a link
 * is refused, it is a copy followed by the same checked unlink.
 */
async function stageMove(ctx: StoreContext, opened: OpenedSource, options: ResolvedStageOptions): Promise<StageOutcome> {
  const file = opened.path as string;
  const stats = opened.stats as NonNullable<OpenedSource["stats"]>;
  const identity: FileIdentity = { dev: stats.dev, ino: stats.ino };
  await assertRemovable(ctx, file);
  const local = ctx.blobs.local;
  const blobs = ctx.blobs;
  const storeDevice = local === undefined ? null : await local.device().catch(() => null);
  if (local !== undefined && storeDevice !== null && stats.dev === storeDevice && stats.nlink === 1) {
    const hashed = await hashSource(opened, { writer: null, maxSize: ctx.options.maxSize, signal: options.signal, onProgress: options.onProgress });
    checkChecksum(options, hashed);
    await opened.assertUnchanged();
    throwIfAborted(options);
    const writer = ctx.writer;
    const marker = newId();
    writer.intents.add(marker);
    try {
      await writer.ready();
      await ctx.manifest.pins.beginStage(
        { id: marker, digest: hashed.digest, tempName: null, linkedFrom: file, writer: writer.id, createdAt: ctx.now() },
        hashed.size,
      );
    } catch (err) {
      writer.intents.delete(marker);
      throw ioError("record the move in the manifest", err);
    }
    const tempName = local.newTempName(writer.id);
    writer.temps.add(tempName);
    try {
    const secure = () => secureBlob(ctx, hashed.digest);
    let outcome: StageOutcome | undefined;
    try {
      outcome = await commitManaged(
        ctx,
        hashed,
        tempName,
        async () => {
          const linked = await local.linkFile(file, tempName, identity);
          if (linked === "changed") throw sourceChanged(file);
          if (linked === "unsupported") throw CAPTURE_UNSUPPORTED;
          if (await storedInline(ctx, hashed.digest)) {
            await blobs.removeTemp(tempName);
            return false;
          }
          return blobs.commit(tempName, hashed.digest, hashed.size);
        },
        () => describe(ctx, opened, options, hashed, null),
        options,
        async () => {
          await blobs.removeTemp(tempName);
          await secure();
          // Before the blob is freed: the marker pins it too.
          await ctx.manifest.pins.dropIntent(marker);
        },
      );
    } catch (err) {
      await ctx.manifest.pins.dropIntent(marker).catch(() => undefined);
      if (err !== CAPTURE_UNSUPPORTED) throw err;
      // Fall through to a copy: the file is where it was, untouched.
    }
    if (outcome !== undefined) {
      const removed = await unlinkIfSame(ctx.fs, file, identity).catch(() => false);
      try {
        await secure();
      } catch (err) {
        // The source is gone, so the blob is its own inode already (only its mode is left):
        // the marker stays and the sweep finishes the job.
        if (removed) return outcome;
        // The blob would stay one inode with the user's file: this stage is undone instead.
        await undoMove(ctx, outcome, marker, secure);
        throw ioError(`keep the bytes of ${file} apart from the file itself (it could not be removed); nothing was kept and the file is where it was`, err, file);
      }
      await ctx.manifest.pins.dropIntent(marker).catch(() => undefined);
      return outcome;
    }
    } finally {
      writer.temps.delete(tempName);
      writer.intents.delete(marker);
    }
  }
  const outcome = await stageCopy(ctx, opened, options);
  // The bytes are safe in the store now. Only the file that was copied goes; one saved over
  // the path meanwhile, or one whose directory refuses the change, stays where it is.
  await unlinkIfSame(ctx.fs, file, identity).catch(() => false);
  return outcome;
}

/**
 * Takes back a committed move whose blob still shares its inode with the
 * user's file. A created attachment is released and its blob freed (the
 * user's file keeps the bytes). A blob that something else needs meanwhile
 * keeps a marker, so the sweep gives it an inode of its own.
 */
async function undoMove(ctx: StoreContext, outcome: StageOutcome, marker: string, secure: () => Promise<unknown> | undefined): Promise<void> {
  if (outcome.created) {
    const released = await ctx.manifest.attachments.release(outcome.record.id, undefined, ctx.now()).catch(() => undefined);
    if (released === undefined) return;
  }
  await ctx.manifest.pins.dropIntent(marker).catch(() => undefined);
  const deleted = await deleteUnneeded(ctx, [outcome.record.digest]).catch(() => []);
  if (deleted.length > 0) return;
  if (await Promise.resolve(secure()).then(() => true, () => false)) return;
  // Left for the sweep: a marker of no writer, so any sweep past the grace period gives the blob its own inode.
  await ctx.manifest.pins
    .beginStage({ id: newId(), digest: outcome.record.digest, tempName: null, linkedFrom: outcome.record.name, writer: null, createdAt: ctx.now() }, outcome.record.size)
    .catch(() => undefined);
}

/** Thrown inside a move's commit when the file cannot be taken by a rename; the move copies instead. */
const CAPTURE_UNSUPPORTED = Symbol("capture unsupported");

function sourceChanged(file: string): AttacheError {
  return invalidSource(`${file} was replaced while it was being staged; nothing was kept and the new file was left in place. Stage it again once it is complete.`, undefined, file);
}

async function stageReference(
  ctx: StoreContext,
  opened: OpenedSource,
  options: ResolvedStageOptions,
): Promise<StageOutcome> {
  const hashed = await hashSource(opened, { writer: null, maxSize: ctx.options.maxSize, signal: options.signal, onProgress: options.onProgress });
  checkChecksum(options, hashed);
  await opened.assertUnchanged();
  throwIfAborted(options);
  const staged = await describe(ctx, opened, options, hashed, opened.path);
  const { record, merged } = await ctx.manifest.attachments.commitStage(null, staged);
  return { record, created: !merged, deduplicated: merged };
}
