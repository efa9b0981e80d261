/**
 * The sweep's remote step: for destinations made with `deleteWhenUnused`,
 * remote files whose bytes no live attachment uses are deleted at the
 * provider (through the SDK clients, at the fakes) and forgotten by the
 * ledger; a failed delete is counted, kept, and retried by the next sweep.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { failWith, serverError } from "../support/fake-providers/faults.js";
import { freshDir } from "../helpers/temp-dirs.js";
import { Fakes, testBytes } from "./deliver-fixtures.js";

let fakes: Fakes;
let dir: string;
let store: Store;

beforeEach(async () => {
  fakes = new Fakes();
  await fakes.start();
  dir = freshDir("attache-remote-");
  store = await openStore({ dir, sweepInterval: false });
});
afterEach(async () => {
  await store.close();
  await fakes.stop();
});

describe("sweep: deleting remote files no live attachment uses", () => {
  it("after a release, the sweep deletes the remote file, reports remoteDeleted: 1 and forgets the entry", async () => {
    const destination = fakes.openaiDestination({ deleteWhenUnused: true });
    const kept = await store.stage(testBytes(2_000, 1), { name: "kept.pdf", persist: true });
    const dropped = await store.stage(testBytes(3_000, 2), { name: "dropped.pdf", persist: true });
    const keptRecord = await store.upload(kept.ref, destination);
    const droppedRecord = await store.upload(dropped.ref, destination);

    expect((await store.sweep()).remoteDeleted).toBe(0); // both in use
    await store.release(dropped.ref);
    const report = await store.sweep();
    expect(report).toMatchObject({ remoteDeleted: 1, remoteFailed: 0 });
    expect(fakes.openai.files.get(droppedRecord.remoteId)?.deleted).toBe(true);
    expect(fakes.openai.files.get(keptRecord.remoteId)?.deleted).toBe(false);
    expect((await store.listUploads()).map((e) => e.remoteId)).toEqual([keptRecord.remoteId]);
    expect((await store.metrics()).remote).toMatchObject({ count: 1, bytes: 2_000 });
    expect(await store.sweep()).toMatchObject({ remoteDeleted: 0, remoteFailed: 0 });
    expect(fakes.openai.requests("files.delete")).toBe(1);
  });

  it("expired attachments count as unused once the sweep drops them; bytes another scope still holds keep the file", async () => {
    let now = Date.now();
    await store.close();
    store = await openStore({ dir, sweepInterval: false, clock: () => now });
    const destination = fakes.anthropicDestination({ deleteWhenUnused: true });
    const bytes = testBytes(1_500, 3);
    const a = await store.stage(bytes, { scope: "a", name: "x.pdf", ttl: "1h" });
    const b = await store.stage(bytes, { scope: "b", name: "x.pdf", ttl: "3h" });
    const record = await store.upload(a.ref, destination);
    expect((await store.upload(b.ref, destination)).reused).toBe(true);

    now += 2 * 3_600_000; // a expired, b lives
    expect(await store.sweep()).toMatchObject({ expired: 1, remoteDeleted: 0 });
    expect(fakes.anthropic.files.get(record.remoteId)?.deleted).toBe(false);
    now += 2 * 3_600_000; // b expired too
    expect(await store.sweep()).toMatchObject({ expired: 1, remoteDeleted: 1 });
    expect(fakes.anthropic.files.get(record.remoteId)?.deleted).toBe(true);
  });

  it("a delete that fails (500 on every retry) does not fail the sweep: remoteFailed: 1, the entry stays, the next sweep deletes it", async () => {
    const destination = fakes.openaiDestination({ deleteWhenUnused: true });
    const staged = await store.stage(testBytes(2_000, 4), { name: "a.pdf", persist: true });
    const record = await store.upload(staged.ref, destination);
    await store.release(staged.ref);

    fakes.openai.faults.push("files.delete", ...Array.from({ length: 4 }, () => serverError(500)));
    const failed = await store.sweep();
    expect(failed).toMatchObject({ remoteDeleted: 0, remoteFailed: 1 });
    expect(fakes.openai.requests("files.delete")).toBe(4);
    expect(fakes.openai.files.get(record.remoteId)?.deleted).toBe(false);
    expect((await store.listUploads()).map((e) => e.remoteId)).toEqual([record.remoteId]);

    const retried = await store.sweep();
    expect(retried).toMatchObject({ remoteDeleted: 1, remoteFailed: 0 });
    expect(fakes.openai.files.get(record.remoteId)?.deleted).toBe(true);
    expect(await store.listUploads()).toEqual([]);
  });

  it("a file already gone remotely (404; Gemini's 403) counts as deleted; a 401 is a failure that keeps the entry", async () => {
    const openai = fakes.openaiDestination({ deleteWhenUnused: true });
    const gemini = fakes.geminiDestination({ deleteWhenUnused: true });
    const staged = await store.stage(testBytes(2_000, 5), { name: "a.pdf", persist: true });
    const o = await store.upload(staged.ref, openai);
    const g = await store.upload(staged.ref, gemini);
    (fakes.openai.files.get(o.remoteId) as { deleted: boolean }).deleted = true;
    (fakes.gemini.files.get(g.remoteId) as { deleted: boolean }).deleted = true;
    await store.release(staged.ref);
    expect(await store.sweep()).toMatchObject({ remoteDeleted: 2, remoteFailed: 0 });
    expect(await store.listUploads()).toEqual([]);

    const other = await store.stage(testBytes(2_000, 6), { name: "b.pdf", persist: true });
    await store.upload(other.ref, openai);
    await store.release(other.ref);
    fakes.openai.faults.push("files.delete", failWith(401, undefined, "Incorrect API key provided."));
    expect(await store.sweep()).toMatchObject({ remoteDeleted: 0, remoteFailed: 1 });
    expect(fakes.openai.requests("files.delete")).toBe(2); // not retried
    expect(await store.listUploads()).toHaveLength(1);
  });

  it("destinations without deleteWhenUnused keep their files", async () => {
    const destination = fakes.openaiDestination();
    const staged = await store.stage(testBytes(1_000, 7), { name: "a.pdf", persist: true });
    const record = await store.upload(staged.ref, destination);
    await store.release(staged.ref);
    expect(await store.sweep()).toMatchObject({ remoteDeleted: 0, remoteFailed: 0 });
    expect(fakes.openai.files.get(record.remoteId)?.deleted).toBe(false);
    expect(await store.listUploads()).toHaveLength(1);
    expect(fakes.openai.requests("files.delete")).toBe(0);
  });

  it("a store that never called upload() deletes for the destinations passed to openStore({ destinations })", async () => {
    const staged = await store.stage(testBytes(2_500, 8), { name: "a.pdf", persist: true });
    const record = await store.upload(staged.ref, fakes.openaiDestination());
    await store.release(staged.ref);
    await store.close();

    // A fresh store (nothing uploaded in it) that does not know the destination deletes nothing.
    store = await openStore({ dir, sweepInterval: false });
    expect(await store.sweep()).toMatchObject({ remoteDeleted: 0, remoteFailed: 0 });
    await store.close();

    // One given the destination (a new client for the same account) deletes the file.
    store = await openStore({ dir, sweepInterval: false, destinations: [fakes.openaiDestination({ deleteWhenUnused: true })] });
    expect(await store.sweep()).toMatchObject({ remoteDeleted: 1, remoteFailed: 0 });
    expect(fakes.openai.files.get(record.remoteId)?.deleted).toBe(true);
    expect(await store.listUploads()).toEqual([]);
  });

  it("uploading with another destination object of the same account, made without deleteWhenUnused, keeps the cleanup asked for", async () => {
    await store.close();
    store = await openStore({ dir, sweepInterval: false, destinations: [fakes.openaiDestination({ deleteWhenUnused: true })] });
    const plain = fakes.openaiDestination();
    const staged = await store.stage(testBytes(1_200, 9), { name: "a.pdf", persist: true });
    const record = await store.upload(staged.ref, plain);
    await store.release(staged.ref);
    expect(await store.sweep()).toMatchObject({ remoteDeleted: 1, remoteFailed: 0 });
    expect(fakes.openai.files.get(record.remoteId)?.deleted).toBe(true);
  });

  it("openStore refuses destinations that are not destinations", async () => {
    await expect(openStore({ dir: freshDir("attache-remote-"), destinations: [{} as never] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
