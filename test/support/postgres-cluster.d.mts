// Types for postgres-cluster.mjs (a private PostgreSQL cluster on loopback, shared by the tests and the benchmarks).

/** `initdb` and `pg_ctl`, from the same directory. */
export interface PostgresBinaries {
  initdb: string;
  pgCtl: string;
}

/** A running cluster: its database's URL (superuser `postgres`, no password). */
export interface PostgresCluster {
  readonly url: string;
  readonly port: number;
  /** Stops the server (immediate mode) and removes its directory. */
  stop(): Promise<void>;
}

export interface PostgresClusterOptions {
  binaries: PostgresBinaries;
  /** The database created empty at start. @default "attache_test" */
  database?: string;
  /** Server settings (`-c name=value`); PostgreSQL's defaults otherwise. @default {} */
  settings?: Readonly<Record<string, string>>;
  /** @default 300 */
  maxConnections?: number;
}

/** Durability off (fsync, synchronous_commit, full_page_writes): for tests. */
export const NO_DURABILITY_SETTINGS: Readonly<Record<string, string>>;

/** `initdb` and `pg_ctl` on PATH or in /usr/lib/postgresql/<version>/bin (newest first), or null. */
export function findPostgresBinaries(): PostgresBinaries | null;

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort(): Promise<number>;

/** Starts a private cluster on 127.0.0.1 with an empty database, stopped by `stop()` or when the process exits. */
export function startPostgresCluster(options: PostgresClusterOptions): Promise<PostgresCluster>;
