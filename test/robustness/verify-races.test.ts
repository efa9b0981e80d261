/**
 * `verify` against stores that keep changing under it (issue 8, finding 4).
 * Verify decides from pages of the manifest and from files it read a moment
 * ago; by the time it repairs, a scope may have released those bytes and
 * another staged them again. Every decision must be re-checked at the moment
 * it is applied, so a repair never drops a freshly staged attachment, and a
 * report never lists as missing what a release deleted on purpose.
 *
 * The deterministic tests pause verify at chosen filesystem calls through the
 * `fileSystem` seam and run the other scopes' operations during the pause.
 */
import "../helpers/file-blobs.js";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { nodeFileSystem, openStore, type FileSystem, type Store, type VerifyReport } from "../../src/index.js";
import { freshDir } from "../helpers/temp-dirs.js";

interface Gate {
  /** Resolves when verify (or whoever) reaches the paused call. */
  reached: Promise<void>;
  /** Lets the paused call go on. */
  resume(): void;
}

interface PendingGate {
  op: string;
  file: string;
  /** Pause after the call returned (its result already taken) instead of before it. */
  after: boolean;
  reached: () => void;
  resumed: Promise<void>;
}

/**
 * A pass-through `FileSystem` whose calls can be paused: `pauseAt(op, file)`
 * holds the next call of `op` on `file` until the gate is resumed. Each gate
 * fires once.
 */
class PausableFileSystem {
  readonly fs: FileSystem;
  private readonly pending: PendingGate[] = [];

  constructor(base: FileSystem = nodeFileSystem) {
    const wrapped: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(base)) {
      wrapped[name] = async (...args: unknown[]) => {
        const file = String(args[0]);
        await this.hold(name, file, false);
        const result = await (fn as (...a: unknown[]) => Promise<unknown>).apply(base, args);
        await this.hold(name, file, true);
        return result;
      };
    }
    this.fs = wrapped as unknown as FileSystem;
  }

  pauseAt(op: string, file: string, options: { after?: boolean } = {}): Gate {
    let reached!: () => void;
    let resume!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    this.pending.push({ op, file, after: options.after === true, reached, resumed });
    return { reached: reachedPromise, resume };
  }

  private async hold(op: string, file: string, after: boolean): Promise<void> {
    const index = this.pending.findIndex((gate) => gate.op === op && gate.file === file && gate.after === after);
    if (index < 0) return;
    const [gate] = this.pending.splice(index, 1) as [PendingGate];
    gate.reached();
    await gate.resumed;
  }
}

function blobPath(dir: string, hex: string): string {
  return path.join(dir, "blobs", "sha256", hex.slice(0, 2), hex.slice(2, 4), hex);
}

async function openPausable(): Promise<{ dir: string; gates: PausableFileSystem; store: Store }> {
  const dir = path.join(freshDir("attache-verify-race-"), "store");
  const gates = new PausableFileSystem();
  const store = await openStore({ dir, fileSystem: gates.fs, sweepInterval: false });
  return { dir, gates, store };
}

describe("verify({ repair: true }) while scopes release and re-stage the same bytes", () => {
  it("a blob released between verify's page read and its open, then staged again, is neither missing nor dropped", async () => {
    const { dir, gates, store } = await openPausable();
    const bytes = Buffer.from("bytes one scope lets go of and another stages again ".repeat(20));
    const first = await store.scope("a").stage(bytes);
    // Verify has read the page that lists the blob (one attachment uses it) and is about to open its file.
    const open = gates.pauseAt("open", blobPath(dir, first.checksum));
    // After the blob pass: verify lists the blob directory before it repairs.
    const listing = gates.pauseAt("readdir", path.join(dir, "blobs", "sha256"));
    const verifying = store.verify({ repair: true });

    await open.reached;
    expect(await store.scope("a").release(first.ref)).toBe(true);
    expect(fs.existsSync(blobPath(dir, first.checksum)), "the release deleted the unused blob").toBe(false);
    open.resume();
    await listing.reached;
    const again = await store.scope("b").stage(bytes);
    listing.resume();
    const report = await verifying;

    expect((await store.read(again.ref)).equals(bytes), "the attachment staged during verify still reads").toBe(true);
    expect(report.missing, "a blob deleted by a release is not missing").toEqual([]);
    expect(await store.verify()).toMatchObject({ corrupt: [], missing: [], orphanFiles: [] });
    await store.close();
  });

  it("a corrupt blob released and staged afresh before verify repairs it keeps the new attachment", async () => {
    const { dir, gates, store } = await openPausable();
    const bytes = Buffer.from("bytes that rot, are released, and come back whole ".repeat(20));
    const rotten = await store.scope("a").stage(bytes);
    const file = blobPath(dir, rotten.checksum);
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, "rot");
    const listing = gates.pauseAt("readdir", path.join(dir, "blobs", "sha256"));
    const verifying = store.verify({ repair: true });

    // Verify has found the blob corrupt and has not repaired it yet.
    await listing.reached;
    expect(await store.scope("a").release(rotten.ref)).toBe(true);
    const again = await store.scope("b").stage(bytes);
    listing.resume();
    const report = await verifying;

    expect(report.corrupt).toEqual([rotten.digest]);
    expect((await store.read(again.ref)).equals(bytes), "the attachment staged during verify still reads").toBe(true);
    expect(await store.verify()).toMatchObject({ corrupt: [], missing: [], orphanFiles: [] });
    await store.close();
  });

  it("a blob file seen without its row because a release was deleting it is no stray once the bytes are staged again", async () => {
    const { dir, gates, store } = await openPausable();
    const bytes = Buffer.from("bytes whose file verify lists while a release deletes it ".repeat(20));
    const first = await store.scope("a").stage(bytes);
    const file = blobPath(dir, first.checksum);
    // Verify's listing has found the file (and its size) and is about to ask the manifest about it.
    const listed = gates.pauseAt("stat", file, { after: true });
    const temps = gates.pauseAt("readdir", path.join(dir, "tmp"));
    const verifying = store.verify({ repair: true });

    await listed.reached;
    expect(await store.scope("a").release(first.ref)).toBe(true);
    listed.resume();
    await temps.reached;
    const again = await store.scope("b").stage(bytes);
    temps.resume();
    const report = await verifying;

    expect((await store.read(again.ref)).equals(bytes), "the attachment staged during verify still reads").toBe(true);
    expect(report.orphanFiles, "a blob deleted by a release is no orphan").toEqual([]);
    await store.close();
  });
});

describe("concurrent verifies while scopes stage and release", () => {
  it("report no false missing, and repair drops nothing that is live", async () => {
    const dir = path.join(freshDir("attache-verify-race-"), "store");
    const store = await openStore({ dir, sweepInterval: false });
    const contents = Array.from({ length: 12 }, (_, i) => Buffer.from(`shared bytes #${i} `.repeat(200 + i)));
    const scopes = ["s0", "s1", "s2", "s3"];
    // One attachment that nobody releases: it must survive every repair.
    const steady = await store.scope("steady").stage(Buffer.from("never released"));
    let churning = true;
    const churn = async (scope: string, offset: number) => {
      let round = 0;
      while (churning) {
        const bytes = contents[(round++ + offset) % contents.length] as Buffer;
        const attachment = await store.scope(scope).stage(bytes);
        await new Promise((resolve) => setImmediate(resolve));
        await store.scope(scope).release(attachment.ref);
      }
    };
    const churners = scopes.map((scope, i) => churn(scope, i * 3));
    const reports: VerifyReport[] = [];
    try {
      for (let round = 0; round < 40; round++) {
        reports.push(...(await Promise.all([store.verify(), store.verify({ repair: round % 2 === 1 })])));
      }
    } finally {
      churning = false;
      await Promise.all(churners);
    }
    const falseMissing = reports.flatMap((report) => report.missing);
    const falseOrphans = reports.flatMap((report) => report.orphanFiles);
    console.log(`${reports.length} verifies during churn: ${falseMissing.length} false missing, ${falseOrphans.length} false orphans`);
    expect(falseMissing).toEqual([]);
    expect(falseOrphans).toEqual([]);
    expect(reports.flatMap((report) => report.corrupt)).toEqual([]);
    expect((await store.read(steady.ref)).toString()).toBe("never released");
    // Whatever the churn left staged still reads, and the store is clean.
    for (const attachment of await store.list()) expect((await store.read(attachment.ref)).length).toBe(attachment.size);
    expect(await store.verify()).toMatchObject({ corrupt: [], missing: [], orphanFiles: [] });
    await store.close();
  });
});
