/**
 * A destination is a provider's Files API seen by the store: it uploads one
 * blob's bytes (resuming an earlier attempt when it can), reads a remote
 * file's metadata and deletes it. The store owns the ledger, the lease and
 * the hashing; a destination owns the wire protocol and its retries.
 *
 * One factory per provider builds one: `openaiFiles` (./openai.ts),
 * `anthropicFiles` (./anthropic.ts), `geminiFiles` (./gemini.ts).
 */
import type { Readable } from "node:stream";

/** The providers attache can upload to. */
export type Provider = "openai" | "anthropic" | "gemini";

/** How failed requests are retried (all durations in milliseconds). */
export interface RetryPolicy {
  /** Retries after the first attempt: `retries: 5` means at most 6 attempts. */
  retries: number;
  /** The backoff ceiling of the first retry; it doubles with each retry. */
  minDelayMs: number;
  /** The largest wait between two attempts, and the longest `Retry-After` honoured. */
  maxDelayMs: number;
}

/** A destination's options, resolved: defaults applied, durations in milliseconds. */
export interface DestinationSettings {
  /**
   * The part size in bytes. A file larger than it goes in
   * ceil(size / chunkSize) parts (OpenAI Uploads API, Gemini resumable
   * chunks); a file this size or smaller in one request.
   */
  chunkSize: number;
  /** Parts in flight at once (OpenAI; Gemini's protocol is sequential). */
  concurrency: number;
  /** How failed requests are retried. */
  retry: RetryPolicy;
  /** The longest one request may take, in milliseconds; a request that takes longer is aborted and retried. */
  timeoutMs: number;
  /** A ledger hit that expires within this many milliseconds is uploaded again instead of reused. */
  minRemainingMs: number;
  /** The largest file this destination takes, in bytes; larger fails with `TOO_LARGE` before any request. */
  maxSize: number;
  /** Whether the sweep deletes the remote file once no live attachment uses its digest. */
  deleteWhenUnused: boolean;
}

/** A provider's Files API, as the store uses it. */
export interface Destination {
  readonly provider: Provider;
  /**
   * Ledger key: `${provider}:${hash}` where hash = one-way hash (sha256,
   * truncated hex) of base URL + credential + every option that changes
   * what the remote file may be used for (OpenAI purpose). Never contains
   * the credential.
   */
  readonly key: string;
  readonly settings: DestinationSettings;
  /** Uploads (or resumes) one blob. Returns the remote file. */
  upload(input: UploadInput): Promise<RemoteFile>;
  /** Metadata of a remote file; null when the provider answers 404 or 403 (gone). */
  stat(remoteId: string, signal?: AbortSignal): Promise<RemoteFile | null>;
  /** Deletes a remote file; a 404 counts as deleted (and for Gemini, which answers 403 for a file that is gone, a 403). */
  delete(remoteId: string, signal?: AbortSignal): Promise<void>;
}

/** A file held by a provider. */
export interface RemoteFile {
  /** The provider's id: `file-…` (OpenAI), `file_…` (Anthropic), `files/…` (Gemini). */
  remoteId: string;
  /** When the provider deletes the file, in epoch milliseconds; null when it keeps it until deleted. */
  expiresAt: number | null;
  /** Gemini only: the `fileData.fileUri` a request refers to the file by. */
  uri?: string;
}

/** One blob to upload, and the store's side of the exchange. */
export interface UploadInput {
  /** The display name: the remote filename. */
  name: string;
  /** The declared content type. */
  contentType: string;
  /** The size in bytes. */
  size: number;
  /** Hex sha256 of the bytes. */
  digest: string;
  /**
   * A fresh stream of bytes [start, end) for every attempt. The stream of a
   * range ending at `size` errors (AttacheError INTEGRITY_ERROR) instead of
   * ending when the bytes read do not hash to the digest, so a
   * single-request upload is never completed with bad bytes.
   */
  openRange(start: number, end: number): Promise<NodeJS.ReadableStream | Readable>;
  /**
   * Must be awaited after every byte was read and before the request that
   * completes the file remotely (OpenAI uploads.complete; Gemini's
   * `upload, finalize` chunk: read the last chunk, await beforeComplete,
   * then send). Throws INTEGRITY_ERROR for bad bytes.
   */
  beforeComplete(): Promise<void>;
  /** Opaque JSON the destination wrote with onCheckpoint in an earlier attempt (maybe another process that crashed), or null. */
  resume: unknown | null;
  /** Persist resume state (OpenAI: upload id + part ids done by index; Gemini: session URL + offset). Awaited. */
  onCheckpoint(state: unknown): Promise<void>;
  /**
   * Bytes of this file the provider has so far, resumed parts included;
   * never decreases (a part sent again after a failure is not counted twice).
   */
  onProgress?(bytesSent: number): void;
  /** Called before each retry of a failed request (for telemetry: the retries counter). */
  onRetry?(notice: RetryNotice): void;
  /** Aborts the upload: requests in flight are cancelled, no new one starts, and upload() rejects with `ABORTED`. */
  signal?: AbortSignal;
}

/** A retry about to happen. */
export interface RetryNotice {
  /** The attempt that failed, from 0. */
  attempt: number;
  /** The wait before the next attempt, in milliseconds. */
  delayMs: number;
  /** The provider's status, when it answered. */
  status?: number;
  /** What failed. */
  error: unknown;
}
