/**
 * OpenAI's Files API as a destination: `openaiFiles({ client, purpose })`.
 *
 *   size <= chunkSize   POST /files            (files.create, one streamed multipart request)
 *   size >  chunkSize   POST /uploads          (uploads.create: bytes, filename, mime_type, purpose)
 *                       POST /uploads/{id}/parts     × ceil(size / chunkSize), `concurrency` at once
 *                       POST /uploads/{id}/complete  (part_ids in order)  → ./openai-uploads.ts
 *   stat                GET /files/{id}      (files.retrieve)
 *   delete              DELETE /files/{id}   (files.delete)
 *
 * files.create streams the bytes (the SDK encodes the multipart body as it
 * is sent); its file part is typed application/octet-stream, as the
 * endpoint takes no type and OpenAI goes by the filename's extension. The
 * Uploads API is given the content type as `mime_type`.
 *
 * Every request goes through the injected client with `maxRetries: 0` and
 * the destination's timeout; ./retry.ts decides what is tried again. The
 * SDK is only a type here: nothing from `openai` is imported at runtime.
 */
import { invalidArgument } from "../errors.js";
import type { Duration } from "../duration.js";
import type { Destination, RemoteFile, UploadInput } from "./destination.js";
import { accountOf, destinationKey, expirySeconds, resolveDestinationSettings, type DestinationOptions } from "./destination-options.js";
import { sendRange, type NamedByteStream } from "./range-body.js";
import { withRetries } from "./retry.js";
import { refuseOversize, removeRemoteFile, statRemoteFile, uploadRetryOptions, type SdkRequestOptions } from "./remote-file.js";
import { UploadProgress } from "./upload-progress.js";
import { uploadInParts } from "./openai-uploads.js";

/** The purposes OpenAI's Files API takes (`FilePurpose`). */
export type OpenAIFilePurpose = "assistants" | "batch" | "fine-tune" | "vision" | "user_data" | "evals";
const PURPOSES: readonly OpenAIFilePurpose[] = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"];

/** `expires_after` as OpenAI takes it. */
export interface OpenAIExpiresAfter {
  anchor: "created_at";
  seconds: number;
}

/** The parts of OpenAI's `File` object attache reads. */
export interface OpenAIFileObject {
  id: string;
  /** Unix seconds. */
  expires_at?: number | null;
}

/** The parts of OpenAI's `Upload` object attache reads. */
export interface OpenAIUploadObject {
  id: string;
  status: string;
  /** Unix seconds. */
  expires_at: number;
  file?: OpenAIFileObject | null;
}

/** What `openaiFiles` needs of an `OpenAI` client (from the `openai` package, 6.x), typed structurally. */
export interface OpenAIFilesClient {
  readonly apiKey?: string | null;
  readonly baseURL: string;
  readonly organization?: string | null;
  readonly project?: string | null;
  files: {
    create(body: { file: NamedByteStream; purpose: OpenAIFilePurpose; expires_after?: OpenAIExpiresAfter }, options?: SdkRequestOptions): PromiseLike<OpenAIFileObject>;
    retrieve(fileID: string, options?: SdkRequestOptions): PromiseLike<OpenAIFileObject>;
    delete(fileID: string, options?: SdkRequestOptions): PromiseLike<unknown>;
  };
  uploads: {
    create(
      body: { bytes: number; filename: string; mime_type: string; purpose: OpenAIFilePurpose; expires_after?: OpenAIExpiresAfter },
      options?: SdkRequestOptions,
    ): PromiseLike<OpenAIUploadObject>;
    complete(uploadID: string, body: { part_ids: string[] }, options?: SdkRequestOptions): PromiseLike<OpenAIUploadObject>;
    parts: {
      create(uploadID: string, body: { data: NamedByteStream }, options?: SdkRequestOptions): PromiseLike<{ id: string }>;
    };
  };
}

/** Options of {@link openaiFiles}. */
export interface OpenAIFilesOptions extends DestinationOptions {
  /** An `OpenAI` client; its base URL and API key (with organization and project) name the account. */
  client: OpenAIFilesClient;
  /** What the files are for; part of the destination key, so a `batch` file is never reused as `user_data`. */
  purpose: OpenAIFilePurpose;
  /** When OpenAI deletes the file, counted from its creation: 1 hour to 30 days. @default never (batch: 30 days) */
  expiresAfter?: Duration;
}

/** OpenAI's largest part ("at most 64 MB"), read as 64 MiB. */
export const OPENAI_MAX_PART = 64 * 1024 * 1024;
/** The most an Upload takes ("at most 8 GB"), read conservatively as decimal gigabytes. */
export const OPENAI_MAX_UPLOAD = 8 * 1000 ** 3;

/** A destination that uploads to OpenAI's Files API (Uploads API above `chunkSize`). */
export function openaiFiles(options: OpenAIFilesOptions): Destination {
  if (typeof options !== "object" || options === null) throw invalidArgument("openaiFiles() takes an options object: { client, purpose }.");
  const { client, purpose } = options;
  if (!client || typeof client.files?.create !== "function" || typeof client.uploads?.parts?.create !== "function") {
    throw invalidArgument("openaiFiles: client must be an OpenAI client (new OpenAI() from the openai package, 6.x or later).");
  }
  if (!PURPOSES.includes(purpose)) throw invalidArgument(`openaiFiles: purpose must be one of ${PURPOSES.join(", ")}; got ${JSON.stringify(purpose)}.`);
  const settings = resolveDestinationSettings("openaiFiles", options, {
    maxSize: OPENAI_MAX_UPLOAD,
    defaultChunkSize: OPENAI_MAX_PART,
    maxChunkSize: OPENAI_MAX_PART,
  });
  const expiresAfter: OpenAIExpiresAfter | undefined =
    options.expiresAfter === undefined ? undefined : { anchor: "created_at", seconds: expirySeconds("openaiFiles", options.expiresAfter, 3600, 2_592_000) };
  const key = destinationKey("openai", {
    baseURL: client.baseURL,
    ...accountOf("openaiFiles", client.apiKey, options.account),
    usage: [client.organization ?? null, client.project ?? null, purpose],
  });
  const requestOptions = (signal?: AbortSignal): SdkRequestOptions => ({ maxRetries: 0, timeout: settings.timeoutMs, ...(signal ? { signal } : {}) });

  async function uploadWhole(input: UploadInput): Promise<RemoteFile> {
    const progress = new UploadProgress(input);
    const file = await withRetries(
      () =>
        sendRange(input, 0, input.size, (read) => progress.streamed(0, read), (body) =>
          client.files.create(
            { file: body.asNamedStream(input.name), purpose, ...(expiresAfter ? { expires_after: expiresAfter } : {}) },
            requestOptions(input.signal),
          ),
        ),
      uploadRetryOptions(input, settings, key, `upload ${input.name} to OpenAI`),
    );
    progress.finished(0, input.size);
    return openaiRemoteFile(file);
  }

  return Object.freeze({
    provider: "openai" as const,
    key,
    settings,
    async upload(input: UploadInput): Promise<RemoteFile> {
      refuseOversize(input, settings.maxSize, key);
      if (input.size <= settings.chunkSize) return uploadWhole(input);
      return uploadInParts({ client, input, settings, key, purpose, expiresAfter, requestOptions });
    },
    stat(remoteId: string, signal?: AbortSignal): Promise<RemoteFile | null> {
      return statRemoteFile({ settings, destination: key, signal, what: `read OpenAI file ${remoteId}`, goneStatuses: [403, 404] }, async () =>
        openaiRemoteFile(await client.files.retrieve(remoteId, requestOptions(signal))),
      );
    },
    delete(remoteId: string, signal?: AbortSignal): Promise<void> {
      return removeRemoteFile({ settings, destination: key, signal, what: `delete OpenAI file ${remoteId}`, goneStatuses: [404] }, () =>
        client.files.delete(remoteId, requestOptions(signal)),
      );
    },
  });
}

/** A File object as a {@link RemoteFile}: expiry from Unix seconds to epoch milliseconds. */
export function openaiRemoteFile(file: OpenAIFileObject): RemoteFile {
  return { remoteId: file.id, expiresAt: typeof file.expires_at === "number" ? file.expires_at * 1000 : null };
}
