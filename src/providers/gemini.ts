/**
 * The Gemini API's Files API as a destination: `geminiFiles({ client })`.
 *
 *   upload   the resumable protocol, always (one chunk at or below chunkSize)  → ./gemini-resumable.ts
 *   stat     GET    v1beta/files/{id}   (files.get)
 *   delete   DELETE v1beta/files/{id}   (files.delete)
 *
 * Gemini answers 403 for a file that is gone (expired after 48 hours,
 * deleted, or never this key's), so stat and delete both count a 403 as
 * gone. The upload needs the client's base URL, headers and API key, which a
 * `GoogleGenAI` keeps in its `apiClient`: attache reads them there at upload
 * time, and the SDK is never imported at runtime. Vertex AI has no Files API.
 */
import { invalidArgument, unsupported } from "../errors.js";
import type { Destination, RemoteFile, UploadInput } from "./destination.js";
import { accountOf, destinationKey, resolveDestinationSettings, type DestinationOptions } from "./destination-options.js";
import { geminiRemoteFile, uploadResumable, type GeminiFileResource, type GeminiHttp } from "./gemini-resumable.js";
import { refuseOversize, removeRemoteFile, statRemoteFile } from "./remote-file.js";

/** Gemini's largest file (2 GB), in decimal gigabytes. */
export const GEMINI_MAX_FILE = 2 * 1000 ** 3;
/** Chunks other than the last must be a multiple of this. */
export const GEMINI_CHUNK_GRANULARITY = 256 * 1024;
/** The default chunk, as the SDK's own uploader uses. */
export const GEMINI_DEFAULT_CHUNK = 8 * 1024 * 1024;
/** The largest chunk attache holds in memory at once. */
export const GEMINI_MAX_CHUNK = 64 * 1024 * 1024;

/** The per-request config the SDK's `files.get` and `files.delete` take. */
export interface GeminiRequestConfig {
  httpOptions?: { timeout?: number; retryOptions?: { attempts?: number } };
  abortSignal?: AbortSignal;
}

/** What `geminiFiles` needs of a `GoogleGenAI` client (from `@google/genai`), typed structurally. */
export interface GeminiFilesClient {
  readonly vertexai?: boolean;
  files: {
    get(params: { name: string; config?: GeminiRequestConfig }): PromiseLike<GeminiFileResource>;
    delete(params: { name: string; config?: GeminiRequestConfig }): PromiseLike<unknown>;
  };
}

/** The `ApiClient` a `GoogleGenAI` keeps (protected in its types): where its base URL, headers, key and fetch live. */
interface GeminiApiClient {
  getBaseUrl(): string;
  getHeaders(): Record<string, string>;
  getAuthHeaders(): Promise<Headers>;
  getApiKey?(): string | undefined;
  getFetch?(): typeof fetch | undefined;
}

/** Options of {@link geminiFiles}. `concurrency` is accepted and ignored: the resumable protocol sends its chunks in order. */
export interface GeminiFilesOptions extends DestinationOptions {
  /** A `GoogleGenAI` client for the Gemini Developer API (not Vertex AI); its base URL and API key name the account. */
  client: GeminiFilesClient;
}

/** A destination that uploads to the Gemini API's Files API. */
export function geminiFiles(options: GeminiFilesOptions): Destination {
  if (typeof options !== "object" || options === null) throw invalidArgument("geminiFiles() takes an options object: { client }.");
  const { client } = options;
  if (!client || typeof client.files?.get !== "function" || typeof client.files?.delete !== "function") {
    throw invalidArgument("geminiFiles: client must be a GoogleGenAI client (new GoogleGenAI({ apiKey }) from @google/genai).");
  }
  if (client.vertexai) throw unsupported("geminiFiles: Vertex AI has no Files API; give a client of the Gemini Developer API (new GoogleGenAI({ apiKey })).");
  const api = apiClientOf(client);
  const settings = resolveDestinationSettings("geminiFiles", options, {
    maxSize: GEMINI_MAX_FILE,
    defaultChunkSize: GEMINI_DEFAULT_CHUNK,
    maxChunkSize: GEMINI_MAX_CHUNK,
    chunkGranularity: GEMINI_CHUNK_GRANULARITY,
  });
  const key = destinationKey("gemini", { baseURL: api.getBaseUrl(), ...accountOf("geminiFiles", api.getApiKey?.(), options.account) });
  const http: GeminiHttp = {
    baseUrl: api.getBaseUrl(),
    async headers() {
      const headers = new Headers(api.getHeaders());
      (await api.getAuthHeaders()).forEach((value, name) => headers.set(name, value));
      return headers;
    },
    fetch: (url, init) => (api.getFetch?.() ?? globalThis.fetch)(url, init),
  };
  const config = (signal?: AbortSignal): GeminiRequestConfig => ({
    // attempts: 1 turns off the SDK's retries, should the client have them on: ./retry.ts decides.
    httpOptions: { timeout: settings.timeoutMs, retryOptions: { attempts: 1 } },
    ...(signal ? { abortSignal: signal } : {}),
  });

  return Object.freeze({
    provider: "gemini" as const,
    key,
    settings,
    upload(input: UploadInput): Promise<RemoteFile> {
      refuseOversize(input, settings.maxSize, key);
      return uploadResumable({ http, input, settings, key });
    },
    stat(remoteId: string, signal?: AbortSignal): Promise<RemoteFile | null> {
      return statRemoteFile({ settings, destination: key, signal, what: `read Gemini file ${remoteId}`, goneStatuses: [403, 404] }, async () =>
        geminiRemoteFile(await client.files.get({ name: remoteId, config: config(signal) })),
      );
    },
    delete(remoteId: string, signal?: AbortSignal): Promise<void> {
      return removeRemoteFile({ settings, destination: key, signal, what: `delete Gemini file ${remoteId}`, goneStatuses: [403, 404] }, () =>
        client.files.delete({ name: remoteId, config: config(signal) }),
      );
    },
  });
}

function apiClientOf(client: GeminiFilesClient): GeminiApiClient {
  const api = (client as { apiClient?: Partial<GeminiApiClient> }).apiClient;
  if (!api || typeof api.getBaseUrl !== "function" || typeof api.getHeaders !== "function" || typeof api.getAuthHeaders !== "function") {
    throw invalidArgument("geminiFiles: client must be a GoogleGenAI client from @google/genai (its apiClient gives the base URL and API key uploads are sent with).");
  }
  return api as GeminiApiClient;
}
