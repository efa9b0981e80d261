/**
 * A file larger than `chunkSize` goes to OpenAI through the Uploads API:
 *
 *   uploads.create({ bytes, filename, mime_type, purpose, expires_after })   → upload id, expires_at (1 h)
 *   uploads.parts.create(id, { data })   part i = bytes [i·partSize, min((i+1)·partSize, size))
 *                                        `concurrency` in flight; each recorded as it finishes
 *   beforeComplete()                     the store's last word on the bytes
 *   uploads.complete(id, { part_ids })   ids in part order → the File
 *
 * The checkpoint ({@link OpenAIUploadCheckpoint}) holds the upload id and
 * the part ids done by index. Given back as `resume` (after an abort, or by
 * another process after a crash), only the missing parts are sent while the
 * upload lives; once it has expired, or OpenAI no longer knows it (400, 404,
 * 410 on a resumed upload), the upload starts over, once.
 */
import { aborted, isAttacheError, uploadFailed } from "../errors.js";
import type { DestinationSettings, RemoteFile, UploadInput } from "./destination.js";
import type { OpenAIExpiresAfter, OpenAIFilePurpose, OpenAIFilesClient } from "./openai.js";
import { sendRange } from "./range-body.js";
import { uploadRetryOptions, type SdkRequestOptions } from "./remote-file.js";
import { withRetries } from "./retry.js";
import { UploadProgress } from "./upload-progress.js";
import { setMaxListeners } from "node:events";

/** The resume state of a chunked OpenAI upload, as passed to `onCheckpoint`. */
export interface OpenAIUploadCheckpoint {
  provider: "openai";
  kind: "uploads";
  version: 1;
  uploadId: string;
  digest: string;
  size: number;
  /** The part size the upload was cut with; a resume keeps it, whatever chunkSize is now. */
  partSize: number;
  /** When OpenAI drops the pending upload, in epoch milliseconds. */
  expiresAt: number;
  /** Part ids by part index; null for a part not sent yet. */
  partIds: (string | null)[];
}

/** A resumed upload this close to its expiry is started over rather than raced against it. */
const RESUME_MARGIN_MS = 60_000;
/** What OpenAI answers for an upload it no longer takes parts for: unknown, expired, cancelled, completed. */
const SESSION_GONE_STATUSES: ReadonlySet<number> = new Set([400, 404, 410]);

/** What {@link uploadInParts} needs from the destination. */
export interface PartsUploadContext {
  client: OpenAIFilesClient;
  input: UploadInput;
  settings: DestinationSettings;
  key: string;
  purpose: OpenAIFilePurpose;
  expiresAfter: OpenAIExpiresAfter | undefined;
  requestOptions(signal?: AbortSignal): SdkRequestOptions;
}

/** Uploads `input` in parts, resuming from `input.resume` when it names a live upload of the same bytes. */
export async function uploadInParts(context: PartsUploadContext): Promise<RemoteFile> {
  const resumed = resumableCheckpoint(context.input.resume, context.input);
  if (resumed) {
    try {
      return await sendParts(context, resumed);
    } catch (err) {
      if (!(isAttacheError(err, "UPLOAD_FAILED") && err.status !== undefined && SESSION_GONE_STATUSES.has(err.status))) throw err;
      // The upload is gone (expired, cancelled, completed by a run that crashed before the ledger knew): start over.
    }
  }
  return sendParts(context, await createUpload(context));
}

async function createUpload({ client, input, settings, key, purpose, expiresAfter, requestOptions }: PartsUploadContext): Promise<OpenAIUploadCheckpoint> {
  const upload = await withRetries(
    () =>
      client.uploads.create(
        { bytes: input.size, filename: input.name, mime_type: input.contentType, purpose, ...(expiresAfter ? { expires_after: expiresAfter } : {}) },
        requestOptions(input.signal),
      ),
    uploadRetryOptions(input, settings, key, `start an OpenAI upload of ${input.name}`),
  );
  const partSize = settings.chunkSize;
  const checkpoint: OpenAIUploadCheckpoint = {
    provider: "openai",
    kind: "uploads",
    version: 1,
    uploadId: upload.id,
    digest: input.digest,
    size: input.size,
    partSize,
    expiresAt: upload.expires_at * 1000,
    partIds: Array.from({ length: Math.ceil(input.size / partSize) }, () => null),
  };
  await input.onCheckpoint(copyOf(checkpoint));
  return checkpoint;
}

/** Sends the parts `checkpoint` lacks, `concurrency` at once, then completes the upload. */
async function sendParts(context: PartsUploadContext, checkpoint: OpenAIUploadCheckpoint): Promise<RemoteFile> {
  const { client, input, settings, key, requestOptions } = context;
  const { uploadId, partSize, partIds } = checkpoint;
  const progress = new UploadProgress(input);
  const missing = partIds.flatMap((id, index) => (id === null ? [index] : []));
  progress.addSettled(partIds.reduce((held, id, index) => (id === null ? held : held + partLength(checkpoint, index)), 0));

  // One failed part stops the others: its siblings are aborted and no new part starts.
  const stop = new AbortController();
  // The SDK adds a listener to this signal per request and keeps it: many parts are not a leak.
  setMaxListeners(0, stop.signal);
  const onAbort = (): void => stop.abort(input.signal?.reason);
  input.signal?.addEventListener("abort", onAbort, { once: true });
  if (input.signal?.aborted) onAbort();
  let firstError: unknown;
  let writes: Promise<unknown> = Promise.resolve();
  const record = (): Promise<void> => {
    const write = writes.then(() => input.onCheckpoint(copyOf(checkpoint)));
    writes = write.catch(() => undefined);
    return write;
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (firstError === undefined && next < missing.length) {
      const index = missing[next++] as number;
      const start = index * partSize;
      const end = start + partLength(checkpoint, index);
      try {
        const part = await withRetries(
          () =>
            sendRange(input, start, end, (read) => progress.streamed(index, read), (body) =>
              client.uploads.parts.create(uploadId, { data: body.asNamedStream(input.name) }, requestOptions(stop.signal)),
            ),
          uploadRetryOptions(input, settings, key, `upload part ${index + 1}/${partIds.length} of ${input.name} to OpenAI`, stop.signal),
        );
        partIds[index] = part.id;
        progress.finished(index, end - start);
        await record();
      } catch (err) {
        progress.failed(index);
        if (firstError === undefined) {
          firstError = err;
          stop.abort(err);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, missing.length) }, worker));
  } finally {
    input.signal?.removeEventListener("abort", onAbort);
  }
  if (input.signal?.aborted) throw aborted(input.signal.reason);
  if (firstError !== undefined) throw firstError;

  await input.beforeComplete();
  const done = await withRetries(
    () => client.uploads.complete(uploadId, { part_ids: partIds as string[] }, requestOptions(input.signal)),
    uploadRetryOptions(input, settings, key, `complete the OpenAI upload of ${input.name}`),
  );
  if (done.status !== "completed" || !done.file) {
    throw uploadFailed(`OpenAI completed the upload of ${input.name} with status ${JSON.stringify(done.status)} and no file.`, {
      destination: key,
      retryable: false,
    });
  }
  return { remoteId: done.file.id, expiresAt: typeof done.file.expires_at === "number" ? done.file.expires_at * 1000 : null };
}

function partLength(checkpoint: OpenAIUploadCheckpoint, index: number): number {
  return Math.min(checkpoint.partSize, checkpoint.size - index * checkpoint.partSize);
}

function copyOf(checkpoint: OpenAIUploadCheckpoint): OpenAIUploadCheckpoint {
  return { ...checkpoint, partIds: [...checkpoint.partIds] };
}

/** `state` as a checkpoint of this very upload that is still worth resuming; undefined otherwise. */
function resumableCheckpoint(state: unknown, input: UploadInput, now: number = Date.now()): OpenAIUploadCheckpoint | undefined {
  if (state === null || typeof state !== "object") return undefined;
  const c = state as Partial<OpenAIUploadCheckpoint>;
  if (c.provider !== "openai" || c.kind !== "uploads" || c.version !== 1) return undefined;
  if (typeof c.uploadId !== "string" || c.digest !== input.digest || c.size !== input.size) return undefined;
  if (!Number.isSafeInteger(c.partSize) || (c.partSize as number) <= 0 || typeof c.expiresAt !== "number") return undefined;
  if (!Array.isArray(c.partIds) || c.partIds.length !== Math.ceil(input.size / (c.partSize as number))) return undefined;
  if (!c.partIds.every((id) => id === null || typeof id === "string")) return undefined;
  if (c.expiresAt - now < RESUME_MARGIN_MS) return undefined;
  return copyOf(c as OpenAIUploadCheckpoint);
}
