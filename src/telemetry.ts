import diagnostics_channel from "node:diagnostics_channel";
import type { Attachment } from "./types.js";

/**
 * attache's `node:diagnostics_channel` channels. Tracing channels wrap each
 * call of `stage`, `sweep`, `verify` and `upload`; plain channels report events.
 * `publish` is skipped when nobody subscribes, so telemetry costs nothing then.
 */
export const stageTrace = diagnostics_channel.tracingChannel<object, object>("attache:stage");
export const sweepTrace = diagnostics_channel.tracingChannel<object, object>("attache:sweep");
export const verifyTrace = diagnostics_channel.tracingChannel<object, object>("attache:verify");
export const uploadTrace = diagnostics_channel.tracingChannel<object, object>("attache:upload");

const stagedChannel = diagnostics_channel.channel("attache:staged");
const releasedChannel = diagnostics_channel.channel("attache:released");
const expiredChannel = diagnostics_channel.channel("attache:expired");
const blobDeletedChannel = diagnostics_channel.channel("attache:blob-deleted");
const orphanReclaimedChannel = diagnostics_channel.channel("attache:orphan-reclaimed");

/** What an orphan was: a temp file, the intent of a stage that never finished, or a lease past its ttl. */
export type OrphanKind = "temp" | "intent" | "lease";

export function publishStaged(attachment: Attachment, deduplicated: boolean): void {
  if (stagedChannel.hasSubscribers) stagedChannel.publish({ attachment, deduplicated });
}

export function publishReleased(attachment: Attachment): void {
  if (releasedChannel.hasSubscribers) releasedChannel.publish({ attachment });
}

export function publishExpired(attachment: Attachment): void {
  if (expiredChannel.hasSubscribers) expiredChannel.publish({ attachment });
}

export function publishBlobDeleted(digest: string, size: number): void {
  if (blobDeletedChannel.hasSubscribers) blobDeletedChannel.publish({ digest, size });
}

export function publishOrphanReclaimed(kind: OrphanKind, path: string, size: number): void {
  if (orphanReclaimedChannel.hasSubscribers) orphanReclaimedChannel.publish({ kind, path, size });
}

/** Runs `fn` inside a tracing channel when someone listens, else plainly. */
export function traced<T>(
  channel: diagnostics_channel.TracingChannel<object, object>,
  context: object,
  fn: () => Promise<T>,
): Promise<T> {
  return channel.hasSubscribers ? channel.tracePromise(fn, context) : fn();
}
