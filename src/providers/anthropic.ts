/**
 * Anthropic's Files API (beta) as a destination: `anthropicFiles({ client })`.
 *
 *   upload   POST /v1/files          (beta.files.upload: one multipart request, `file` + `expires_in_seconds`)
 *   stat     GET /v1/files/{id}      (beta.files.retrieveMetadata)
 *   delete   DELETE /v1/files/{id}   (beta.files.delete)
 *
 * each with `anthropic-beta: files-api-2025-04-14`. Anthropic takes a file in
 * one request, so there is nothing to resume and `chunkSize` and
 * `concurrency` do not apply; over its limit (500 MB) an upload fails with
 * TOO_LARGE before any request. The SDK turns any stream it is given into a
 * `File` in memory, so attache reads the bytes (and the store checks them
 * against the digest) before the request starts: a bad blob is never sent.
 */
import { invalidArgument } from "../errors.js";
import type { Duration } from "../duration.js";
import type { Destination, RemoteFile, UploadInput } from "./destination.js";
import { accountOf, destinationKey, expirySeconds, resolveDestinationSettings, type DestinationOptions } from "./destination-options.js";
import { sendRange } from "./range-body.js";
import { refuseOversize, removeRemoteFile, statRemoteFile, uploadRetryOptions, type SdkRequestOptions } from "./remote-file.js";
import { withRetries } from "./retry.js";
import { UploadProgress } from "./upload-progress.js";

/** The beta the Files API needs, sent with every request. */
export const ANTHROPIC_FILES_BETA = "files-api-2025-04-14";
/** Anthropic's largest file (500 MB), in decimal megabytes. */
export const ANTHROPIC_MAX_FILE = 500 * 1000 ** 2;

/** The parts of Anthropic's `BetaFileMetadata` attache reads. */
export interface AnthropicFileMetadata {
  id: string;
  /** RFC 3339; null or absent when the file does not expire. */
  expires_at?: string | null;
}

/** What `anthropicFiles` needs of an `Anthropic` client (from `@anthropic-ai/sdk`), typed structurally. */
export interface AnthropicFilesClient {
  readonly apiKey?: string | null;
  readonly authToken?: string | null;
  readonly baseURL: string;
  beta: {
    files: {
      upload(params: { file: File; expires_in_seconds?: number; betas?: string[] }, options?: SdkRequestOptions): PromiseLike<AnthropicFileMetadata>;
      retrieveMetadata(fileID: string, params?: { betas?: string[] }, options?: SdkRequestOptions): PromiseLike<AnthropicFileMetadata>;
      delete(fileID: string, params?: { betas?: string[] }, options?: SdkRequestOptions): PromiseLike<unknown>;
    };
  };
}

/** Options of {@link anthropicFiles}. `chunkSize` and `concurrency` are accepted and ignored: Anthropic takes one request. */
export interface AnthropicFilesOptions extends DestinationOptions {
  /** An `Anthropic` client; its base URL and API key (or auth token) name the account. */
  client: AnthropicFilesClient;
  /** When Anthropic deletes the file, counted from the upload: 1 hour to 90 days. @default never */
  expiresAfter?: Duration;
}

/** A destination that uploads to Anthropic's Files API. */
export function anthropicFiles(options: AnthropicFilesOptions): Destination {
  if (typeof options !== "object" || options === null) throw invalidArgument("anthropicFiles() takes an options object: { client }.");
  const { client } = options;
  if (!client || typeof client.beta?.files?.upload !== "function") {
    throw invalidArgument("anthropicFiles: client must be an Anthropic client (new Anthropic() from @anthropic-ai/sdk).");
  }
  const settings = resolveDestinationSettings(
    "anthropicFiles",
    { ...options, chunkSize: undefined },
    { maxSize: ANTHROPIC_MAX_FILE, defaultChunkSize: ANTHROPIC_MAX_FILE, maxChunkSize: ANTHROPIC_MAX_FILE },
  );
  const expiresInSeconds = options.expiresAfter === undefined ? undefined : expirySeconds("anthropicFiles", options.expiresAfter, 3600, 7_776_000);
  const key = destinationKey("anthropic", { baseURL: client.baseURL, ...accountOf("anthropicFiles", client.apiKey ?? client.authToken, options.account) });
  const betas = [ANTHROPIC_FILES_BETA];
  const requestOptions = (signal?: AbortSignal): SdkRequestOptions => ({ maxRetries: 0, timeout: settings.timeoutMs, ...(signal ? { signal } : {}) });

  return Object.freeze({
    provider: "anthropic" as const,
    key,
    settings,
    async upload(input: UploadInput): Promise<RemoteFile> {
      refuseOversize(input, settings.maxSize, key);
      const progress = new UploadProgress(input);
      const metadata = await withRetries(
        () =>
          sendRange(input, 0, input.size, undefined, async (body) => {
            const file = new File([await body.readAll()], input.name, { type: input.contentType });
            return client.beta.files.upload(
              { file, betas, ...(expiresInSeconds === undefined ? {} : { expires_in_seconds: expiresInSeconds }) },
              requestOptions(input.signal),
            );
          }),
        uploadRetryOptions(input, settings, key, `upload ${input.name} to Anthropic`),
      );
      progress.finished(0, input.size);
      return anthropicRemoteFile(metadata);
    },
    stat(remoteId: string, signal?: AbortSignal): Promise<RemoteFile | null> {
      return statRemoteFile({ settings, destination: key, signal, what: `read Anthropic file ${remoteId}`, goneStatuses: [403, 404] }, async () =>
        anthropicRemoteFile(await client.beta.files.retrieveMetadata(remoteId, { betas }, requestOptions(signal))),
      );
    },
    delete(remoteId: string, signal?: AbortSignal): Promise<void> {
      return removeRemoteFile({ settings, destination: key, signal, what: `delete Anthropic file ${remoteId}`, goneStatuses: [404] }, () =>
        client.beta.files.delete(remoteId, { betas }, requestOptions(signal)),
      );
    },
  });
}

function anthropicRemoteFile(metadata: AnthropicFileMetadata): RemoteFile {
  const expiresAt = metadata.expires_at ? Date.parse(metadata.expires_at) : NaN;
  return { remoteId: metadata.id, expiresAt: Number.isNaN(expiresAt) ? null : expiresAt };
}
