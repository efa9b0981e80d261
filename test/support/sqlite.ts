import Database from "better-sqlite3";

const keptAlive: unknown[] = [];

/**
 * A raw better-sqlite3 connection for tests that inspect or tamper with a
 * manifest. The connection and every statement it prepares stay reachable for
 * the life of the test process: better-sqlite3 12 on Node 24 can abort the
 * process when the garbage collector finalises them (see
 * src/backends/sqlite/connection.ts).
 */
export function openSqlite(file: string, options?: Database.Options): Database.Database {
  const db = new Database(file, options);
  keptAlive.push(db);
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    const statement = prepare(sql);
    keptAlive.push(statement);
    return statement;
  }) as Database.Database["prepare"];
  return db;
}
