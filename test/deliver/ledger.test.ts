/**
 * The upload ledger room (`Manifest.uploads`) on both manifests, directly:
 * claims (new, busy, done, taken over), touches and checkpoints that a lost
 * claim can no longer make, release keeping what a resume needs, and the
 * queries the sweep and `attache uploads` run.
 */
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Manifest } from "../../src/backends/manifest.js";
import { memoryManifest } from "../../src/backends/memory/manifest.js";
import { sqliteManifest } from "../../src/backends/sqlite/manifest.js";
import { hex, HOUR, stage, T0 } from "../../src/testing/manifest-fixtures.js";
import { freshDir } from "../helpers/temp-dirs.js";

const DEST = "openai:aaaaaaaaaaaaaaaaaaaaaaaa";
const OTHER = "gemini:bbbbbbbbbbbbbbbbbbbbbbbb";
const STALE = 30_000;
const remote = (n: number) => ({ remoteId: `file-${n}`, uri: null, expiresAt: T0 + 10 * HOUR });

const backends: [string, () => Manifest][] = [
  ["memory", () => memoryManifest()],
  ["sqlite", () => sqliteManifest({ file: path.join(freshDir("attache-ledger-"), "manifest.db") })],
];

describe.each(backends)("upload ledger (%s manifest)", (_name, make) => {
  let m: Manifest;
  beforeEach(async () => {
    m = make();
    await m.open();
  });
  afterEach(async () => {
    await m.close();
  });

  const claim = (holder: string, now: number, replace = false, digest = hex(1), destination = DEST) =>
    m.uploads.claim(destination, digest, holder, 100, now, now - STALE, replace);

  it("forgets finished entries whose remote file expired, and only those", async () => {
    await claim("h1", T0);
    await m.uploads.complete(DEST, hex(1), "h1", remote(1), T0); // expires at T0 + 10 h
    await claim("h1", T0, false, hex(2));
    await m.uploads.complete(DEST, hex(2), "h1", { remoteId: "file-2", uri: null, expiresAt: null }, T0);
    await claim("h1", T0, false, hex(3)); // in progress: never an expired entry
    expect(await m.uploads.dropExpired(T0 + 10 * HOUR - 1)).toBe(0);
    expect(await m.uploads.dropExpired(T0 + 10 * HOUR)).toBe(1);
    expect(await m.uploads.get(DEST, hex(1))).toBeUndefined();
    expect(await m.uploads.get(DEST, hex(2))).toMatchObject({ remoteId: "file-2" });
    expect(await m.uploads.get(DEST, hex(3))).toMatchObject({ holder: "h1" });
    expect(await m.uploads.totals()).toEqual([{ destination: DEST, files: 1, bytes: 100 }]);
  });

  it("a first claim is claimed with no resume state; another holder finds it busy while it is fresh", async () => {
    expect(await claim("h1", T0)).toEqual({ kind: "claimed", resume: null });
    const busy = await claim("h2", T0 + 1_000);
    expect(busy).toMatchObject({ kind: "busy", row: { holder: "h1", heartbeatAt: T0, remoteId: null } });
    expect(await m.uploads.touch(DEST, hex(1), "h1", T0 + 20_000)).toBe(true);
    // Touched at T0 + 20 s: still busy at T0 + 45 s (stale before T0 + 15 s).
    expect((await claim("h2", T0 + 45_000)).kind).toBe("busy");
    expect(await m.uploads.get(DEST, hex(1))).toMatchObject({ holder: "h1", heartbeatAt: T0 + 20_000, size: 100 });
  });

  it("a stale claim is taken over with its resume state; the old holder's touch, checkpoint and complete then fail", async () => {
    await claim("h1", T0);
    const state = { provider: "openai", uploadId: "upload_1", partIds: ["part_a", null, null] };
    expect(await m.uploads.checkpoint(DEST, hex(1), "h1", state)).toBe(true);

    const taken = await claim("h2", T0 + STALE + 1);
    expect(taken).toEqual({ kind: "claimed", resume: state });
    expect(await m.uploads.touch(DEST, hex(1), "h1", T0 + STALE + 2)).toBe(false);
    expect(await m.uploads.checkpoint(DEST, hex(1), "h1", { stale: true })).toBe(false);
    expect(await m.uploads.complete(DEST, hex(1), "h1", remote(1), T0 + STALE + 3)).toBeUndefined();
    await m.uploads.release(DEST, hex(1), "h1"); // not the holder: changes nothing
    expect(await m.uploads.get(DEST, hex(1))).toMatchObject({ holder: "h2", resume: state, remoteId: null });

    const done = await m.uploads.complete(DEST, hex(1), "h2", remote(2), T0 + STALE + 4);
    expect(done).toEqual({
      destination: DEST, digest: hex(1), size: 100, remoteId: "file-2", uri: null, uploadedAt: T0 + STALE + 4,
      expiresAt: T0 + 10 * HOUR, holder: null, heartbeatAt: null, resume: null,
    });
  });

  it("release keeps an entry with resume state (unheld, so the next claim resumes at once) and drops one without", async () => {
    await claim("h1", T0);
    await m.uploads.checkpoint(DEST, hex(1), "h1", { offset: 262_144, uploadUrl: "http://x/session" });
    await m.uploads.release(DEST, hex(1), "h1");
    expect(await m.uploads.get(DEST, hex(1))).toMatchObject({ holder: null, heartbeatAt: null, resume: { offset: 262_144 } });
    expect(await claim("h2", T0 + 1)).toEqual({ kind: "claimed", resume: { offset: 262_144, uploadUrl: "http://x/session" } });

    await claim("h3", T0, false, hex(2));
    await m.uploads.release(DEST, hex(2), "h3");
    expect(await m.uploads.get(DEST, hex(2))).toBeUndefined();
    expect(await m.uploads.list(null, 10)).toEqual([]); // unfinished entries are never listed
  });

  it("a finished entry is done for a claim that does not replace it; replace takes it over, forgetting the old result", async () => {
    await claim("h1", T0);
    await m.uploads.complete(DEST, hex(1), "h1", remote(1), T0 + 5);
    expect(await claim("h2", T0 + 10)).toMatchObject({ kind: "done", row: { remoteId: "file-1", uploadedAt: T0 + 5, holder: null } });
    expect(await claim("h2", T0 + 10, true)).toEqual({ kind: "claimed", resume: null });
    expect(await m.uploads.get(DEST, hex(1))).toMatchObject({ holder: "h2", remoteId: null, uploadedAt: null, expiresAt: null });
    // A replacement in progress is busy for others, even for one that would replace it too.
    expect((await claim("h3", T0 + 11, true)).kind).toBe("busy");
    expect(await m.uploads.totals()).toEqual([]);
  });

  it("entries are kept per (destination, digest): the same digest at two destinations, two digests at one", async () => {
    await claim("h1", T0, false, hex(1), DEST);
    expect((await claim("h2", T0, false, hex(1), OTHER)).kind).toBe("claimed");
    expect((await claim("h3", T0, false, hex(2), DEST)).kind).toBe("claimed");
    await m.uploads.complete(DEST, hex(1), "h1", remote(1), T0);
    await m.uploads.complete(OTHER, hex(1), "h2", { remoteId: "files/g1", uri: "http://g/v1beta/files/g1", expiresAt: null }, T0);
    await m.uploads.complete(DEST, hex(2), "h3", remote(3), T0);
    expect((await m.uploads.list(null, 10)).map((r) => [r.destination, r.digest, r.remoteId])).toEqual([
      [OTHER, hex(1), "files/g1"],
      [DEST, hex(1), "file-1"],
      [DEST, hex(2), "file-3"],
    ]);
    expect((await m.uploads.list({ destination: DEST, digest: hex(1) }, 10)).map((r) => r.remoteId)).toEqual(["file-3"]);
    expect((await m.uploads.list(null, 2)).map((r) => r.remoteId)).toEqual(["files/g1", "file-1"]);
    expect(await m.uploads.totals()).toEqual([
      { destination: OTHER, files: 1, bytes: 100 },
      { destination: DEST, files: 2, bytes: 200 },
    ].sort((a, b) => (a.destination < b.destination ? -1 : 1)));
  });

  it("drop with a remote id forgets the entry only while it still names that file", async () => {
    await claim("h1", T0);
    await m.uploads.complete(DEST, hex(1), "h1", remote(1), T0);
    await m.uploads.drop(DEST, hex(1), "file-0");
    expect(await m.uploads.get(DEST, hex(1))).toMatchObject({ remoteId: "file-1" });
    await m.uploads.drop(DEST, hex(1), "file-1");
    expect(await m.uploads.get(DEST, hex(1))).toBeUndefined();
    await claim("h1", T0, false, hex(2));
    await m.uploads.drop(DEST, hex(2));
    expect(await m.uploads.get(DEST, hex(2))).toBeUndefined();
  });

  it("unused: finished entries whose digest no live attachment uses (none, released or expired), per destination, in pages", async () => {
    const finish = async (digest: string, destination = DEST) => {
      await claim(`h-${digest}`, T0, false, digest, destination);
      await m.uploads.complete(destination, digest, `h-${digest}`, remote(parseInt(digest, 16)), T0);
    };
    await stage(m, { digest: hex(1), ttlMs: HOUR }); // live until T0 + 1 h
    const released = await stage(m, { digest: hex(2), persist: true });
    await m.attachments.release(released.record.id, undefined, T0);
    await stage(m, { digest: hex(4), persist: true }); // live for good
    await stage(m, { digest: hex(4), scope: "other", ttlMs: HOUR }); // the same bytes in another scope
    for (const n of [1, 2, 3, 4]) await finish(hex(n));
    await finish(hex(3), OTHER);
    await claim("h-unfinished", T0, false, hex(5)); // no attachment, but unfinished: never unused

    const digests = async (now: number, after: string | null = null, limit = 10, destination = DEST) =>
      (await m.uploads.unused(destination, now, after, limit)).map((r) => r.digest);
    expect(await digests(T0)).toEqual([hex(2), hex(3)]);
    expect(await digests(T0 + 2 * HOUR)).toEqual([hex(1), hex(2), hex(3)]);
    expect(await digests(T0 + 2 * HOUR, null, 2)).toEqual([hex(1), hex(2)]);
    expect(await digests(T0 + 2 * HOUR, hex(2), 2)).toEqual([hex(3)]);
    expect(await digests(T0, null, 10, OTHER)).toEqual([hex(3)]);
    const [row] = await m.uploads.unused(DEST, T0, hex(2), 1);
    expect(row).toMatchObject({ destination: DEST, digest: hex(3), remoteId: "file-3", size: 100 });
  });

  it("rows handed out are snapshots: changing one, or the ledger later, does not change the other", async () => {
    await claim("h1", T0);
    const resume = { partIds: ["a", null] };
    await m.uploads.checkpoint(DEST, hex(1), "h1", resume);
    resume.partIds[1] = "mutated by the caller";
    const read = await m.uploads.get(DEST, hex(1));
    expect(read?.resume).toEqual({ partIds: ["a", null] });
    (read as { holder: string | null }).holder = "someone else";
    await m.uploads.touch(DEST, hex(1), "h1", T0 + 1);
    expect(read?.heartbeatAt).toBe(T0);
    expect(await m.uploads.get(DEST, hex(1))).toMatchObject({ holder: "h1", heartbeatAt: T0 + 1 });
  });
});
