import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, json, runCli, tempDir } from "./cli-harness.js";

const { dir, cleanup } = tempDir();
const store = path.join(dir, "store");
const attache = (args: string[], input?: string) => runCli(["--dir", store, ...args], input === undefined ? {} : { input });

interface ScopeJson {
  scope: string;
  attachments: number;
  logicalBytes: number;
  persistent: { count: number; bytes: number };
  expirable: { count: number; bytes: number };
  expired: { count: number; bytes: number };
  leases: number;
  nextExpiryAt: string | null;
}

const none = { count: 0, bytes: 0 };
/** The expected entries, but for `nextExpiryAt` (a time), checked apart. */
const BIG = { scope: "big", attachments: 2, logicalBytes: 32, persistent: { count: 1, bytes: 20 }, expirable: { count: 1, bytes: 12 }, expired: none, leases: 0 };
const MID = { scope: "mid", attachments: 1, logicalBytes: 15, persistent: none, expirable: { count: 1, bytes: 15 }, expired: none, leases: 0 };
const SMALL = {
  scope: "small", attachments: 1, logicalBytes: 12, persistent: none, expirable: { count: 1, bytes: 12 }, expired: { count: 1, bytes: 4 }, leases: 0,
};

function withoutExpiry(entries: ScopeJson[]): Omit<ScopeJson, "nextExpiryAt">[] {
  return entries.map(({ nextExpiryAt, ...rest }) => {
    if (nextExpiryAt !== null) expect(Date.parse(nextExpiryAt)).toBeGreaterThan(Date.now());
    return rest;
  });
}

beforeAll(async () => {
  assertCliBuilt();
  const stages: [string, string[]][] = [
    ["shared bytes", ["--scope", "big"]],
    ["0123456789abcdefghij", ["--scope", "big", "--persist"]],
    ["fifteen bytes!!", ["--scope", "mid"]],
    ["shared bytes", ["--scope", "small"]],
    ["gone", ["--scope", "small", "--ttl", "0"]],
    ["old and expired", ["--scope", "expired-only", "--ttl", "0"]],
  ];
  for (const [text, args] of stages) expect((await attache(["stage", "-", "-q", ...args], text)).code).toBe(0);
});
afterAll(cleanup);

describe.concurrent("attache du", () => {
  it("lists the scopes with live attachments, largest first, as JSON with a fixed key set", async () => {
    const scopes = json<ScopeJson[]>(await attache(["du", "--json"]));
    expect(withoutExpiry(scopes)).toEqual([BIG, MID, SMALL]);
    expect(scopes.map((s) => Object.keys(s))).toEqual(
      scopes.map(() => ["scope", "attachments", "logicalBytes", "persistent", "expirable", "expired", "leases", "nextExpiryAt"]),
    );
    expect(Object.keys(scopes[0]?.expired as object)).toEqual(["count", "bytes"]);
  });

  it("stops at --limit", async () => {
    expect(withoutExpiry(json<ScopeJson[]>(await attache(["du", "--limit", "1", "--json"])))).toEqual([BIG]);
    expect(withoutExpiry(json<ScopeJson[]>(await attache(["du", "--limit", "2", "--json"])))).toEqual([BIG, MID]);
  });

  it("shows named scopes, even empty ones, in the order given", async () => {
    const scopes = json<ScopeJson[]>(await attache(["du", "small", "expired-only", "never-used", "--json"]));
    expect(withoutExpiry(scopes)).toEqual([
      SMALL,
      { scope: "expired-only", attachments: 0, logicalBytes: 0, persistent: none, expirable: none, expired: { count: 1, bytes: 15 }, leases: 0 },
      { scope: "never-used", attachments: 0, logicalBytes: 0, persistent: none, expirable: none, expired: none, leases: 0 },
    ]);
    expect(scopes[2]?.nextExpiryAt).toBeNull();
  });

  it("prints a table, and says how many scopes --limit left out", async () => {
    const result = await attache(["du", "--limit", "2"]);
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^SCOPE\s+ATTACHMENTS\s+SIZE\s+PERSISTENT\s+EXPIRABLE\s+EXPIRED\s+LEASES\s+NEXT EXPIRY$/);
    expect(lines[1]).toMatch(/^big\s+2\s+32 B\s+1 \(20 B\)\s+1 \(12 B\)\s+0 \(0 B\)\s+0\s+in 23h 59m$/);
    expect(lines[2]).toMatch(/^mid\s+1\s+15 B\s+0 \(0 B\)\s+1 \(15 B\)\s+0 \(0 B\)\s+0\s+in 23h 59m$/);
    expect(lines.slice(3)).toEqual(["1 more scope not shown (raise --limit)", ""]);
    const all = await attache(["du"]);
    expect(all.stdout.split("\n").slice(1)).toEqual([
      expect.stringMatching(/^big\s/),
      expect.stringMatching(/^mid\s/),
      expect.stringMatching(/^small\s+1\s+12 B\s+0 \(0 B\)\s+1 \(12 B\)\s+1 \(4 B\)\s+0\s+in 23h 59m$/),
      "",
    ]);
  });

  it("says so when no scope holds anything live", async () => {
    const { dir: empty, cleanup: done } = tempDir();
    try {
      expect((await runCli(["--dir", empty, "du"])).stdout).toBe("no scopes with live attachments\n");
      expect(json(await runCli(["--dir", empty, "du", "--json"]))).toEqual([]);
    } finally {
      done();
    }
  });

  it("refuses a --limit that is not a positive whole number, or --limit with named scopes", async () => {
    for (const limit of ["0", "-1", "two", "1.5"]) {
      const result = await attache(["du", "--limit", limit]);
      expect(result.code, limit).toBe(2);
      expect(result.stderr).toMatch(/^attache: USAGE: .*--limit/);
    }
    const both = await attache(["du", "big", "--limit", "1"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^attache: USAGE: .*--limit/);
  });
});
