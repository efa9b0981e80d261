/**
 * Security defaults: the store's directories are 0700, its files 0600 and
 * its blobs 0400 (read-only: checked as an unprivileged user, since root
 * ignores modes) whatever the umask (checked in a child process running with umask 000, while
 * the store is open, so the WAL, the shared-memory file and a temp file of a
 * stage in progress are there too), and a scoped handle cannot read, lease,
 * list or release another scope's attachment, by ref, guessed ref or digest.
 */
import "../helpers/file-blobs.js";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { isAttacheError, memoryBlobStore, memoryManifest, openStore } from "../../src/index.js";
import { runWorkerToEnd } from "../helpers/processes.js";
import { readManifest } from "../helpers/store-audit.js";
import { freshDir } from "../helpers/temp-dirs.js";

const UMASK_WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "umask-worker.mjs");

describe("permissions", () => {
  it("directories are 0700, files 0600 and blobs 0400 under umask 000, including manifest.db, -wal, -shm and temp files", async () => {
    const root = freshDir("attache-perms-");
    const dir = path.join(root, "store");
    const { modes } = await runWorkerToEnd<{ modes: Record<string, { dir: boolean; mode: number }> }>(UMASK_WORKER, {
      dir,
      outside: path.join(root, "outside"),
    });
    const seen = Object.keys(modes);
    // Everything the brief names was there to be checked.
    for (const expected of ["manifest.db", "manifest.db-wal", "manifest.db-shm", "blobs", "tmp"]) expect(seen).toContain(expected);
    expect(seen.filter((p) => p.startsWith("tmp/")).length, "a temp file of the stage in progress").toBeGreaterThan(0);
    expect(seen.filter((p) => /^blobs\/sha256\/..\/..\/[0-9a-f]{64}$/.test(p)).length).toBeGreaterThanOrEqual(4);
    const want = (p: string, isDir: boolean) => (isDir ? 0o700 : p.startsWith("blobs/") ? 0o400 : 0o600);
    const wrong = Object.entries(modes)
      .filter(([p, { dir: isDir, mode }]) => mode !== want(p, isDir))
      .map(([p, { dir: isDir, mode }]) => `${p}: ${mode.toString(8)} (want ${want(p, isDir).toString(8)})`);
    expect(wrong).toEqual([]);
  });

  it("an existing world-readable store directory is made private when opened", async () => {
    const root = freshDir("attache-perms-");
    const dir = path.join(root, "store");
    for (const sub of ["", "blobs", "blobs/sha256", "tmp"]) fs.mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o777 });
    for (const sub of ["", "blobs", "blobs/sha256", "tmp"]) fs.chmodSync(path.join(dir, sub), 0o777);
    const store = await openStore({ dir, sweepInterval: false });
    await store.stage(Buffer.from("x"));
    for (const sub of ["", "blobs", "blobs/sha256", "tmp"]) {
      expect((fs.statSync(path.join(dir, sub)).mode & 0o777).toString(8), sub || ".").toBe("700");
    }
    expect((fs.statSync(path.join(dir, "manifest.db")).mode & 0o777).toString(8)).toBe("600");
    await store.close();
  });

  it("the memory blob store's spilled files are private too", async () => {
    const blobStore = memoryBlobStore();
    const store = await openStore({ dir: freshDir("attache-perms-"), sweepInterval: false, blobStore, manifest: memoryManifest() });
    const a = await store.stage(Buffer.from("spilled for a tool"));
    const { path: file } = await store.resolve(a.ref);
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe("400");
    expect((fs.statSync(path.dirname(file)).mode & 0o777).toString(8)).toBe("700");
    await store.close();
  });
});

describe("scope isolation", () => {
  it("a scoped handle cannot read, resolve, open, lease, list or release another scope's attachment", async () => {
    const dir = path.join(freshDir("attache-scopes-"), "store");
    const store = await openStore({ dir, sweepInterval: false });
    const victim = store.scope("telegram:victim");
    const attacker = store.scope("telegram:attacker");
    const secret = await victim.stage(Buffer.from("the victim's photo"), { ttl: "7d", name: "photo.jpg" });
    const other = await store.stage(Buffer.from("in the default scope"));

    const guesses = [
      secret.ref,
      secret.id,
      secret.ref.toUpperCase(),
      other.ref,
      // Same millisecond prefix, other random part: a plausible guess.
      `attache://${secret.id.slice(0, 10)}${secret.id.slice(10).split("").reverse().join("")}`,
    ];
    const failures: string[] = [];
    for (const guess of guesses) {
      for (const [name, call] of [
        ["get", () => attacker.get(guess)],
        ["resolve", () => attacker.resolve(guess)],
        ["read", () => attacker.read(guess)],
        ["open", () => attacker.open(guess)],
        ["lease", () => attacker.lease(guess)],
      ] as const) {
        const result = await (call as () => Promise<unknown>)().then(
          () => "succeeded",
          (err: unknown) => (isAttacheError(err) ? err.code : String(err)),
        );
        if (result !== "NOT_FOUND") failures.push(`attacker.${name}(${guess}) -> ${result}`);
      }
      if ((await attacker.release(guess)) !== false) failures.push(`attacker.release(${guess}) released it`);
    }
    for (const digest of [secret.digest, secret.checksum]) {
      const result = await attacker.get(digest).then(
        () => "succeeded",
        (err: unknown) => (isAttacheError(err) ? err.code : String(err)),
      );
      if (result !== "INVALID_ARGUMENT") failures.push(`attacker.get(${digest}) -> ${result}`);
    }
    expect(failures).toEqual([]);
    expect(await attacker.list()).toEqual([]);
    expect(await attacker.list({ includeExpired: true })).toEqual([]);
    const iterated = [];
    for await (const a of attacker.iterate()) iterated.push(a);
    expect(iterated).toEqual([]);
    // No lease row was created by the refused attempts.
    expect(readManifest(dir).leases).toEqual([]);

    // Staging the same bytes gives the attacker its own attachment, never the victim's.
    const mine = await attacker.stage(Buffer.from("the victim's photo"), { name: "mine.jpg" });
    expect(mine.id).not.toBe(secret.id);
    expect(mine.scope).toBe("telegram:attacker");
    expect(mine.name).toBe("mine.jpg");
    expect((await victim.get(secret.ref)).name).toBe("photo.jpg");
    // Releasing its whole scope and its own copy leaves the victim's bytes alone.
    expect(await attacker.release()).toBe(1);
    await store.sweep();
    expect((await victim.read(secret.ref)).toString()).toBe("the victim's photo");
    expect((await victim.list()).map((a) => a.id)).toEqual([secret.id]);
    // A temporary in the attacker's scope, disposed, does not touch the victim either.
    {
      await using temp = await attacker.temporary(Buffer.from("the victim's photo"));
      expect(temp.id).not.toBe(secret.id);
    }
    expect((await victim.read(secret.ref)).toString()).toBe("the victim's photo");
    await store.close();
  });
});

describe("read-only bytes", () => {
  it("a tool handed a resolved path cannot change the bytes another scope shares (checked as an unprivileged user)", async () => {
    const root = freshDir("attache-readonly-");
    fs.chmodSync(root, 0o755);
    const dir = path.join(root, "store");
    const asRoot = process.getuid?.() === 0;
    const unprivileged = 65534;
    if (asRoot) {
      fs.mkdirSync(dir);
      fs.chownSync(dir, unprivileged, unprivileged);
    }
    const entry = pathToFileURL(path.resolve("dist/index.js")).href;
    const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), "read-only-worker.mjs");
    if (asRoot) {
      // The unprivileged user must reach this node binary and the built package (not in a private folder).
      const probe = spawnSync(process.execPath, ["-e", `require("fs").readFileSync(${JSON.stringify(fileURLToPath(entry))})`], { uid: unprivileged, gid: unprivileged });
      if (probe.status !== 0) {
        console.log(`read-only bytes: skipped, uid ${unprivileged} cannot run ${process.execPath} on ${fileURLToPath(entry)}`);
        return;
      }
    }
    const result = spawnSync(process.execPath, [worker, entry, dir], {
      encoding: "utf8",
      ...(asRoot ? { uid: unprivileged, gid: unprivileged } : {}),
    });
    expect(result.status, `${String(result.error)} ${result.stderr}`).toBe(0);
    const report = JSON.parse(result.stdout.trim().split("\n").pop() as string) as { uid: number; writeError: string | null; otherScopeReads: boolean | string };
    expect(report.uid).not.toBe(0);
    expect(report.writeError).toBe("EACCES");
    expect(report.otherScopeReads).toBe(true);
  });
});
