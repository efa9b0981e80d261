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
  TemporaryAttachment,
  UpdateOptions,
  VerifyOptions,
  VerifyReport,
} from "./types.js";
export type { BlobStore, BlobWriter, StoredObject, TempObject } from "./blobs/types.js";
export { filesystemBlobStore, type FilesystemBlobStoreOptions } from "./blobs/filesystem.js";
export { memoryBlobStore, type MemoryBlobStoreOptions } from "./blobs/memory.js";
export type {
  AttachmentRecord,
  BlobRecord,
  BlobRepair,
  CommitResult,
  IntentRecord,
  LeaseRecord,
  ListQuery,
  Manifest,
  ManifestMetrics,
  ManifestScopeMetrics,
  StagedAttachment,
} from "./manifest/types.js";
export { sqliteManifest, type SqliteManifestOptions } from "./manifest/sqlite.js";
export { memoryManifest } from "./manifest/memory.js";
export { nodeFileSystem, type FileSystem } from "./fs-seam.js";
