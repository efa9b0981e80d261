import path from "node:path";
import { expect, it } from "vitest";
import { memoryManifest, sqliteManifest } from "../../src/index.js";
import { describeManifest } from "../conformance/manifest-suite.js";
import { onCleanup, tempDir } from "../support/fixtures.js";
import { openSqlite } from "../support/sqlite.js";

describeManifest("sqlite", async () => {
  const manifest = sqliteManifest({ file: path.join(tempDir(), "manifest.db") });
  await manifest.open();
  onCleanup(() => manifest.close());
  return manifest;
});

describeManifest("memory", async () => {
  const manifest = memoryManifest();
  await manifest.open();
  return manifest;
});

it("sqlite: two manifests on one file in one process share a connection instead of deadlocking", async () => {
  const file = path.join(tempDir(), "manifest.db");
  const first = sqliteManifest({ file });
  const second = sqliteManifest({ file });
  await first.open();
  await second.open();
  await first.beginStage({ id: "i1", digest: "a".repeat(64), tempName: null, createdAt: 1 }, 1);
  await first.beginStage({ id: "gone", digest: "b".repeat(64), tempName: null, createdAt: 1 }, 1);
  await first.abandonStage("gone");
  let release: (() => void) | undefined;
  const held = first.deleteBlobIfUnneeded("b".repeat(64), 1, () => new Promise<void>((r) => (release = r)));
  let queuedDone = false;
  const queued = second
    .beginStage({ id: "i2", digest: "b".repeat(64), tempName: null, createdAt: 1 }, 1)
    .then(() => (queuedDone = true));
  await new Promise((r) => setTimeout(r, 20));
  expect(release).toBeDefined();
  expect(queuedDone).toBe(false);
  release?.();
  expect(await held).toMatchObject({ digest: "b".repeat(64) });
  await queued;
  expect(await second.getBlob("b".repeat(64))).toMatchObject({ refs: 0 });
  expect((await first.staleIntents(1, 10)).map((i) => i.id).sort()).toEqual(["i1", "i2"]);
  await first.close();
  expect((await second.staleIntents(1, 10)).length).toBe(2);
  await second.close();
});

it("sqlite: a store from schema version 1 gets its running totals backfilled", async () => {
  const { openStore } = await import("../../src/index.js");
  const dir = tempDir();
  const store = await openStore({ dir, sweepInterval: false });
  await store.stage(Buffer.from("one"), { scope: "a", persist: true });
  await store.stage(Buffer.from("one"), { scope: "b" });
  await store.stage(Buffer.from("two"), { scope: "b", ttl: 0 });
  const before = await store.metrics();
  await store.close();
  const db = openSqlite(path.join(dir, "manifest.db"));
  db.exec(`DROP TABLE totals; DROP TABLE scope_totals; DROP TABLE digest_totals;
    DROP TRIGGER attachments_counted_in; DROP TRIGGER attachments_counted_out; DROP TRIGGER attachments_recounted;
    DROP TRIGGER blobs_counted_in; DROP TRIGGER blobs_counted_out; PRAGMA user_version = 1;`);
  db.close();
  const reopened = await openStore({ dir, sweepInterval: false });
  expect(await reopened.metrics()).toEqual(before);
  expect(before).toMatchObject({ attachments: 2, scopes: 2, blobs: 2, expired: { count: 1, bytes: 3 }, dedupSavedBytes: 3 });
  await reopened.close();
});
