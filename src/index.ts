/**
 * attache: a content-addressed, crash-safe store for the files AI agents
 * work with. Start with {@link openStore}.
 */
export { openStore } from "./store.js";
export type { Durability, StoreOptions } from "./options.js";
export { AttacheError, isAttacheError } from "./errors.js";
export type { AttacheErrorCode, AttacheErrorContext } from "./errors.js";
export { parseDuration } from "./duration.js";
export type { Duration } from "./duration.js";
export type { ResolvedAddress, UrlFetchOptions, UrlFetchTimeouts, UrlResolver } from "./url/fetch-options.js";
export type {
  Attachment,
  CountAndBytes,
  Lease,
  LeaseOptions,
  LargestScopesOptions,
  ListOptions,
  Metrics,
  ScopedStore,
  ScopeMetrics,
  StageMode,
  StageOptions,
  StageProgress,
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
export type { BlobStore, BlobWriter, LocalBlobFiles, StoredObject, TempObject } from "./backends/blob-store.js";
export { tempNameFor, writerOfTemp } from "./backends/blob-store.js";
export { filesystemBlobStore, type FilesystemBlobStoreOptions } from "./backends/filesystem/blob-store.js";
export { memoryBlobStore, type MemoryBlobStoreOptions } from "./backends/memory/blob-store.js";
export type {
  AttachmentRecord,
  AttachmentTable,
  BlobRecord,
  BlobTable,
  CommitResult,
  CondemnedBlob,
  PinTable,
  RemoteEntry,
  UploadClaim,
  UploadLedger,
  UploadRow,
  WriterRecord,
  IntentRecord,
  LeaseRecord,
  ListQuery,
  Manifest,
  ManifestMetrics,
  ManifestScopeMetrics,
  StagedAttachment,
} from "./backends/manifest.js";
export { sqliteManifest, type SqliteManifestOptions } from "./backends/sqlite/manifest.js";
export { memoryManifest } from "./backends/memory/manifest.js";
export { nodeFileSystem, type FileSystem } from "./fs-seam.js";
export { parseByteSize, type ByteSize } from "./cache/byte-size.js";
export type { RenderLimits, RenderTarget, RenderVia } from "./deliver/types.js";
export type { Destination, DestinationSettings, Provider, RemoteFile, RetryPolicy, UploadInput } from "./providers/destination.js";
export { uploadCounters, type UploadCounters } from "./deliver/upload-stats.js";
