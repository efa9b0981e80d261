/**
 * Named paths: `lease(ref, { named: true })` hands a tool a read-only file
 * whose name is the attachment's display name, gone when the lease ends and
 * reclaimed by the sweep after a crash.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isAttacheError } from "../../src/index.js";
import { embeddedHarness, memoryHarness, TestClock, writeTempFile } from "../support/fixtures.js";

const MINUTE = 60_000;

for (const makeHarness of [embeddedHarness, memoryHarness]) {
  describe(`named leases on ${makeHarness().name} backends`, () => {
    it("give a read-only file ending in the display name, removed when the lease ends", async () => {
      const harness = makeHarness();
      const store = await harness.open();
      const a = await store.scope("chat").stage(Buffer.from("\x89PNG fake image"), { name: "holiday photo.png" });
      let leasedPath: string;
      {
        await using lease = await store.scope("chat").lease(a.ref, { named: true });
        leasedPath = lease.path;
        expect(path.basename(lease.path)).toBe("holiday photo.png");
        expect(lease.path).toBe(path.join(harness.dir, "leases", lease.id, "holiday photo.png"));
        expect(fs.readFileSync(lease.path, "utf8")).toBe("\x89PNG fake image");
        expect(fs.statSync(lease.path).mode & 0o777).toBe(0o400);
        // A second named lease of the same attachment has a folder of its own.
        await using again = await store.lease(a.ref, { named: true });
        expect(again.path).not.toBe(lease.path);
        expect(fs.readFileSync(again.path, "utf8")).toBe("\x89PNG fake image");
      }
      expect(fs.existsSync(leasedPath)).toBe(false);
      expect(fs.existsSync(path.dirname(leasedPath))).toBe(false);
      // An unnamed lease still hands out the content-addressed path.
      await using plain = await store.lease(a.ref);
      expect(path.basename(plain.path)).not.toBe("holiday photo.png");
    });

    // `reference` needs a blob store with local files (memory refuses it: INVALID_ARGUMENT, tested in the store suite).
    it.skipIf(makeHarness().name === "memory")("copy a reference file instead of linking it, so its owner's later changes do not reach the lease", async () => {
      const store = await makeHarness().open();
      const outside = writeTempFile("notes.md", "# notes\n");
      const a = await store.stage(outside, { mode: "reference" });
      await using lease = await store.lease(a.ref, { named: true });
      expect(path.basename(lease.path)).toBe("notes.md");
      expect(fs.statSync(lease.path).ino).not.toBe(fs.statSync(outside).ino);
      expect(fs.readFileSync(lease.path, "utf8")).toBe("# notes\n");
    });

    it("left behind by a crashed holder are reclaimed by the sweep once the lease is gone", async () => {
      const harness = makeHarness();
      const clock = new TestClock(Date.now());
      const holder = await harness.open({ clock: clock.now, gracePeriod: "15m" });
      const a = await holder.stage(Buffer.from("report"), { name: "report.pdf", persist: true });
      const lease = await holder.lease(a.ref, { named: true, ttl: "10m" });
      // The holder goes away without releasing (as a killed process would).
      const leftover = path.join(harness.dir, "leases", "01zzzzzzzzzzzzzzzzzzzzzzzz");
      fs.mkdirSync(leftover, { recursive: true });
      fs.writeFileSync(path.join(leftover, "half-made.txt"), "x");
      await holder.sweep();
      expect(fs.existsSync(lease.path), "a live lease keeps its path").toBe(true);
      expect(fs.existsSync(leftover), "a folder without a lease goes").toBe(false);
      clock.advance(10 * MINUTE + 16 * MINUTE);
      await holder.sweep();
      expect(fs.existsSync(path.dirname(lease.path))).toBe(false);
      expect((await holder.read(a.ref)).toString()).toBe("report");
    });

    it("refuse a named option that is not a boolean", async () => {
      const store = await makeHarness().open();
      const a = await store.stage(Buffer.from("x"));
      const err = await store.lease(a.ref, { named: "yes" as never }).catch((e: unknown) => e);
      expect(isAttacheError(err, "INVALID_ARGUMENT")).toBe(true);
    });
  });
}
