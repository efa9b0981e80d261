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
  const scopesBefore = [await store.metrics({ scope: "a" }), await store.metrics({ scope: "b" })];
  await store.close();
  const db = openSqlite(path.join(dir, "manifest.db"));
  db.exec(`DROP TABLE totals; DROP TABLE scope_totals; DROP TABLE digest_totals;
    DROP TRIGGER attachments_counted_in; DROP TRIGGER attachments_counted_out; DROP TRIGGER attachments_recounted;
    DROP TRIGGER blobs_counted_in; DROP TRIGGER blobs_counted_out; PRAGMA user_version = 1;`);
  db.close();
  const reopened = await openStore({ dir, sweepInterval: false });
  expect(await reopened.metrics()).toEqual(before);
  expect([await reopened.metrics({ scope: "a" }), await reopened.metrics({ scope: "b" })]).toEqual(scopesBefore);
  expect(scopesBefore[1]).toMatchObject({ attachments: 1, logicalBytes: 3, expired: { count: 1, bytes: 3 } });
  expect(before).toMatchObject({ attachments: 2, scopes: 2, blobs: 2, expired: { count: 1, bytes: 3 }, dedupSavedBytes: 3 });
  await reopened.close();
});

/** The per-scope triggers of schema versions 2–4, frozen here so the v4 → v5 test starts from a faithful v4 database. */
const V4_SCOPE_TRIGGERS = `
CREATE TRIGGER attachments_counted_in AFTER INSERT ON attachments BEGIN
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size
    WHERE name = CASE WHEN NEW.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE totals SET count = count + 1 WHERE name = 'scopes'
    AND NOT EXISTS (SELECT 1 FROM scope_totals WHERE scope = NEW.scope);
  INSERT INTO scope_totals (scope, count) VALUES (NEW.scope, 1)
    ON CONFLICT (scope) DO UPDATE SET count = count + 1;
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size WHERE name = 'digests'
    AND NOT EXISTS (SELECT 1 FROM digest_totals WHERE digest = NEW.digest);
  INSERT INTO digest_totals (digest, count, size) VALUES (NEW.digest, 1, NEW.size)
    ON CONFLICT (digest) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER attachments_counted_out AFTER DELETE ON attachments BEGIN
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size
    WHERE name = CASE WHEN OLD.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE scope_totals SET count = count - 1 WHERE scope = OLD.scope;
  UPDATE totals SET count = count - 1 WHERE name = 'scopes'
    AND EXISTS (SELECT 1 FROM scope_totals WHERE scope = OLD.scope AND count <= 0);
  DELETE FROM scope_totals WHERE scope = OLD.scope AND count <= 0;
  UPDATE digest_totals SET count = count - 1 WHERE digest = OLD.digest;
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size WHERE name = 'digests'
    AND EXISTS (SELECT 1 FROM digest_totals WHERE digest = OLD.digest AND count <= 0);
  DELETE FROM digest_totals WHERE digest = OLD.digest AND count <= 0;
END;
CREATE TRIGGER attachments_recounted AFTER UPDATE OF expires_at ON attachments
  WHEN (OLD.expires_at IS NULL) <> (NEW.expires_at IS NULL) BEGIN
  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size
    WHERE name = CASE WHEN OLD.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size
    WHERE name = CASE WHEN NEW.expires_at IS NULL THEN 'persistent' ELSE 'expiring' END;
END;`;

/** Turns a current manifest back into a schema version 4 one: scope_totals(scope, count) and the v4 triggers. */
function downgradeToV4(file: string): void {
  const db = openSqlite(file);
  db.exec(`DROP TRIGGER attachments_counted_in; DROP TRIGGER attachments_counted_out; DROP TRIGGER attachments_recounted;
    DROP INDEX scope_totals_bytes; DROP INDEX attachments_scope_expiry;
    ALTER TABLE scope_totals DROP COLUMN bytes; ALTER TABLE scope_totals DROP COLUMN persistent_count;
    ALTER TABLE scope_totals DROP COLUMN persistent_bytes;
    ${V4_SCOPE_TRIGGERS}
    PRAGMA user_version = 4;`);
  db.close();
}

it("sqlite: a store from schema version 4 gets its per-scope bytes backfilled, and the migration can run twice", async () => {
  const { openStore } = await import("../../src/index.js");
  const dir = tempDir();
  const file = path.join(dir, "manifest.db");
  const store = await openStore({ dir, sweepInterval: false });
  await store.stage(Buffer.from("one"), { scope: "a", persist: true });
  await store.stage(Buffer.from("three"), { scope: "a", ttl: "1h" });
  await store.stage(Buffer.from("one"), { scope: "b" });
  await store.stage(Buffer.from("two"), { scope: "b", ttl: 0 });
  const before = { a: await store.metrics({ scope: "a" }), b: await store.metrics({ scope: "b" }), top: await store.largestScopes() };
  await store.close();
  expect(before.a).toMatchObject({ attachments: 2, logicalBytes: 8, persistent: { count: 1, bytes: 3 } });
  expect(before.b).toMatchObject({ attachments: 1, logicalBytes: 3, expired: { count: 1, bytes: 3 } });

  downgradeToV4(file);
  // A v4 writer: its triggers keep only counts per scope.
  const v4 = openSqlite(file);
  expect(v4.prepare("SELECT scope, count FROM scope_totals ORDER BY scope").all()).toEqual([
    { scope: "a", count: 2 },
    { scope: "b", count: 2 },
  ]);
  v4.close();

  const reopened = await openStore({ dir, sweepInterval: false });
  expect({ a: await reopened.metrics({ scope: "a" }), b: await reopened.metrics({ scope: "b" }), top: await reopened.largestScopes() }).toEqual(before);
  // The new triggers keep the totals from here on.
  await reopened.stage(Buffer.from("four!"), { scope: "b", persist: true });
  await reopened.releaseScope("a");
  const after = { a: await reopened.metrics({ scope: "a" }), b: await reopened.metrics({ scope: "b" }), top: await reopened.largestScopes() };
  expect(after.a).toMatchObject({ attachments: 0, logicalBytes: 0 });
  expect(after.b).toMatchObject({ attachments: 2, logicalBytes: 8, persistent: { count: 1, bytes: 5 }, expired: { count: 1, bytes: 3 } });
  expect(after.top.map((s) => s.scope)).toEqual(["b"]);
  await reopened.close();

  // Running the version 5 step again over a version 5 database changes nothing.
  const db = openSqlite(file);
  const totals = () => db.prepare("SELECT * FROM scope_totals ORDER BY scope").all();
  const migrated = totals();
  db.exec("PRAGMA user_version = 4");
  const again = await openStore({ dir, sweepInterval: false });
  expect({ a: await again.metrics({ scope: "a" }), b: await again.metrics({ scope: "b" }), top: await again.largestScopes() }).toEqual(after);
  await again.close();
  expect(totals()).toEqual(migrated);
  expect(db.prepare("PRAGMA user_version").get()).toEqual({ user_version: 5 });
  db.close();
});
