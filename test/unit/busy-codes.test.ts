/**
 * Which SQLite answers mean "try again later": the extended codes too. The
 * kill -9 harness met SQLITE_BUSY_RECOVERY (a process opening the store while
 * another recovers the WAL of a killed one) once the connection stopped
 * sleeping in SQLite's own busy handler; it must be waited out, not reported.
 */
import { expect, it } from "vitest";
import { isBusy, retryWhileBusy } from "../../src/backends/sqlite/connection.js";

const sqliteError = (code: string) => Object.assign(new Error(code), { code });

it("counts SQLITE_BUSY, SQLITE_LOCKED and their extended codes as busy, nothing else", () => {
  for (const code of ["SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_RECOVERY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_TIMEOUT", "SQLITE_LOCKED_SHAREDCACHE"]) {
    expect(isBusy(sqliteError(code)), code).toBe(true);
  }
  for (const code of ["SQLITE_FULL", "SQLITE_CORRUPT", "SQLITE_BUSYNESS", "ENOENT"]) expect(isBusy(sqliteError(code)), code).toBe(false);
  expect(isBusy(null)).toBe(false);
  expect(isBusy(new Error("no code"))).toBe(false);
});

it("waits out SQLITE_BUSY_RECOVERY asynchronously", async () => {
  let calls = 0;
  const value = await retryWhileBusy(2_000, () => {
    if (++calls < 3) throw sqliteError("SQLITE_BUSY_RECOVERY");
    return "opened";
  });
  expect(value).toBe("opened");
  expect(calls).toBe(3);
});
