/**
 * Gemini's resumable upload protocol, spoken directly: the SDK's
 * `files.upload` neither takes a byte range nor resumes a session, and has
 * no offset query. Requests carry what the client itself would send (its
 * base URL, default headers and API key) through its fetch.
 *
 *   POST {base}/upload/v1beta/files        X-Goog-Upload-Protocol: resumable
 *        X-Goog-Upload-Command: start      X-Goog-Upload-Header-Content-Length / -Content-Type
 *        body { file: { displayName, mimeType, sizeBytes } }
 *     ← X-Goog-Upload-URL: the session
 *   POST {session}   X-Goog-Upload-Command: upload            X-Goog-Upload-Offset: n   (chunkSize bytes)
 *   POST {session}   X-Goog-Upload-Command: upload, finalize  X-Goog-Upload-Offset: n   (the rest)
 *     ← X-Goog-Upload-Status: final, body { file: { name, uri, expirationTime, … } }
 *   POST {session}   X-Goog-Upload-Command: query
 *     ← X-Goog-Upload-Status: active | final, X-Goog-Upload-Size-Received: n
 *
 * The checkpoint ({@link GeminiUploadCheckpoint}) holds the session URL and
 * the offset reached. A resume, and any retry of a chunk (whose bytes may
 * have arrived though the answer did not), first asks the server for its
 * offset and sends from there.
 */
import { uploadFailed, isAttacheError } from "../errors.js";
import type { DestinationSettings, RemoteFile, UploadInput } from "./destination.js";
import { HttpStatusError } from "./http-status.js";
import { sendRange } from "./range-body.js";
import { uploadRetryOptions } from "./remote-file.js";
import { withRetries } from "./retry.js";
import { UploadProgress } from "./upload-progress.js";
import { declaredTypeFor } from "../deliver/render-targets.js";

/** The resume state of a Gemini upload, as passed to `onCheckpoint`. */
export interface GeminiUploadCheckpoint {
  provider: "gemini";
  kind: "resumable";
  version: 1;
  /** The session URL (`X-Goog-Upload-URL`), as the server gave it. */
  uploadUrl: string;
  digest: string;
  size: number;
  /** Bytes the server had acknowledged when this was written. */
  offset: number;
}

/** The parts of Gemini's `File` resource attache reads. */
export interface GeminiFileResource {
  name?: string;
  uri?: string;
  /** RFC 3339. */
  expirationTime?: string;
}

/** How to reach the Gemini API as the client would. */
export interface GeminiHttp {
  /** The client's base URL, such as `https://generativelanguage.googleapis.com/`. */
  baseUrl: string;
  /** The headers of every request: the client's defaults and its API key. */
  headers(): Promise<Headers>;
  fetch: typeof fetch;
}

/** What {@link uploadResumable} needs from the destination. */
export interface ResumableUploadContext {
  http: GeminiHttp;
  input: UploadInput;
  settings: DestinationSettings;
  key: string;
}

/** What a session's server answers for a resumed upload it no longer knows. */
const SESSION_GONE_STATUSES: ReadonlySet<number> = new Set([400, 404, 410]);

/** The server says the session is neither active nor final (cancelled). */
class UploadSessionEnded extends Error {
  override readonly name = "UploadSessionEnded";
}

/** Uploads `input` through a resumable session, continuing the one in `input.resume` when the server still has it. */
export async function uploadResumable(context: ResumableUploadContext): Promise<RemoteFile> {
  const saved = resumableCheckpoint(context.input.resume, context.input);
  if (saved) {
    try {
      return await continueSession(context, saved, true);
    } catch (err) {
      const gone = isAttacheError(err, "UPLOAD_FAILED") && ((err.status !== undefined && SESSION_GONE_STATUSES.has(err.status)) || err.cause instanceof UploadSessionEnded);
      if (!gone) throw err;
    }
  }
  return continueSession(context, await startSession(context), false);
}

async function startSession({ http, input, settings, key }: ResumableUploadContext): Promise<GeminiUploadCheckpoint> {
  // The type the request parts name the file by: Gemini takes text only under the types it lists.
  const declaredType = declaredTypeFor("gemini", input.contentType);
  const response = await withRetries(
    () =>
      post(http, settings, input.signal, new URL("upload/v1beta/files", withSlash(http.baseUrl)).toString(), {
        headers: {
          "Content-Type": "application/json",
          "X-Goog-Upload-Protocol": "resumable",
          "X-Goog-Upload-Command": "start",
          "X-Goog-Upload-Header-Content-Length": String(input.size),
          "X-Goog-Upload-Header-Content-Type": declaredType,
        },
        body: JSON.stringify({ file: { displayName: input.name, mimeType: declaredType, sizeBytes: String(input.size) } }),
      }),
    uploadRetryOptions(input, settings, key, `start a Gemini upload of ${input.name}`),
  );
  const uploadUrl = response.headers.get("x-goog-upload-url");
  if (!uploadUrl) {
    throw uploadFailed(`Gemini started no upload session for ${input.name}: its answer had no X-Goog-Upload-URL header.`, { destination: key, retryable: false });
  }
  const checkpoint: GeminiUploadCheckpoint = { provider: "gemini", kind: "resumable", version: 1, uploadUrl, digest: input.digest, size: input.size, offset: 0 };
  await input.onCheckpoint({ ...checkpoint });
  return checkpoint;
}

/** Sends the chunks from the session's offset on; `queryFirst` asks the server for its offset before the first one. */
async function continueSession(context: ResumableUploadContext, session: GeminiUploadCheckpoint, queryFirst: boolean): Promise<RemoteFile> {
  const { http, input, settings, key } = context;
  const url = sessionUrl(session.uploadUrl, http.baseUrl);
  const progress = new UploadProgress(input);
  let acknowledged = 0;
  const acknowledge = (bytes: number): void => {
    if (bytes > acknowledged) progress.addSettled(bytes - acknowledged);
    acknowledged = Math.max(acknowledged, bytes);
  };
  let offset = session.offset;
  let mustQuery = queryFirst;
  let checked = false;
  if (!queryFirst) acknowledge(offset);
  for (;;) {
    const file = await withRetries(
      async (attempt) => {
        if (mustQuery || attempt > 0) {
          const state = await query(http, settings, input.signal, url);
          if (state.file) return state.file;
          if (state.received > input.size) throw new UploadSessionEnded(`The upload session holds ${state.received} bytes, more than the file's ${input.size}.`);
          offset = state.received;
          mustQuery = false;
          acknowledge(offset);
        }
        const end = Math.min(offset + settings.chunkSize, input.size);
        const last = end === input.size;
        const bytes = await sendRange(input, offset, end, undefined, (body) => body.readAll());
        if (last && !checked) {
          await input.beforeComplete();
          checked = true;
        }
        const response = await post(http, settings, input.signal, url, {
          headers: { "X-Goog-Upload-Command": last ? "upload, finalize" : "upload", "X-Goog-Upload-Offset": String(offset) },
          body: bytes,
        });
        const status = response.headers.get("x-goog-upload-status");
        if (last) {
          const answer = (await response.json().catch(() => ({}))) as { file?: GeminiFileResource };
          if (status !== "final" || !answer.file?.name) {
            throw uploadFailed(`Gemini did not finalize the upload of ${input.name} (status ${JSON.stringify(status)}).`, { destination: key, retryable: false });
          }
          return answer.file;
        }
        await response.arrayBuffer();
        if (status !== "active") {
          throw uploadFailed(`Gemini ended the upload session of ${input.name} early (status ${JSON.stringify(status)}).`, { destination: key, retryable: false });
        }
        offset = end;
        return undefined;
      },
      uploadRetryOptions(input, settings, key, `upload ${input.name} to Gemini from offset ${offset}`),
    );
    if (file) {
      acknowledge(input.size);
      return geminiRemoteFile(file);
    }
    acknowledge(offset);
    await input.onCheckpoint({ ...session, offset });
  }
}

/** Asks the server where the session stands: its offset, or the finished file. */
async function query(http: GeminiHttp, settings: DestinationSettings, signal: AbortSignal | undefined, url: string): Promise<{ received: number; file?: GeminiFileResource }> {
  const response = await post(http, settings, signal, url, { headers: { "X-Goog-Upload-Command": "query" } });
  const status = response.headers.get("x-goog-upload-status");
  if (status === "final") {
    const answer = (await response.json().catch(() => ({}))) as { file?: GeminiFileResource };
    if (answer.file?.name) return { received: Number.NaN, file: answer.file };
    throw new UploadSessionEnded("The upload session is final, but the server did not say which file it made.");
  }
  await response.arrayBuffer();
  const received = Number(response.headers.get("x-goog-upload-size-received"));
  if (status !== "active" || !Number.isSafeInteger(received) || received < 0) {
    throw new UploadSessionEnded(`The upload session is ${status ?? "in an unknown state"}.`);
  }
  return { received };
}

/** One request with the client's headers, the destination's timeout and the caller's signal; a non-2xx answer throws {@link HttpStatusError}. */
async function post(
  http: GeminiHttp,
  settings: DestinationSettings,
  signal: AbortSignal | undefined,
  url: string,
  request: { headers: Record<string, string>; body?: string | Uint8Array },
): Promise<Response> {
  const headers = await http.headers();
  if (typeof request.body !== "string") headers.delete("content-type");
  for (const [name, value] of Object.entries(request.headers)) headers.set(name, value);
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const response = await http.fetch(url, {
    method: "POST",
    headers,
    ...(request.body === undefined ? {} : { body: request.body }),
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  if (!response.ok) throw new HttpStatusError(response.status, response.headers, await response.text().catch(() => ""));
  return response;
}

/** The session URL aimed at the client's host (as the SDK does: a proxy or a local server may stand in for Google's). */
function sessionUrl(uploadUrl: string, baseUrl: string): string {
  const url = new URL(uploadUrl);
  const base = new URL(baseUrl);
  url.protocol = base.protocol;
  url.host = base.host;
  return url.toString();
}

function withSlash(url: string): string {
  return url.endsWith("/") ? url : `${url}/`;
}

export function geminiRemoteFile(file: GeminiFileResource): RemoteFile {
  const expiresAt = file.expirationTime ? Date.parse(file.expirationTime) : NaN;
  return { remoteId: file.name ?? "", expiresAt: Number.isNaN(expiresAt) ? null : expiresAt, ...(file.uri ? { uri: file.uri } : {}) };
}

function resumableCheckpoint(state: unknown, input: UploadInput): GeminiUploadCheckpoint | undefined {
  if (state === null || typeof state !== "object") return undefined;
  const c = state as Partial<GeminiUploadCheckpoint>;
  if (c.provider !== "gemini" || c.kind !== "resumable" || c.version !== 1 || typeof c.uploadUrl !== "string") return undefined;
  if (c.digest !== input.digest || c.size !== input.size || !Number.isSafeInteger(c.offset) || (c.offset as number) < 0) return undefined;
  try {
    new URL(c.uploadUrl);
  } catch {
    return undefined;
  }
  return { ...(c as GeminiUploadCheckpoint) };
}
