import "../helpers/file-blobs.js";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, ATTACHMENT_KEYS, BIN, errorCodeOf, json, runCli, runProcess, tempDir } from "./cli-harness.js";

interface AttachmentJson {
  ref: string;
  id: string;
  scope: string;
  name: string;
  size: number;
  contentType: string;
  path: string;
  expiresAt: string | null;
  metadata: Record<string, unknown>;
  source: string | null;
  persist: boolean;
  deduplicated?: boolean;
}

const dirs: (() => void)[] = [];
afterAll(() => dirs.forEach((cleanup) => cleanup()));

/** A fresh store directory and a runner bound to it. */
function freshStore() {
  const { dir, cleanup } = tempDir();
  dirs.push(cleanup);
  const store = path.join(dir, "store");
  const attache = (args: string[], input?: string | Uint8Array) => runCli(["--dir", store, ...args], input === undefined ? {} : { input });
  return { dir, store, attache };
}

beforeAll(assertCliBuilt);

describe.concurrent("attache commands", () => {
  it("stages stdin and cats the same bytes back", async () => {
    const { attache } = freshStore();
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const staged = await attache(["stage", "-", "--name", "all-bytes.bin", "--json"], bytes);
    expect(staged.code).toBe(0);
    const [attachment] = json<AttachmentJson[]>(staged);
    expect(Object.keys(attachment as object)).toEqual([...ATTACHMENT_KEYS, "created", "deduplicated"]);
    expect(attachment).toMatchObject({ name: "all-bytes.bin", size: 256, scope: "default", created: true, deduplicated: false });
    const cat = await attache(["cat", (attachment as AttachmentJson).ref]);
    expect(cat.code).toBe(0);
    expect(cat.stdoutBytes.equals(bytes)).toBe(true);
  });

  it("stages several files with every stage option, and dedups identical bytes", async () => {
    const { dir, attache } = freshStore();
    writeFileSync(path.join(dir, "a.txt"), "alpha\n");
    writeFileSync(path.join(dir, "b.json"), '{"b":1}\n');
    const args = ["--scope", "chat:1", "--ttl", "30m", "--source", "telegram", "--metadata", '{"k":[1,2]}'];
    const first = await attache(["stage", path.join(dir, "a.txt"), path.join(dir, "b.json"), ...args, "--json"]);
    expect(first.code).toBe(0);
    const staged = json<AttachmentJson[]>(first);
    expect(staged.map((a) => a.name)).toEqual(["a.txt", "b.json"]);
    expect(staged[0]).toMatchObject({ scope: "chat:1", source: "telegram", metadata: { k: [1, 2] }, contentType: "text/plain" });
    const ttl = Date.parse(staged[0]?.expiresAt as string) - Date.now();
    expect(ttl).toBeGreaterThan(29 * 60_000);
    expect(ttl).toBeLessThanOrEqual(30 * 60_000);

    const again = json<AttachmentJson[]>(await attache(["stage", path.join(dir, "a.txt"), "--scope", "chat:1", "--json"]));
    expect(again[0]).toMatchObject({ ref: staged[0]?.ref, created: false, deduplicated: true });
    const elsewhere = json<AttachmentJson[]>(await attache(["stage", path.join(dir, "a.txt"), "--persist", "--json"]));
    expect(elsewhere[0]?.ref).not.toBe(staged[0]?.ref);
    expect(elsewhere[0]).toMatchObject({ created: true, deduplicated: true, persist: true, expiresAt: null });
  });

  it("says in words what each stage did: a new attachment, the scope's existing one, or a new one for bytes already stored", async () => {
    const { dir, attache } = freshStore();
    writeFileSync(path.join(dir, "notes.md"), "# notes\n");
    const outcome = async (...args: string[]) => {
      const result = await attache(["stage", path.join(dir, "notes.md"), ...args]);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout;
    };
    expect(await outcome("--scope", "a")).toMatch(/new attachment/);
    expect(await outcome("--scope", "a", "--name", "renamed.md")).toMatch(/existing attachment/);
    expect(await outcome("--scope", "b")).toMatch(/new, bytes already stored/);
  });

  it("prints human tables with sizes and relative times, and bare refs with --quiet", async () => {
    const { dir, attache } = freshStore();
    writeFileSync(path.join(dir, "big.txt"), "x".repeat(1536));
    const human = await attache(["stage", path.join(dir, "big.txt"), "--ttl", "30m"]);
    expect(human.code).toBe(0);
    const [header, row] = human.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^REF\s+SCOPE\s+NAME\s+SIZE\s+TYPE\s+EXPIRES\s+OUTCOME$/);
    expect(row).toMatch(/^attache:\/\/\w{26}\s+default\s+big\.txt\s+1\.5 KiB\s+text\/plain\s+in 29m\s+new attachment$/);
    // Columns line up: each header starts where its cells start.
    expect(row?.indexOf("default")).toBe(header?.indexOf("SCOPE"));

    const quiet = await attache(["stage", "-q", "-"], "quiet\n");
    expect(quiet.stdout).toMatch(/^attache:\/\/\w{26}\n$/);

    const ls = await attache(["ls"]);
    expect(ls.stdout.split("\n")[0]).toMatch(/^ID\s+SCOPE\s+NAME\s+SIZE\s+TYPE\s+CREATED\s+EXPIRES$/);
    expect(ls.stdout).toMatch(/big\.txt\s+1\.5 KiB\s+text\/plain\s+(now|\d+s ago)\s+in 29m\n/);
    expect(ls.stdout).toMatch(/attachment\s+6 B\s+text\/plain\s+(now|\d+s ago)\s+in 23h 59m\n/); // "quiet\n" from stdin is text
  });

  it("lists with --scope, --limit, --after and --expired", async () => {
    const { dir, attache } = freshStore();
    for (const name of ["one", "two", "three"]) writeFileSync(path.join(dir, name), name);
    expect((await attache(["stage", path.join(dir, "one"), path.join(dir, "two"), "--scope", "s1", "-q"])).code).toBe(0);
    expect((await attache(["stage", path.join(dir, "three"), "--scope", "s2", "-q"])).code).toBe(0);
    expect((await attache(["stage", "-", "--ttl", "0", "--name", "gone", "-q"], "gone")).code).toBe(0);

    const all = json<AttachmentJson[]>(await attache(["ls", "--json"]));
    expect(all.map((a) => a.name)).toEqual(["one", "two", "three"]);
    for (const a of all) expect(Object.keys(a)).toEqual(ATTACHMENT_KEYS);
    expect(json<AttachmentJson[]>(await attache(["ls", "--json", "--scope", "s1"])).map((a) => a.name)).toEqual(["one", "two"]);
    expect(json<AttachmentJson[]>(await attache(["ls", "--json", "--limit", "1"])).map((a) => a.name)).toEqual(["one"]);
    const after = json<AttachmentJson[]>(await attache(["ls", "--json", "--after", all[0]?.id as string]));
    expect(after.map((a) => a.name)).toEqual(["two", "three"]);
    const withExpired = await attache(["ls", "--expired"]);
    expect(withExpired.stdout).toMatch(/\sgone\s+4 B\s.*\sexpired \S+ ago\n/);
    expect(json<unknown[]>(await attache(["ls", "--json", "--scope", "nobody"]))).toEqual([]);
    expect((await attache(["ls", "--scope", "nobody"])).stdout).toBe("no attachments\n");
  });

  it("shows, resolves and confines refs to a scope", async () => {
    const { attache } = freshStore();
    const [staged] = json<AttachmentJson[]>(await attache(["stage", "-", "--scope", "mine", "--name", "n.txt", "--json"], "hi"));
    const ref = (staged as AttachmentJson).ref;

    const show = await attache(["show", ref, "--json"]);
    expect(Object.keys(json(show) as object)).toEqual(ATTACHMENT_KEYS);
    const human = await attache(["show", ref]);
    expect(human.stdout).toMatch(/^ref\s+attache:\/\//);
    expect(human.stdout).toMatch(/\nsize\s+2 B \(2 bytes\)\n/);
    expect(human.stdout).toMatch(/\nexpires\s+\S+ \(in 23h 59m\)\n/);

    const resolved = await attache(["path", ref, "--json"]);
    const { path: file, attachment } = json<{ path: string; attachment: AttachmentJson }>(resolved);
    expect(Object.keys(json(resolved) as object)).toEqual(["path", "attachment"]);
    expect(readFileSync(file, "utf8")).toBe("hi");
    expect(attachment.ref).toBe(ref);
    expect((await attache(["path", (staged as AttachmentJson).id])).stdout).toBe(`${file}\n`);

    const other = await attache(["show", ref, "--scope", "theirs"]);
    expect(other.code).toBe(1);
    expect(errorCodeOf(other)).toBe("NOT_FOUND");
    expect((await attache(["cat", ref, "--scope", "mine"])).stdout).toBe("hi");
  });

  it("releases with rm and release, then sweeps", async () => {
    const { attache } = freshStore();
    const refs: string[] = [];
    for (const text of ["a", "b", "c"]) refs.push((await attache(["stage", "-", "--scope", "s", "-q"], text)).stdout.trim());

    const rm = await attache(["rm", refs[0] as string, "--json"]);
    expect(json(rm)).toEqual([{ ref: refs[0], released: true }]);
    const again = await attache(["rm", (refs[0] as string).toUpperCase().replace("ATTACHE://", "")]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^REF\s+RESULT\nattache:\/\/\w{26}\s+not live/);

    expect(json(await attache(["release", "s", "--json"]))).toEqual({ scope: "s", released: 2 });
    expect((await attache(["release", "s"])).stdout).toBe('released 0 attachments of scope "s"\n');

    expect((await attache(["stage", "-", "--ttl", "0", "-q"], "expires")).code).toBe(0);
    const sweep = json<Record<string, number>>(await attache(["sweep", "--json"]));
    expect(Object.keys(sweep)).toEqual(["expired", "blobsDeleted", "bytesFreed", "orphansReclaimed", "remoteDeleted", "remoteFailed", "durationMs"]);
    expect(sweep).toMatchObject({ expired: 1, blobsDeleted: 1, bytesFreed: 7 });
    expect((await attache(["sweep"])).stdout).toMatch(/^expired\s+0 attachments dropped\nblobs deleted\s+0 \(0 B freed\)\n/);
  });

  it("verifies, fails with INTEGRITY_ERROR on damage, and repairs", async () => {
    const { attache } = freshStore();
    const ref = (await attache(["stage", "-", "-q"], "precious bytes")).stdout.trim();
    const clean = await attache(["verify", "--json"]);
    expect(clean.code).toBe(0);
    expect(Object.keys(json(clean) as object)).toEqual(["blobsChecked", "bytesChecked", "corrupt", "missing", "orphanFiles", "repaired", "manifestProblems"]);

    const blob = (await attache(["path", ref])).stdout.trim();
    writeFileSync(blob, "tampered bytes");
    const damaged = await attache(["verify"]);
    expect(damaged.code).toBe(1);
    expect(errorCodeOf(damaged)).toBe("INTEGRITY_ERROR");
    expect(damaged.stdout).toMatch(/corrupt\s+1\n/);
    expect(damaged.stdout).toMatch(/\ncorrupt\s+sha256:[0-9a-f]{64}\n/);
    const cat = await attache(["cat", ref]);
    expect(cat.code).toBe(1);
    expect(errorCodeOf(cat)).toBe("INTEGRITY_ERROR");

    const repaired = await attache(["verify", "--repair", "--json"]);
    expect(repaired.code).toBe(0);
    expect(json<{ repaired: number }>(repaired).repaired).toBeGreaterThan(0);
    expect(errorCodeOf(await attache(["show", ref]))).toBe("NOT_FOUND");
  });

  it("resets only with --yes", async () => {
    const { store, attache } = freshStore();
    await attache(["stage", "-", "-q"], "keep me?");
    const refused = await attache(["reset"]);
    expect(refused.code).toBe(2);
    expect(json<unknown[]>(await attache(["ls", "--json"]))).toHaveLength(1);
    const reset = await attache(["reset", "--yes", "--json"]);
    expect(json(reset)).toEqual({ dir: store, reset: true });
    expect(json<unknown[]>(await attache(["ls", "--json"]))).toEqual([]);
  });

  it("uses $ATTACHE_DIR, else ./.attache", async () => {
    const { dir } = freshStore();
    const viaEnv = await runCli(["stage", "-", "-q"], { input: "env", env: { ATTACHE_DIR: path.join(dir, "from-env") } });
    expect(viaEnv.code).toBe(0);
    expect(existsSync(path.join(dir, "from-env", "manifest.db"))).toBe(true);
    const viaCwd = await runCli(["ls", "--json"], { cwd: dir });
    expect(viaCwd.code).toBe(0);
    expect(existsSync(path.join(dir, ".attache", "manifest.db"))).toBe(true);
  });

  it("stops quietly when the reader of stdout goes away", async () => {
    const { attache, store } = freshStore();
    const ref = (await attache(["stage", "-", "-q"], Buffer.alloc(4 << 20, 7))).stdout.trim();
    const shell = await runProcess("bash", ["-c", `"${process.execPath}" "${BIN}" --dir "${store}" cat ${ref} | head -c 3 >/dev/null; echo "\${PIPESTATUS[0]}"`]);
    expect(shell.stdout).toBe("0\n");
    expect(shell.stderr).toBe("");
  });
});
