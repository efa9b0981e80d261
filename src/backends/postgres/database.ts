/**
 * What the PostgreSQL manifest's rooms share: the pool, one way to run a
 * call (a transaction, or one statement on its own), and the conversion of
 * attachment rows.
 *
 * Every manifest call checks out one connection, runs its statements, and
 * gives the connection back: nothing else (no blob store, no provider, no
 * timer) runs while a transaction is open, so row locks are held for a few
 * round trips to the database only. Transactions run at READ COMMITTED
 * (set explicitly: the rooms' reasoning relies on a statement that waited for
 * a row lock seeing the row as it was committed) with a lock timeout, and
 * are run again when PostgreSQL rolls one back for a deadlock or a
 * serialization failure (safe: nothing of it was kept).
 */
import pg from "pg";
import type { Pool, PoolClient, QueryResultRow } from "pg";
import { ioError } from "../../errors.js";
import type { StageMode } from "../../types.js";
import type { AttachmentRecord, BlobRecord } from "../manifest.js";
import { blobWithInlineFlag, withInlineFlag } from "../merge.js";
import { endsConnection, mayRunAgain, postgresFailure } from "./failures.js";
import type { Statements } from "./sql.js";

const INT8_OID = 20;
const NUMERIC_OID = 1700;
/**
 * Per-query type parsers: `bigint` (epoch milliseconds, byte counts, COUNT)
 * and `numeric` (SUM) as JS numbers, which they fit (all stay far below
 * 2^53), leaving pg's global parsers, which the application may rely on,
 * as they are.
 */
const TYPES = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID || oid === NUMERIC_OID ? Number : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

/** Transactions PostgreSQL rolled back for a deadlock or serialization failure are run again up to this many times in all. */
const MAX_ATTEMPTS = 8;

/** One checked-out connection, as a call's body uses it. */
export class Session {
  /** Set by {@link rollbackInstead}: the transaction ends in a ROLLBACK, whatever the body returns. */
  rolledBack = false;

  constructor(private readonly client: PoolClient) {}

  /**
   * Ends this call's transaction with a ROLLBACK instead of a COMMIT: a body
   * that finds, after writing, that it must not keep what it wrote returns
   * its answer and keeps nothing.
   */
  rollbackInstead(): void {
    this.rolledBack = true;
  }

  async rows<R>(text: string, values: readonly unknown[] = []): Promise<R[]> {
    const result = await this.client.query<QueryResultRow>({ text, values: values as unknown[], types: TYPES });
    return result.rows as R[];
  }

  async row<R>(text: string, values: readonly unknown[] = []): Promise<R | undefined> {
    return (await this.rows<R>(text, values))[0];
  }

  /** Runs a statement; returns how many rows it changed. */
  async run(text: string, values: readonly unknown[] = []): Promise<number> {
    const result = await this.client.query({ text, values: values as unknown[] });
    return result.rowCount ?? 0;
  }
}

type Isolation = "write" | "statement" | "snapshot";

const BEGIN: Record<Exclude<Isolation, "statement">, string> = {
  write: "BEGIN ISOLATION LEVEL READ COMMITTED",
  // Several reads that must agree with each other (the integrity check).
  snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
};

/** The pool as the rooms use it; set while the manifest is open. */
export class PostgresDatabase {
  pool: Pool | undefined;

  constructor(
    readonly sql: Statements,
    /** How long a transaction's statement waits for a row lock before failing (retryably). */
    private readonly lockTimeoutMs: number,
  ) {}

  private get open(): Pool {
    if (this.pool === undefined) throw ioError("use the manifest", new Error("the PostgreSQL manifest is not open"));
    return this.pool;
  }

  /** One write transaction (READ COMMITTED): all of `fn` is kept, or none of it. */
  transaction<T>(what: string, fn: (session: Session) => Promise<T>): Promise<T> {
    return this.call(what, "write", fn);
  }

  /** One statement (or reads that need not agree), each committed on its own. */
  statement<T>(what: string, fn: (session: Session) => Promise<T>): Promise<T> {
    return this.call(what, "statement", fn);
  }

  /** Reads that see one snapshot of the database. */
  snapshot<T>(what: string, fn: (session: Session) => Promise<T>): Promise<T> {
    return this.call(what, "snapshot", fn);
  }

  private async call<T>(what: string, isolation: Isolation, fn: (session: Session) => Promise<T>): Promise<T> {
    let staleConnections = 0;
    for (let attempt = 1; ; attempt++) {
      let client: PoolClient;
      try {
        client = await this.open.connect();
      } catch (err) {
        // No connection: the server is down, unreachable or out of connections (or refuses us, which is not transient).
        throw postgresFailure(what, err, sqlStateless(err));
      }
      let lost = false;
      const onLost = () => {
        lost = true;
      };
      // A server that ends the connection (pg_terminate_backend, a restart) makes the client emit 'error': listened
      // for here, or it would be an uncaught exception.
      client.on("error", onLost);
      client.on("end", onLost);
      let broken: Error | undefined;
      let begun = isolation === "statement";
      try {
        if (!begun) {
          await client.query(isolation === "write" ? `${BEGIN.write}; SET LOCAL lock_timeout = ${this.lockTimeoutMs}` : BEGIN.snapshot);
          begun = true;
        }
        const session = new Session(client);
        const result = await fn(session);
        if (isolation !== "statement") await client.query(session.rolledBack ? "ROLLBACK" : "COMMIT");
        return result;
      } catch (err) {
        const gone = lost || endsConnection(err) || neverSent(err);
        if (isolation !== "statement" && !gone) {
          await client.query("ROLLBACK").catch(() => {
            lost = true;
          });
        }
        if (gone || lost) broken = err instanceof Error ? err : new Error(String(err));
        // A pooled connection that was already dead (the server restarted, or ended it while idle) failed before the
        // call did anything: once, take another. Past that point the call's outcome is the caller's to judge.
        if ((gone || lost) && (!begun || neverSent(err)) && staleConnections++ === 0) continue;
        if (!gone && !lost && mayRunAgain(err) && attempt < MAX_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, (1 << attempt) * (1 + Math.random())));
          continue;
        }
        throw postgresFailure(what, err, gone || lost);
      } finally {
        client.off("error", onLost);
        client.off("end", onLost);
        // A connection that failed is destroyed rather than pooled again.
        client.release(broken ?? (lost ? true : undefined));
      }
    }
  }
}

/** pg's answer for a query on a client whose connection had already failed: the query was never sent. */
function neverSent(err: unknown): boolean {
  return err instanceof Error && err.message === "Client has encountered a connection error and is not queryable";
}

/** pg's connect failures without a SQLSTATE are the network's or the pool's timeout: transient. */
function sqlStateless(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code);
}

/** A LIMIT parameter: null for none (an unbounded page). */
export const limitOf = (limit: number): number | null => (Number.isFinite(limit) ? limit : null);

/**
 * An attachment row as the statements select it (see `attachmentColumns` in sql.ts): metadata is JSON text, and
 * `inline` is its blob row's flag (null when there is no row: a reference).
 */
export type AttachmentRow = Omit<AttachmentRecord, "metadata" | "mode" | "inline"> & { mode: string; metadata: string; inline: boolean | null };

/** An attachment row as a record: `inline: true` only for a managed blob whose bytes are inline, no key otherwise (as SQLite's). */
export function toRecord(row: AttachmentRow): AttachmentRecord {
  const { inline, ...rest } = row;
  return withInlineFlag({ ...rest, mode: row.mode as StageMode, metadata: JSON.parse(row.metadata) as Record<string, unknown> }, inline === true);
}

/** A blob row as the statements select it: `inline` is a boolean. */
export type BlobRow = Omit<BlobRecord, "inline"> & { inline: boolean };

/** A blob row as a record: `inline: true` only when it is, no key otherwise (as SQLite's). */
export function toBlob(row: BlobRow): BlobRecord;
export function toBlob(row: BlobRow | undefined): BlobRecord | undefined;
export function toBlob(row: BlobRow | undefined): BlobRecord | undefined {
  return row === undefined ? undefined : blobWithInlineFlag(row, row.inline);
}

/** The parameters of an attachment row, in the order of `ATTACHMENT_FIELDS`. */
export function attachmentValues(record: AttachmentRecord): unknown[] {
  return [
    record.id, record.scope, record.digest, record.size, record.name, record.contentType, record.mode, record.referencePath,
    record.persist, record.ttlMs, record.createdAt, record.updatedAt, record.expiresAt, record.source, JSON.stringify(record.metadata),
  ];
}
