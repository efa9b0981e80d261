// A logical dump of an SQLite manifest: every row of every table, as
// canonical JSON strings, sorted. Two dumps are equal exactly when the two
// databases hold the same rows. Shared by the group-commit crash worker
// (which dumps the committed state at the instant it kills itself) and its
// test (which dumps what survived the kill): a plain .mjs, so a worker can
// import it without a TypeScript runner.
import { createHash } from "node:crypto";

/** Statements stay reachable: better-sqlite3 12 on Node 24 can abort when the collector finalises one (src/backends/sqlite/connection.ts). */
const keptAlive = [];

function prepare(db, sql) {
  const statement = db.prepare(sql);
  keptAlive.push(statement);
  return statement;
}

/** One column value as JSON can hold it: bytes by their SHA-256 (inline blobs are up to 64 KiB each). */
function canonical(value) {
  if (Buffer.isBuffer(value)) return `bytes:${value.length}:${createHash("sha256").update(value).digest("hex")}`;
  if (typeof value === "bigint") return `bigint:${value}`;
  return value;
}

/**
 * Every table (SQLite's own `sqlite_*` tables aside) → its rows as sorted JSON
 * strings, columns in name order. Reads in one transaction when the
 * connection is not in one already (a worker dumps from inside a batch too).
 */
export function dumpManifest(db) {
  const read = () => {
    const tables = prepare(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all();
    const dump = {};
    for (const { name } of tables) {
      const rows = prepare(db, `SELECT * FROM "${name}"`).all();
      dump[name] = rows
        .map((row) => JSON.stringify(Object.fromEntries(Object.keys(row).sort().map((column) => [column, canonical(row[column])]))))
        .sort();
    }
    return dump;
  };
  return db.inTransaction ? read() : db.transaction(read)();
}

/** Rows of `after` missing from `before` (added) and rows of `before` missing from `after` (removed), by table. */
export function diffDumps(before, after) {
  const added = {};
  const removed = {};
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = new Set(before[table] ?? []);
    const a = new Set(after[table] ?? []);
    const plus = [...a].filter((row) => !b.has(row));
    const minus = [...b].filter((row) => !a.has(row));
    if (plus.length > 0) added[table] = plus;
    if (minus.length > 0) removed[table] = minus;
  }
  return { added, removed };
}

/** Number of rows in a dump or a diff side. */
export function countRows(dump) {
  return Object.values(dump).reduce((n, rows) => n + rows.length, 0);
}
