/** `attache update`: the CLI face of store.update(). */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, errorCodeOf, json, runCli, tempDir } from "./cli-harness.js";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
beforeAll(() => assertCliBuilt());

function freshStore() {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const attache = (args: string[]) => runCli(["--dir", path.join(dir, "store"), ...args]);
  return { dir, attache };
}

describe("attache update", () => {
  it("renames, sets a ttl from now, persists and replaces metadata without staging again", async () => {
    const { dir, attache } = freshStore();
    writeFileSync(path.join(dir, "draft.pdf"), "%PDF- draft");
    const [staged] = json<{ ref: string; expiresAt: string }[]>(await attache(["stage", path.join(dir, "draft.pdf"), "--ttl", "7d", "--json"]));
    const ref = (staged as { ref: string }).ref;
    const renamed = await attache(["update", ref, "--ttl", "2h", "--name", "x.pdf", "--json"]);
    expect(renamed.code, renamed.stderr).toBe(0);
    const after = json<{ ref: string; name: string; expiresAt: string; ttlMs: number }>(renamed);
    expect(after).toMatchObject({ ref, name: "x.pdf", ttlMs: 2 * 3_600_000 });
    expect(Date.parse(after.expiresAt) - Date.now()).toBeLessThanOrEqual(2 * 3_600_000);
    const kept = json<{ persist: boolean; expiresAt: string | null; metadata: unknown }>(
      await attache(["update", ref, "--persist", "--metadata", '{"final":true}', "--json"]),
    );
    expect(kept).toMatchObject({ persist: true, expiresAt: null, metadata: { final: true } });
    const human = await attache(["update", ref, "--no-persist"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/x\.pdf/);
  });

  it("is a usage error without a change or with contradicting flags; NOT_FOUND for another scope", async () => {
    const { attache } = freshStore();
    const staged = await attache(["stage", "-", "--scope", "chat:1", "--json"]);
    const ref = (json<{ ref: string }[]>(staged)[0] as { ref: string }).ref;
    expect((await attache(["update", ref])).code).toBe(2);
    expect((await attache(["update", ref, "--persist", "--ttl", "1h"])).code).toBe(2);
    const elsewhere = await attache(["update", ref, "--scope", "chat:2", "--name", "y"]);
    expect(elsewhere.code).toBe(1);
    expect(errorCodeOf(elsewhere)).toBe("NOT_FOUND");
  });
});
