/**
 * `upload(ref, destination)`: hands an attachment's bytes to a provider's
 * Files API once, and remembers where they went.
 *
 *   1. the ledger (in the manifest, shared by every process): a finished
 *      upload that is not expired, nor within the destination's
 *      `minRemaining` of expiring, is returned at once (`reused: true`);
 *   2. single flight: in this process, concurrent calls for the same
 *      (destination, digest) share one upload; across processes, the first
 *      to claim the ledger row uploads while the others wait for its result.
 *      A holder keeps its claim fresh every few seconds; one whose process
 *      died is taken over once its claim is {@link HOLDER_STALE_MS} old
 *      (crash tests shorten that with ATTACHE_UPLOAD_HOLDER_STALE_MS),
 *      resuming the remote upload from the progress it recorded;
 *   3. the upload holds a lease on the attachment and hashes the bytes as it
 *      sends them (see upload-bytes.ts).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { StoreContext } from "../context.js";
import type { AttachmentRecord, UploadRow } from "../backends/manifest.js";
import { aborted, AttacheError, invalidArgument, isAttacheError, notFound, uploadFailed } from "../errors.js";
import { newId, refOf } from "../ids.js";
import { openRange } from "../read.js";
import { traced, uploadTrace } from "../telemetry.js";
import type { UploadOptions, UploadRecord } from "../types.js";
import type { Destination } from "../providers/destination.js";
import { UploadBytes } from "./upload-bytes.js";
import { countersOf } from "./upload-stats.js";

/** A claim not touched for this long belongs to a process that died: it is taken over. */
export const HOLDER_STALE_MS = 30_000;
/** How often a holder touches its claim (more often when the stale time is shortened: see {@link holderTiming}). */
const TOUCH_INTERVAL_MS = 5_000;
/**
 * Shortens {@link HOLDER_STALE_MS} for crash tests, which would otherwise
 * wait 30 s for a takeover: a positive whole number of milliseconds, read at
 * every upload() call (so a test may set it for one case and unset it after).
 * Not meant for production: a holder that misses its touches for that long
 * (a paused process) is taken over while it still uploads.
 */
export const HOLDER_STALE_ENV = "ATTACHE_UPLOAD_HOLDER_STALE_MS";
/** The lease an upload holds; it ends with the upload (or, after a crash, with its ttl). */
const UPLOAD_LEASE_MS = 60 * 60_000;
/** A waiter for another process's upload looks again this often (at most). */
const MAX_POLL_MS = 500;

/** The stale time of a claim and the holder's touch interval (a third of it at most), as set now. */
export function holderTiming(): { staleMs: number; touchMs: number } {
  const raw = process.env[HOLDER_STALE_ENV];
  const override = raw === undefined || raw === "" ? NaN : Number(raw);
  const staleMs = Number.isSafeInteger(override) && override > 0 ? override : HOLDER_STALE_MS;
  return { staleMs, touchMs: Math.max(1, Math.min(TOUCH_INTERVAL_MS, Math.floor(staleMs / 3))) };
}

/** What a store knows about delivery: destinations it has seen (for remote cleanup) and this process's flights. */
export class Delivery {
  readonly destinations = new Map<string, Destination>();
  readonly flights = new Map<string, Promise<UploadRecord>>();

  /**
   * Remembers the newest destination of each key; but one made without
   * `deleteWhenUnused` never displaces one made with it (an upload through a
   * plain destination of the same account does not turn off the cleanup that
   * `openStore({ destinations })` asked for).
   */
  remember(destination: Destination): void {
    const known = this.destinations.get(destination.key);
    if (known?.settings.deleteWhenUnused === true && !destination.settings.deleteWhenUnused) return;
    this.destinations.set(destination.key, destination);
  }
}

/** Checks that `value` is a destination made by `openaiFiles`, `anthropicFiles` or `geminiFiles` (or one shaped like them). */
export function asDestination(value: unknown): Destination {
  const d = value as Partial<Destination> | null;
  if (
    typeof d !== "object" || d === null || typeof d.key !== "string" || typeof d.upload !== "function" ||
    typeof d.stat !== "function" || typeof d.delete !== "function" || typeof d.settings !== "object"
  ) {
    throw invalidArgument("destination must be made by openaiFiles(), anthropicFiles() or geminiFiles() (attache-store/openai, /anthropic, /gemini).");
  }
  return d as Destination;
}

export function toUploadRecord(row: UploadRow, reused: boolean): UploadRecord {
  return Object.freeze({
    destination: row.destination,
    remoteId: row.remoteId as string,
    uri: row.uri,
    digest: `sha256:${row.digest}`,
    size: row.size,
    uploadedAt: new Date(row.uploadedAt as number),
    expiresAt: row.expiresAt === null ? null : new Date(row.expiresAt),
    reused,
  });
}

/** A finished entry that may be handed out: not expired, nor about to. */
function usable(row: UploadRow | undefined, destination: Destination, now: number): row is UploadRow {
  return row !== undefined && row.remoteId !== null && (row.expiresAt === null || row.expiresAt - destination.settings.minRemainingMs > now);
}

export function uploadAttachment(ctx: StoreContext, delivery: Delivery, record: AttachmentRecord, destination: Destination, options: UploadOptions): Promise<UploadRecord> {
  const context = { destination: destination.key, digest: `sha256:${record.digest}`, size: record.size };
  return traced(uploadTrace, context, () => uploadOnce(ctx, delivery, record, destination, options));
}

async function uploadOnce(ctx: StoreContext, delivery: Delivery, record: AttachmentRecord, destination: Destination, options: UploadOptions): Promise<UploadRecord> {
  const { signal } = options;
  if (signal?.aborted) throw aborted(signal.reason);
  if (record.size > destination.settings.maxSize) {
    throw new AttacheError("TOO_LARGE", `${refOf(record.id)} is ${record.size} bytes, more than ${destination.key} takes (${destination.settings.maxSize}); nothing was sent. Render it inline in parts, or pick a destination that takes it.`, { ref: refOf(record.id), destination: destination.key });
  }
  delivery.remember(destination);
  const counters = countersOf(destination.key);
  const ledger = ctx.manifest.uploads;
  if (options.force !== true) {
    const hit = await ledger.get(destination.key, record.digest);
    if (usable(hit, destination, ctx.now())) {
      if (options.verify !== true || (await destination.stat(hit.remoteId as string, signal)) !== null) {
        counters.ledgerHits++;
        return toUploadRecord(hit, true);
      }
      // Gone remotely (deleted, or expired early): forget it and upload again.
      await ledger.drop(destination.key, record.digest, hit.remoteId as string);
    }
  }
  const flightKey = `${destination.key}\0${record.digest}`;
  for (let running = delivery.flights.get(flightKey); running !== undefined && options.force !== true; running = delivery.flights.get(flightKey)) {
    try {
      const result = await waitFor(running, signal);
      counters.ledgerHits++;
      return Object.freeze({ ...result, reused: true });
    } catch (err) {
      // The caller whose upload this one waited for aborted it. This caller did not: it carries
      // on (waiting for a newer flight, or uploading itself, resuming from the ledger).
      if (signal?.aborted || !isAttacheError(err, "ABORTED")) throw err;
    }
  }
  const flight = uploadClaimed(ctx, record, destination, options);
  delivery.flights.set(flightKey, flight);
  const forget = () => {
    if (delivery.flights.get(flightKey) === flight) delivery.flights.delete(flightKey);
  };
  flight.then(forget, forget);
  return flight;
}

/** Waits for another caller's upload, giving up (only this wait) when `signal` aborts. */
async function waitFor<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) throw aborted(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Claims the ledger row (waiting while another process holds it), then uploads. */
async function uploadClaimed(ctx: StoreContext, record: AttachmentRecord, destination: Destination, options: UploadOptions): Promise<UploadRecord> {
  const ledger = ctx.manifest.uploads;
  // One id per upload call: a second call in this process never mistakes a claim for its own.
  const holder = `${ctx.writer.id}:${randomUUID()}`;
  let replace = options.force === true;
  const { staleMs } = holderTiming();
  for (let wait = 20; ; wait = Math.min(wait * 2, MAX_POLL_MS)) {
    if (options.signal?.aborted) throw aborted(options.signal.reason);
    const now = ctx.now();
    const claim = await ledger.claim(destination.key, record.digest, holder, record.size, now, now - staleMs, replace);
    if (claim.kind === "claimed") return sendClaimed(ctx, record, destination, options, holder, claim.resume);
    if (claim.kind === "done") {
      // Another process finished first.
      if (usable(claim.row, destination, now)) {
        countersOf(destination.key).ledgerHits++;
        return toUploadRecord(claim.row, true);
      }
      replace = true;
      continue;
    }
    await sleep(wait, undefined, { signal: options.signal }).catch(() => undefined);
  }
}

async function sendClaimed(
  ctx: StoreContext,
  record: AttachmentRecord,
  destination: Destination,
  options: UploadOptions,
  holder: string,
  resume: unknown,
): Promise<UploadRecord> {
  const ledger = ctx.manifest.uploads;
  const key = destination.key;
  const counters = countersOf(key);
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  // Aborted while the claim was being taken: the listener came too late to hear it.
  if (options.signal?.aborted) onAbort();
  let lostClaim = false;
  const toucher = setInterval(() => {
    ledger.touch(key, record.digest, holder, ctx.now()).then(
      (kept) => {
        if (kept) return;
        lostClaim = true;
        controller.abort(new Error("another process took this upload over"));
      },
      () => undefined,
    );
  }, holderTiming().touchMs);
  toucher.unref();
  const now = ctx.now();
  const leaseId = newId();
  let succeeded = false;
  try {
    // Pinned while it is sent: a release meanwhile does not delete the bytes under the upload.
    const leased = await ctx.manifest.pins.addLease(
      { id: leaseId, attachmentId: record.id, digest: record.digest, createdAt: now, expiresAt: now + UPLOAD_LEASE_MS },
      undefined,
      now,
    );
    if (leased === undefined) throw notFound(refOf(record.id));
    const bytes = new UploadBytes(record, (start, end) => openRange(ctx, record, { start, end }));
    let reported = 0;
    const remote = await destination.upload({
      name: record.name,
      contentType: record.contentType,
      size: record.size,
      digest: record.digest,
      openRange: (start, end) => bytes.openRange(start, end),
      beforeComplete: () => bytes.beforeComplete(),
      resume,
      onCheckpoint: async (state) => {
        if (!(await ledger.checkpoint(key, record.digest, holder, state))) {
          lostClaim = true;
          controller.abort(new Error("another process took this upload over"));
        }
      },
      onProgress: (sent) => {
        if (sent <= reported) return;
        reported = sent;
        options.onProgress?.({ bytes: sent, total: record.size });
      },
      onRetry: () => void counters.retries++,
      signal: controller.signal,
    });
    counters.uploads++;
    counters.bytesSent += bytes.sent;
    const row = await ledger.complete(key, record.digest, holder, { remoteId: remote.remoteId, uri: remote.uri ?? null, expiresAt: remote.expiresAt }, ctx.now());
    succeeded = true;
    // Taken over meanwhile (this process was taken for dead): the upload happened all the same.
    return row === undefined
      ? Object.freeze({
          destination: key, remoteId: remote.remoteId, uri: remote.uri ?? null, digest: `sha256:${record.digest}`, size: record.size,
          uploadedAt: new Date(ctx.now()), expiresAt: remote.expiresAt === null ? null : new Date(remote.expiresAt), reused: false,
        })
      : toUploadRecord(row, false);
  } catch (err) {
    counters.failures++;
    if (options.signal?.aborted) throw isAttacheError(err, "ABORTED") ? err : aborted(options.signal.reason);
    if (lostClaim && !(err instanceof AttacheError && err.code !== "ABORTED")) {
      throw uploadFailed(`The upload of ${refOf(record.id)} to ${key} was taken over by another process; call upload() again to get its result.`, {
        destination: key,
        retryable: true,
        cause: err,
      });
    }
    throw err;
  } finally {
    clearInterval(toucher);
    options.signal?.removeEventListener("abort", onAbort);
    if (!succeeded) await ledger.release(key, record.digest, holder).catch(() => undefined);
    await ctx.manifest.pins.removeLease(leaseId).catch(() => undefined);
  }
}
