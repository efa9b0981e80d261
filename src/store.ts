/**
 * The store facade: composes the blob store, the manifest, the staging
 * pipeline, the sweep and verify; checks refs and scopes; runs the
 * background sweeper; and refuses every call once closed.
 */
import path from "node:path";
import type { Readable } from "node:stream";
import { filesystemBlobStore } from "./backends/filesystem/blob-store.js";
import { freeBlobsOf, toAttachment, type StoreContext } from "./context.js";
import { localCache } from "./cache/local-cache.js";
import { Writer } from "./writer.js";
import { renderAttachment } from "./deliver/render-attachment.js";
import type { RenderTarget } from "./deliver/types.js";
import { asDestination, Delivery, toUploadRecord, uploadAttachment } from "./deliver/upload.js";
import type { Destination } from "./providers/destination.js";
import { diskReserve, type DiskReserve } from "./disk-reserve.js";
import { AttacheError, invalidArgument, ioError, isAttacheError, notFound, storeClosed } from "./errors.js";
import { fileSlots } from "./file-slots.js";
import { nodeFileSystem } from "./fs-seam.js";
import { isId, newId, parseRef, refOf } from "./ids.js";
import { isLive } from "./backends/merge.js";
import { sqliteManifest } from "./backends/sqlite/manifest.js";
import type { AttachmentRecord, ManifestScopeMetrics } from "./backends/manifest.js";
import { resolveOptions, type ResolvedOptions, type StoreOptions } from "./options.js";
import { localPathOf, openVerified, readVerified } from "./read.js";
import { stageSource } from "./stage.js";
import { parseTtl, resolveStageOptions, validateScope } from "./stage-options.js";
import { createNamedPath, removeNamedPath } from "./named-paths.js";
import { resetStore } from "./reset.js";
import { resolveUpdateOptions } from "./update-options.js";
import { sweepStore } from "./sweep.js";
import { publishReleased, publishStaged, stageTrace, sweepTrace, traced, verifyTrace } from "./telemetry.js";
import type {
  Attachment,
  LargestScopesOptions,
  Lease,
  LeaseOptions,
  ListOptions,
  Metrics,
  ScopedStore,
  ScopeMetrics,
  StageOptions,
  StageResult,
  StageSource,
  Store,
  SweepReport,
  RenderOptions,
  TemporaryAttachment,
  UpdateOptions,
  UploadEntry,
  UploadOptions,
  UploadRecord,
  VerifyOptions,
  VerifyReport,
} from "./types.js";
import { verifyStore } from "./verify.js";

const DEFAULT_LEASE_TTL = "10m";
/** A lease's end must be a finite time; `Infinity` means "until released". */
const FOREVER = 8.64e15;
const LIST_PAGE = 500;
const DEFAULT_LARGEST_SCOPES = 10;

function remoteTotals(totals: { destination: string; files: number; bytes: number }[]): Metrics["remote"] {
  const remote: Metrics["remote"] = { count: 0, bytes: 0, destinations: {} };
  for (const { destination, files, bytes } of totals) {
    remote.destinations[destination] = { count: files, bytes };
    remote.count += files;
    remote.bytes += bytes;
  }
  return remote;
}

function toScopeMetrics(m: ManifestScopeMetrics): ScopeMetrics {
  return { ...m, nextExpiryAt: m.nextExpiryAt === null ? null : new Date(m.nextExpiryAt) };
}

/**
 * Opens (creating if needed) the store in `options.dir`. Every option has a
 * default; see {@link StoreOptions}.
 */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const resolved = resolveOptions(options);
  const fs = resolved.fileSystem ?? nodeFileSystem;
  const blobs =
    resolved.blobStore ??
    filesystemBlobStore({ dir: resolved.dir, fileSystem: fs, fsync: resolved.durability !== "none" });
  const manifest =
    resolved.manifest ??
    sqliteManifest({
      file: path.join(resolved.dir, "manifest.db"),
      synchronous: resolved.durability === "full" ? "FULL" : "NORMAL",
      busyTimeoutMs: resolved.busyTimeoutMs,
    });
  try {
    await blobs.open();
    await manifest.open();
  } catch (err) {
    await manifest.close().catch(() => undefined);
    await blobs.close().catch(() => undefined);
    throw ioError(`open the store in ${resolved.dir}`, err, resolved.dir);
  }
  const writer = new Writer(manifest, resolved.clock, resolved.gracePeriodMs);
  // Bytes held elsewhere (remote, or inline in the manifest) get local, verified copies when a caller needs a path.
  const cache =
    blobs.local !== undefined && (resolved.inlineMaxSize === 0 || manifest.attachments.commitInline === undefined)
      ? null
      : localCache({
          dir: resolved.cacheDir ?? path.join(resolved.dir, "cache"),
          maxBytes: resolved.cacheSize,
          isPinned: (digests) => manifest.pins.leasedDigests(digests, resolved.clock()),
          clock: resolved.clock,
          fileSystem: fs,
          fsync: false,
        });
  // The reserve sits next to the bytes it frees: only with the built-in filesystem blob store.
  const reserve = diskReserve({
    dir: resolved.blobStore === undefined ? resolved.dir : null,
    truncateJournal: async () => manifest.checkpoint?.(),
  });
  await reserve.replenish();
  const delivery = new Delivery();
  for (const destination of resolved.destinations) delivery.remember(asDestination(destination));
  return new AttacheStore(resolved, { options: resolved, blobs, manifest, fs, writer, cache, delivery, now: resolved.clock }, reserve);
}

class AttacheStore implements Store {
  readonly dir: string;
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private backgroundSweep: Promise<unknown> | undefined;

  constructor(
    options: ResolvedOptions,
    private readonly ctx: StoreContext,
    /** Gives space back when the disk is full, so that the freeing operations below always can run. */
    private readonly reserve: DiskReserve,
  ) {
    this.dir = options.dir;
    if (options.sweepIntervalMs !== null) {
      this.timer = setInterval(() => this.sweepInBackground(), options.sweepIntervalMs);
      this.timer.unref();
    }
  }

  /** Runs an operation unless the store is closed, and lets `close` wait for it. */
  private track<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(storeClosed());
    const promise = operation();
    this.running.add(promise);
    const forget = () => void this.running.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  private sweepInBackground(): void {
    if (this.closed || this.backgroundSweep !== undefined) return;
    // Failures reach subscribers of the attache:sweep tracing channel; the next tick retries.
    this.backgroundSweep = this.sweep()
      .catch(() => undefined)
      .finally(() => (this.backgroundSweep = undefined));
  }

  /** The live record behind a ref, confined to `scope` when given. */
  private async live(ref: string, scope: string | undefined): Promise<AttachmentRecord> {
    const id = parseRef(ref);
    const record = await this.ctx.manifest.attachments.get(id);
    if (record === undefined || !isLive(record, this.ctx.now()) || (scope !== undefined && record.scope !== scope)) {
      throw notFound(refOf(id));
    }
    return record;
  }

  /**
   * Runs a read of `record`'s bytes. Bytes found missing or wrong may only mean
   * that the attachment stopped being live meanwhile (released, or a reset, in
   * another process, between the lookup and the read): that is NOT_FOUND, not
   * damage. Only bytes of an attachment that is still live are INTEGRITY_ERROR.
   */
  private async readingLive<T>(ref: string, scope: string | undefined, read: (record: AttachmentRecord) => Promise<T>): Promise<T> {
    const record = await this.live(ref, scope);
    try {
      return await read(record);
    } catch (err) {
      if (isAttacheError(err, "INTEGRITY_ERROR")) await this.live(ref, scope);
      throw err;
    }
  }

  scope(name: string): ScopedStore {
    return new ScopedHandle(this, validateScope(name));
  }

  stage(source: StageSource, options?: StageOptions): Promise<StageResult> {
    return this.track(async () => {
      const resolved = resolveStageOptions(options, this.ctx.options);
      const context = { scope: resolved.scope, mode: resolved.mode };
      return traced(stageTrace, context, async () => {
        const { record, created, deduplicated } = await fileSlots().run(() => stageSource(this.ctx, source, resolved));
        const attachment = toAttachment(this.ctx, record);
        publishStaged(attachment, deduplicated);
        return Object.freeze({ ...attachment, created, deduplicated });
      });
    });
  }

  get(ref: string, scope?: string): Promise<Attachment> {
    return this.track(async () => toAttachment(this.ctx, await this.live(ref, scope)));
  }

  resolve(ref: string, scope?: string): Promise<{ path: string; attachment: Attachment }> {
    return this.track(() =>
      this.readingLive(ref, scope, async (record) => {
        const path = await localPathOf(this.ctx, record);
        return { path, attachment: toAttachment(this.ctx, record, path) };
      }),
    );
  }

  read(ref: string, scope?: string): Promise<Buffer> {
    return this.track(() => this.readingLive(ref, scope, (record) => fileSlots().run(() => readVerified(this.ctx, record))));
  }

  open(ref: string, scope?: string): Promise<Readable> {
    return this.track(() => this.readingLive(ref, scope, (record) => openVerified(this.ctx, record)));
  }

  lease(ref: string, options: LeaseOptions = {}, scope?: string): Promise<Lease> {
    return this.track(async () => {
      const id = parseRef(ref);
      const ttlMs = parseTtl(options.ttl ?? DEFAULT_LEASE_TTL, "lease ttl");
      if (options.named !== undefined && typeof options.named !== "boolean") {
        throw invalidArgument(`named must be true or false; got ${String(options.named)}.`);
      }
      const named = options.named === true;
      const now = this.ctx.now();
      const probe = await this.live(ref, scope);
      const leaseId = newId();
      const expiresAt = Math.min(now + ttlMs, FOREVER);
      const record = await this.ctx.manifest.pins.addLease(
        { id: leaseId, attachmentId: id, digest: probe.digest, createdAt: now, expiresAt },
        scope,
        now,
      );
      if (record === undefined) throw notFound(refOf(id));
      const ctx = this.ctx;
      let ended: Promise<void> | undefined;
      const release = (): Promise<void> =>
        (ended ??= (async () => {
          // After close the manifest is gone; the row ends with its ttl, as a crashed holder's would.
          if (this.closed) return;
          const lease = await this.reserve.freeing(() => ctx.manifest.pins.removeLease(leaseId));
          if (named) await removeNamedPath(ctx, leaseId);
          if (lease !== undefined) await freeBlobsOf(ctx, [record]);
        })());
      try {
        const file = await localPathOf(ctx, record);
        // A managed blob is linked (read-only, no copy); a reference file, which its owner may change, is copied.
        const leased = named ? await createNamedPath(ctx, leaseId, file, record.name, record.referencePath === null) : file;
        return Object.freeze({
          id: leaseId,
          path: leased,
          attachment: toAttachment(ctx, record, file),
          expiresAt: new Date(expiresAt),
          release,
          [Symbol.asyncDispose]: release,
        });
      } catch (err) {
        await release().catch(() => undefined);
        // Missing bytes of an attachment that stopped being live meanwhile are NOT_FOUND.
        if (isAttacheError(err, "INTEGRITY_ERROR")) await this.live(ref, scope);
        throw err;
      }
    });
  }

  list(options: ListOptions = {}): Promise<Attachment[]> {
    return this.track(async () => {
      const out: Attachment[] = [];
      for await (const attachment of this.pages(options)) out.push(attachment);
      return out;
    });
  }

  iterate(options: ListOptions = {}): AsyncIterable<Attachment> {
    return {
      [Symbol.asyncIterator]: () => this.pages(options)[Symbol.asyncIterator](),
    };
  }

  private async *pages(options: ListOptions): AsyncGenerator<Attachment> {
    if (typeof options !== "object" || options === null) throw invalidArgument("list() options must be an object.");
    const scope = options.scope === undefined ? undefined : validateScope(options.scope);
    const limit = options.limit ?? Infinity;
    if (typeof limit !== "number" || Number.isNaN(limit) || limit < 0) {
      throw invalidArgument(`limit must be a non-negative number; got ${String(options.limit)}.`);
    }
    if (options.after !== undefined && (typeof options.after !== "string" || !isId(options.after.toLowerCase()))) {
      throw invalidArgument(`after must be an attachment id, as found in attachment.id; got ${JSON.stringify(options.after)}.`);
    }
    let after = options.after?.toLowerCase();
    let remaining = limit;
    while (remaining > 0) {
      if (this.closed) throw storeClosed();
      const page = await this.ctx.manifest.attachments.list({
        scope,
        afterId: after,
        limit: Math.min(remaining, LIST_PAGE),
        includeExpired: options.includeExpired === true,
        now: this.ctx.now(),
      });
      for (const record of page) yield toAttachment(this.ctx, record);
      if (page.length < Math.min(remaining, LIST_PAGE)) return;
      remaining -= page.length;
      after = (page[page.length - 1] as AttachmentRecord).id;
    }
  }

  temporary(source: StageSource, options?: StageOptions): Promise<TemporaryAttachment> {
    return this.track(async () => {
      const attachment = await this.stage(source, options);
      let released: Promise<boolean> | undefined;
      // Only what this call created is its to release: an existing attachment handed back
      // (same scope, same bytes) belongs to whoever staged it first.
      const release = (): Promise<boolean> =>
        (released ??= attachment.created ? this.release(attachment.ref, attachment.scope) : Promise.resolve(false));
      return Object.freeze({
        ...attachment,
        release,
        [Symbol.asyncDispose]: async () => {
          // Disposal after close has nothing left to release: the store is gone.
          if (!this.closed) await release();
        },
      });
    });
  }

  update(ref: string, changes: UpdateOptions, scope?: string): Promise<Attachment> {
    return this.track(async () => {
      const id = parseRef(ref);
      const resolved = resolveUpdateOptions(changes, this.ctx.options);
      const record = await this.ctx.manifest.attachments.update(id, scope, resolved, this.ctx.now());
      if (record === undefined) throw notFound(refOf(id));
      return toAttachment(this.ctx, record);
    });
  }

  release(ref: string, scope?: string): Promise<boolean> {
    return this.track(async () => {
      const id = parseRef(ref);
      const record = await this.reserve.freeing(() => this.ctx.manifest.attachments.release(id, scope, this.ctx.now()));
      if (record === undefined) return false;
      publishReleased(toAttachment(this.ctx, record));
      await this.reserve.freeing(() => freeBlobsOf(this.ctx, [record]));
      return true;
    });
  }

  releaseScope(scope: string): Promise<number> {
    return this.track(async () => {
      const records = await this.reserve.freeing(() => this.ctx.manifest.attachments.releaseScope(validateScope(scope), this.ctx.now()));
      for (const record of records) publishReleased(toAttachment(this.ctx, record));
      await this.reserve.freeing(() => freeBlobsOf(this.ctx, records));
      return records.length;
    });
  }

  sweep(): Promise<SweepReport> {
    return this.track(() => traced(sweepTrace, {}, () => this.reserve.freeing(() => sweepStore(this.ctx))));
  }

  metrics(options?: { scope?: undefined }): Promise<Metrics>;
  metrics(options: { scope: string }): Promise<ScopeMetrics>;
  metrics(options?: { scope?: string }): Promise<Metrics | ScopeMetrics> {
    return this.track(async () => {
      if (options !== undefined && (typeof options !== "object" || options === null)) {
        throw invalidArgument("metrics options must be an object, such as { scope: \"telegram:chat42\" }.");
      }
      if (options?.scope !== undefined) {
        return toScopeMetrics(await this.ctx.manifest.scopeMetrics(validateScope(options.scope), this.ctx.now()));
      }
      const m = await this.ctx.manifest.metrics(this.ctx.now());
      return {
        attachments: m.attachments,
        blobs: m.blobs,
        scopes: m.scopes,
        logicalBytes: m.logicalBytes,
        storedBytes: m.storedBytes,
        dedupSavedBytes: m.logicalBytes - m.distinctLiveBytes,
        persistent: m.persistent,
        expirable: m.expirable,
        expired: m.expired,
        leases: m.leases,
        nextExpiryAt: m.nextExpiryAt === null ? null : new Date(m.nextExpiryAt),
        remote: remoteTotals(await this.ctx.manifest.uploads.totals()),
      };
    });
  }

  largestScopes(options: LargestScopesOptions = {}): Promise<ScopeMetrics[]> {
    return this.track(async () => {
      if (typeof options !== "object" || options === null) throw invalidArgument("largestScopes options must be an object.");
      const limit = options.limit ?? DEFAULT_LARGEST_SCOPES;
      if (!Number.isSafeInteger(limit) || limit < 1) {
        throw invalidArgument(`limit must be a positive integer; got ${JSON.stringify(limit)}.`);
      }
      return (await this.ctx.manifest.largestScopes(limit, this.ctx.now())).map(toScopeMetrics);
    });
  }

  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    return this.track(() => traced(verifyTrace, { repair: options.repair === true }, () =>
      fileSlots().run(() => verifyStore(this.ctx, options.repair === true, options.onProgress)),
    ));
  }

  upload(ref: string, destination: Destination, options: UploadOptions = {}, scope?: string): Promise<UploadRecord> {
    return this.track(async () => {
      const target = asDestination(destination);
      if (typeof options !== "object" || options === null) throw invalidArgument("upload() options must be an object.");
      return this.readingLive(ref, scope, (record) => uploadAttachment(this.ctx, this.ctx.delivery, record, target, options));
    });
  }

  render(ref: string, target: RenderTarget, options: RenderOptions = {}, scope?: string): Promise<Record<string, unknown>> {
    return this.track(() =>
      this.readingLive(ref, scope, (record) =>
        renderAttachment(record, target, options, {
          read: () => fileSlots().run(() => readVerified(this.ctx, record)),
          upload: (destination) => uploadAttachment(this.ctx, this.ctx.delivery, record, destination, { signal: options.signal }),
          path: () => localPathOf(this.ctx, record),
        }),
      ),
    );
  }

  listUploads(options: { destination?: string; limit?: number } = {}): Promise<UploadEntry[]> {
    return this.track(async () => {
      if (typeof options !== "object" || options === null) throw invalidArgument("listUploads() options must be an object.");
      const limit = options.limit ?? Infinity;
      if (typeof limit !== "number" || Number.isNaN(limit) || limit < 0) {
        throw invalidArgument(`limit must be a non-negative number; got ${String(options.limit)}.`);
      }
      const out: UploadEntry[] = [];
      let after: { destination: string; digest: string } | null =
        options.destination === undefined ? null : { destination: options.destination, digest: "" };
      while (out.length < limit) {
        const page = await this.ctx.manifest.uploads.list(after, LIST_PAGE);
        for (const row of page) {
          if (options.destination !== undefined && row.destination !== options.destination) return out;
          const { reused: _reused, ...entry } = toUploadRecord(row, false);
          out.push(Object.freeze(entry));
          if (out.length >= limit) return out;
        }
        if (page.length < LIST_PAGE) return out;
        const last = page[page.length - 1] as { destination: string; digest: string };
        after = { destination: last.destination, digest: last.digest };
      }
      return out;
    });
  }

  reset(): Promise<void> {
    return this.track(async () => {
      try {
        // Every step can run twice, so on a full disk the whole reset is retried once space is given back.
        await this.reserve.freeing(() => resetStore(this.ctx));
      } catch (err) {
        throw ioError("reset the store", err);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await Promise.allSettled([...this.running]);
    await this.ctx.writer.close();
    await this.ctx.cache?.close().catch(() => undefined);
    await this.ctx.manifest.close();
    await this.ctx.blobs.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A store confined to one scope: another scope's refs are simply NOT_FOUND. */
class ScopedHandle implements ScopedStore {
  constructor(
    private readonly store: AttacheStore,
    readonly scope: string,
  ) {}

  private options<T extends object>(options: T | undefined): T & { scope: string } {
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw invalidArgument("options must be an object.");
    }
    if (options !== undefined && "scope" in options && (options as { scope?: unknown }).scope !== this.scope) {
      throw invalidArgument(`This handle is confined to scope ${JSON.stringify(this.scope)}; it cannot act on another scope.`);
    }
    return { ...(options as T), scope: this.scope };
  }

  async stage(source: StageSource, options?: Omit<StageOptions, "scope">) {
    return this.store.stage(source, this.options(options));
  }
  get(ref: string) {
    return this.store.get(ref, this.scope);
  }
  resolve(ref: string) {
    return this.store.resolve(ref, this.scope);
  }
  read(ref: string) {
    return this.store.read(ref, this.scope);
  }
  open(ref: string) {
    return this.store.open(ref, this.scope);
  }
  lease(ref: string, options?: LeaseOptions) {
    return this.store.lease(ref, options, this.scope);
  }
  async list(options?: Omit<ListOptions, "scope">) {
    return this.store.list(this.options(options));
  }
  iterate(options?: Omit<ListOptions, "scope">): AsyncIterable<Attachment> {
    return {
      [Symbol.asyncIterator]: () => this.store.iterate(this.options(options))[Symbol.asyncIterator](),
    };
  }
  async temporary(source: StageSource, options?: Omit<StageOptions, "scope">) {
    return this.store.temporary(source, this.options(options));
  }
  update(ref: string, changes: UpdateOptions) {
    return this.store.update(ref, changes, this.scope);
  }
  release(ref: string): Promise<boolean>;
  release(): Promise<number>;
  release(ref?: string): Promise<boolean | number> {
    return ref === undefined ? this.store.releaseScope(this.scope) : this.store.release(ref, this.scope);
  }
  metrics(): Promise<ScopeMetrics> {
    return this.store.metrics({ scope: this.scope });
  }
  upload(ref: string, destination: Destination, options?: UploadOptions) {
    return this.store.upload(ref, destination, options, this.scope);
  }
  render(ref: string, target: RenderTarget, options?: RenderOptions) {
    return this.store.render(ref, target, options, this.scope);
  }
}

export { AttacheError };
