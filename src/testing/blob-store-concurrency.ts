/** The blob store suite's concurrent cases: two handles on one store, calling at the same moment, many rounds over. */
import { buffer as drain } from "node:stream/consumers";
import { expect, it } from "vitest";
import { newId } from "../ids.js";
import { all, deleteAll, put, writeTemp, type BlobStoreSuiteContext } from "./blob-store-fixtures.js";
import { repeat, stagger } from "./support.js";

export function blobStoreConcurrencyCases(suite: BlobStoreSuiteContext): void {
  it("two handles committing the same digest from two temps at once leave one blob, the right bytes, no temp", async () => {
    const { first: a, second } = await suite.open();
    const b = await second();
    const [wa, wb] = [newId(), newId()];
    await repeat(suite.rounds, async (round) => {
      const bytes = Buffer.from(`round ${round}: the same bytes from two writers. `.repeat(40));
      const [ta, tb] = await Promise.all([writeTemp(a, wa, bytes), writeTemp(b, wb, bytes)]);
      const digest = ta.digest;
      const commit = async (store: typeof a, tempName: string, salt: number) => {
        await stagger(round, salt);
        return store.commit(tempName, digest, bytes.length);
      };
      const wrote = await Promise.all([commit(a, ta.tempName, 0), commit(b, tb.tempName, 2)]);
      expect(wrote).toContain(true);
      for (const store of [a, b]) {
        expect(await store.stat(digest)).toBe(bytes.length);
        expect((await drain(await store.openRead(digest))).equals(bytes)).toBe(true);
        expect(await store.listTemp()).toEqual([]);
      }
      expect((await all(a.list())).filter((o) => o.digest === digest)).toHaveLength(1);
    });
    expect(await all(b.list())).toHaveLength(suite.rounds);
  });

  it("a batch deletion on one handle while the other commits one of its digests: the blob is whole or gone, the rest gone", async () => {
    const { first: a, second } = await suite.open();
    const b = await second();
    const [wa, wb] = [newId(), newId()];
    await repeat(suite.rounds, async (round) => {
      const bytes = Buffer.from(`round ${round}: committed while a batch deletes it. `.repeat(40));
      const others = [
        (await put(a, wa, Buffer.from(`round ${round}: other one`))).digest,
        (await put(a, wa, Buffer.from(`round ${round}: other two`))).digest,
      ];
      const { tempName, digest } = await writeTemp(b, wb, bytes);
      const commit = async () => {
        await stagger(round, 0);
        return b.commit(tempName, digest, bytes.length);
      };
      const deletion = async () => {
        await stagger(round, 2);
        await deleteAll(a, [others[0] as string, digest, others[1] as string]);
      };
      await Promise.all([commit(), deletion()]);
      for (const other of others) expect(await b.stat(other)).toBeNull();
      const size = await a.stat(digest);
      if (size !== null) {
        expect(size).toBe(bytes.length);
        expect((await drain(await a.openRead(digest))).equals(bytes)).toBe(true);
      } else {
        await expect(b.openRead(digest)).rejects.toMatchObject({ code: "ENOENT" });
      }
      expect(await b.listTemp()).toEqual([]);
      await a.delete(digest);
    });
    expect(await all(a.list())).toEqual([]);
  });
}
