import path from "node:path";
import type { BlobStore } from "./backends/blob-store.js";
import { parseDuration, type Duration } from "./duration.js";
import { parseByteSize, type ByteSize } from "./cache/byte-size.js";
import { invalidArgument } from "./errors.js";
import type { Destination } from "./providers/destination.js";
import type { FileSystem } from "./fs-seam.js";
import type { Manifest } from "./backends/manifest.js";
import { parseTtl } from "./stage-options.js";

/** Options of {@link openStore}. Every one is optional. */
export interface StoreOptions {
  /**
   * The store's directory; created (private to its owner) if missing.
   * @default process.env.ATTACHE_DIR ?? "./.attache"
   */
  dir?: string;
  /** Lifetime of an attachment staged without `ttl` or `persist`. @default "24h" */
  defaultTtl?: Duration;
  /**
   * How often the background sweeper runs; `false` or `Infinity` = never.
   * The timer never keeps the process alive. @default "1m"
   */
  sweepInterval?: Duration | false;
  /** How old an orphan (temp file, unfinished intent, stale lease) must be before the sweep reclaims it. @default "15m" */
  gracePeriod?: Duration;
  /** Largest attachment accepted, in bytes. @default Infinity */
  maxSize?: number;
  /** Epoch milliseconds; for tests. @default Date.now */
  clock?: () => number;
  /**
   * What a stage that returned survives, for the embedded backends:
   * - `"normal"`: any process crash (kill -9) at any instant. Blob bytes are
   *   fsynced before they are renamed into place, so after a power loss no
   *   attachment points at unflushed bytes, but the last few stages may roll
   *   back (SQLite WAL, synchronous=NORMAL).
   * - `"full"`: also a power loss or kernel crash: the manifest fsyncs every
   *   commit too (synchronous=FULL).
   * - `"none"`: any process crash, not a power loss (no fsync at all; a blob
   *   damaged by a power loss is caught by `read` and `verify`). The fastest.
   * @default "normal"
   */
  durability?: Durability;
  /**
   * How long a write waits for another process's lock on the manifest
   * before failing with IO_ERROR. The wait is asynchronous: the event loop
   * keeps running. @default "10s"
   */
  busyTimeout?: Duration;
  /**
   * Where the bytes live. @default the filesystem under `dir` (`filesystemBlobStore`)
   */
  blobStore?: BlobStore;
  /**
   * Where attachments, blobs, leases and intents are recorded.
   * @default SQLite at `<dir>/manifest.db` (`sqliteManifest`)
   */
  manifest?: Manifest;
  /**
   * Where verified local copies of blobs are kept when they are not local
   * files already — blobs of a store without local files (the memory store,
   * S3) and inline blobs (`inlineMaxSize`): `resolve()` and `lease()` fetch
   * into it, the staging host writes through to it (remote blobs). Copies are
   * read-only, kept while leased, evicted least-recently-used past
   * `cacheSize`; several processes on one host may share it.
   * @default `<dir>/cache`
   */
  cacheDir?: string;
  /**
   * Destinations (from `openaiFiles`, `anthropicFiles`, `geminiFiles`) whose
   * remote files the sweep deletes once no live attachment uses their bytes,
   * when made with `deleteWhenUnused: true`. Destinations that `upload()` has
   * used in this process are known too. @default []
   */
  destinations?: readonly Destination[];
  /** How much the local cache may hold: bytes, or a string such as `"10GiB"` or `"500MB"`. @default "1GiB" */
  cacheSize?: ByteSize;
  /**
   * Blobs of at most this many bytes are kept inside the manifest, committed
   * in the same transaction as their attachment: no temp file, no fsync of
   * their own, no directory, no rename. Their `Attachment.path` is `null`
   * until `resolve()` or `lease()` writes a read-only copy into the local
   * cache (`cacheDir`). `0` keeps every blob in the blob store; so does a
   * manifest that cannot hold bytes. At most 16 MiB.
   * @default `$ATTACHE_INLINE_MAX_SIZE` or `"64KiB"`
   */
  inlineMaxSize?: ByteSize;
  /**
   * The filesystem calls the default blob store makes; a seam for fault
   * injection in tests. @default node:fs/promises
   */
  fileSystem?: FileSystem;
}

/** {@link StoreOptions} with every default applied and every duration parsed. */
export type Durability = "full" | "normal" | "none";
const DURABILITIES: readonly Durability[] = ["full", "normal", "none"];

export interface ResolvedOptions {
  readonly dir: string;
  readonly defaultTtlMs: number;
  readonly sweepIntervalMs: number | null;
  readonly gracePeriodMs: number;
  readonly maxSize: number;
  readonly clock: () => number;
  readonly durability: Durability;
  readonly busyTimeoutMs: number;
  readonly blobStore: BlobStore | undefined;
  readonly manifest: Manifest | undefined;
  readonly fileSystem: FileSystem | undefined;
  readonly cacheDir: string | undefined;
  readonly cacheSize: number;
  readonly inlineMaxSize: number;
  readonly destinations: readonly Destination[];
}

/**
 * `durability` and `busyTimeout` are shorthand for the embedded backends'
 * own options. Given with injected backends that they cannot reach, they
 * would be silently ignored: refuse them instead, and say where they go.
 * (`fileSystem` also serves the store itself — path sources, named paths —
 * so it is accepted with any backend.)
 */
function refuseOptionsNoBackendTakes(options: StoreOptions): void {
  if (options.busyTimeout !== undefined && options.manifest !== undefined) {
    throw invalidArgument("busyTimeout configures the default SQLite manifest; with an injected manifest, give its own option (sqliteManifest({ busyTimeoutMs })).");
  }
  if (options.durability !== undefined && options.manifest !== undefined && options.blobStore !== undefined) {
    throw invalidArgument(
      "durability configures the default backends; with an injected manifest and blob store, give their own options (sqliteManifest({ synchronous }), filesystemBlobStore({ fsync })).",
    );
  }
}

export function resolveOptions(options: StoreOptions = {}): ResolvedOptions {
  if (typeof options !== "object" || options === null) {
    throw invalidArgument("openStore() takes an options object, such as { dir: \".attache\" }.");
  }
  const dir = options.dir ?? process.env.ATTACHE_DIR ?? ".attache";
  if (typeof dir !== "string" || dir.trim() === "" || dir.includes("\0")) {
    throw invalidArgument(`dir must be a directory path; got ${JSON.stringify(options.dir)}.`);
  }
  const sweep = options.sweepInterval ?? "1m";
  const sweepIntervalMs = sweep === false ? Infinity : parseDuration(sweep, "sweepInterval");
  const maxSize = options.maxSize ?? Infinity;
  if (typeof maxSize !== "number" || Number.isNaN(maxSize) || maxSize < 0) {
    throw invalidArgument(`maxSize must be a non-negative number of bytes; got ${String(options.maxSize)}.`);
  }
  const clock = options.clock ?? Date.now;
  if (typeof clock !== "function") throw invalidArgument("clock must be a function returning epoch milliseconds.");
  const durability = options.durability ?? "normal";
  if (!DURABILITIES.includes(durability)) {
    throw invalidArgument(`durability must be "full", "normal" or "none"; got ${JSON.stringify(options.durability)}.`);
  }
  refuseOptionsNoBackendTakes(options);
  return Object.freeze({
    dir: path.resolve(dir),
    defaultTtlMs: parseTtl(options.defaultTtl ?? "24h", "defaultTtl"),
    sweepIntervalMs: sweepIntervalMs === Infinity || sweepIntervalMs === 0 ? null : sweepIntervalMs,
    gracePeriodMs: parseDuration(options.gracePeriod ?? "15m", "gracePeriod"),
    maxSize,
    clock,
    durability,
    busyTimeoutMs: parseDuration(options.busyTimeout ?? "10s", "busyTimeout"),
    blobStore: options.blobStore,
    manifest: options.manifest,
    fileSystem: options.fileSystem,
    cacheDir: resolveCacheDir(options.cacheDir),
    cacheSize: parseByteSize(options.cacheSize ?? "1GiB", "cacheSize"),
    inlineMaxSize: resolveInlineMaxSize(options.inlineMaxSize ?? process.env.ATTACHE_INLINE_MAX_SIZE),
    destinations: resolveDestinations(options.destinations),
  });
}

function resolveDestinations(destinations: unknown): readonly Destination[] {
  if (destinations === undefined) return [];
  if (!Array.isArray(destinations)) throw invalidArgument("destinations must be an array of destinations, such as [openaiFiles({ client, deleteWhenUnused: true })].");
  return Object.freeze([...(destinations as Destination[])]);
}

/** The largest inline blob: a stage holds up to this many bytes in memory before it commits them. */
const INLINE_CEILING = 16 << 20;

function resolveInlineMaxSize(value: ByteSize | undefined): number {
  const size = parseByteSize(value === undefined || value === "" ? "64KiB" : value, "inlineMaxSize");
  if (size > INLINE_CEILING) {
    throw invalidArgument(`inlineMaxSize is at most 16MiB (bytes kept in the manifest are read whole into memory); got ${String(value)}.`);
  }
  return size;
}

function resolveCacheDir(cacheDir: unknown): string | undefined {
  if (cacheDir === undefined) return undefined;
  if (typeof cacheDir !== "string" || cacheDir.trim() === "" || cacheDir.includes("\0")) {
    throw invalidArgument(`cacheDir must be a directory path; got ${JSON.stringify(cacheDir)}.`);
  }
  return path.resolve(cacheDir);
}
