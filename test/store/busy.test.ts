/** Another process holding the manifest's write lock: waits are asynchronous and bounded. */
import path from "node:path";
import { expect, it } from "vitest";
import { embeddedHarness, onCleanup } from "../support/fixtures.js";
import { openSqlite } from "../support/sqlite.js";

function lockManifest(dir: string): () => void {
  const other = openSqlite(path.join(dir, "manifest.db"));
  other.exec("BEGIN EXCLUSIVE");
  const unlock = () => {
    if (other.inTransaction) other.exec("ROLLBACK");
    if (other.open) other.close();
  };
  onCleanup(unlock);
  return unlock;
}

function countTicks(): () => number {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  onCleanup(() => clearInterval(timer));
  return () => ticks;
}

it("waits for a lock held elsewhere without blocking the event loop", async () => {
  const harness = embeddedHarness();
  const store = await harness.open();
  const unlock = lockManifest(harness.dir);
  const ticks = countTicks();
  setTimeout(unlock, 300);
  const a = await store.stage(Buffer.from("waited"));
  expect(ticks()).toBeGreaterThan(10);
  expect((await store.read(a.ref)).toString()).toBe("waited");
});

it("gives up after busyTimeout with IO_ERROR, leaving nothing behind", async () => {
  const harness = embeddedHarness();
  const store = await harness.open({ busyTimeout: "200ms" });
  const unlock = lockManifest(harness.dir);
  const ticks = countTicks();
  const started = Date.now();
  const err = await store.stage(Buffer.from("refused")).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: "IO_ERROR" });
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(ticks()).toBeGreaterThan(5);
  unlock();
  await store.sweep();
  expect((await store.metrics()).blobs).toBe(0);
  expect(await store.list({ includeExpired: true })).toEqual([]);
});
