import path from "node:path";
import { expect, it } from "vitest";
import { memoryManifest, sqliteManifest, type Manifest } from "../../src/index.js";
import { SCHEMA_VERSION } from "../../src/backends/sqlite/schema.js";
import { describeManifest } from "../../src/testing/index.js";
import { tempDir } from "../support/fixtures.js";
import { openSqlite } from "../support/sqlite.js";

/** An opened SQLite manifest on `file`. */
async function openedSqlite(file: string): Promise<Manifest> {
  const manifest = sqliteManifest({ file });
  await manifest.open();
  return manifest;
}

describeManifest("sqlite", {
  async open() {
    const file = path.join(tempDir(), "manifest.db");
    return { first: await openedSqlite(file), second: () => openedSqlite(file) };
  },
});

describeManifest("memory", {
  async open() {
    // One instance is the shared state: a second handle is the same object.
    const manifest = memoryManifest();
    await manifest.open();
    return { first: manifest, second: async () => manifest };
  },
});

it("sqlite: two manifests on one file in one process share a connection, and each sees the other's commits", async () => {
  const file = path.join(tempDir(), "manifest.db");
  const first = await openedSqlite(file);
  const second = await openedSqlite(file);
  const digest = "b".repeat(64);
  const deleter = "01m7yjjjy8000000000000000a";
  await first.pins.beginStage({ id: "gone", digest, tempName: null, createdAt: 1 }, 1);
  await first.pins.dropIntent("gone");
  expect(await first.blobs.condemn([digest], 1, deleter)).toHaveLength(1);
  expect(await second.pins.beginStage({ id: "i2", digest, tempName: null, createdAt: 1 }, 1)).toBe("condemned");
  expect(await first.blobs.forget([digest], deleter, 1)).toEqual([]);
  expect(await second.blobs.get(digest)).toMatchObject({ refs: 0, condemnedBy: null });
  await first.pins.beginStage({ id: "i1", digest: "a".repeat(64), tempName: null, createdAt: 1 }, 1);
  expect((await first.pins.staleIntents(1, deleter, 10)).map((i) => i.id).sort()).toEqual(["i1", "i2"]);
  await first.close();
  expect((await second.pins.staleIntents(1, deleter, 10)).length).toBe(2);
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

  // Running the steps from version 5 on again over a migrated database changes nothing.
  const db = openSqlite(file);
  const totals = () => db.prepare("SELECT * FROM scope_totals ORDER BY scope").all();
  const migrated = totals();
  db.exec("PRAGMA user_version = 4");
  const again = await openStore({ dir, sweepInterval: false });
  expect({ a: await again.metrics({ scope: "a" }), b: await again.metrics({ scope: "b" }), top: await again.largestScopes() }).toEqual(after);
  await again.close();
  expect(totals()).toEqual(migrated);
  expect(db.prepare("PRAGMA user_version").get()).toEqual({ user_version: SCHEMA_VERSION });
  db.close();
});
