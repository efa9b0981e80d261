/**
 * `attache serve` as a real child process (bin/attache.js → dist/): a 64 MiB
 * upload in bounded memory, a Python standard-library client, curl, and
 * SIGTERM during an upload (exit 0, nothing partial staged, no temp left).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import { TOKENS } from "./harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin", "attache.js");
const CLIENT = fileURLToPath(new URL("./python/client.py", import.meta.url));

interface Child {
  process: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  output: () => string;
}

/** Starts `attache serve` and waits for its "listening" log line. */
async function startChild(dir: string, args: string[] = []): Promise<Child> {
  const child = spawn(process.execPath, [BIN, "--dir", path.join(dir, "store"), "serve", "--listen", "127.0.0.1:0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (data: Buffer) => {
      output += data.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match !== null) resolve(match[1] as string);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => reject(new Error(`attache serve exited with ${code}: ${output}`)));
  });
  return { process: child, url, exited, output: () => output };
}

/** Peak resident memory of a process, from /proc (Linux). */
function peakRssBytes(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? NaN) * 1024;
}

/** A body that sends `size` bytes in 1 MiB chunks, never all in memory at once. */
function generatedBody(size: number, hash: ReturnType<typeof createHash>): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close();
      const chunk = randomBytes(Math.min(1 << 20, size - sent));
      hash.update(chunk);
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
}

describe("a child server with a tokens file", () => {
  let dir: string;
  let child: Child;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "attache-serve-proc-"));
    writeFileSync(path.join(dir, "tokens.json"), JSON.stringify([{ token: TOKENS.admin, admin: true }, { token: TOKENS.telegram, scopes: ["py:*", "curl:*"] }]));
    child = await startChild(dir, ["--tokens", path.join(dir, "tokens.json"), "--log-level", "warn"]);
  });
  afterAll(async () => {
    child.process.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!existsSync("/proc/self/status"))("stages a 96 MiB body with bounded server memory (less than the body: never buffered)", async () => {
    const pid = child.process.pid as number;
    const auth = { authorization: `Bearer ${TOKENS.admin}` };
    // Warm up: the first request loads the routes' code.
    await fetch(`${child.url}/v1/scopes/warm/attachments`, { method: "POST", body: randomBytes(1 << 20), headers: auth });
    const before = peakRssBytes(pid);
    const hash = createHash("sha256");
    const response = await fetch(`${child.url}/v1/scopes/big/attachments?name=big.bin`, { method: "POST", body: generatedBody(96 << 20, hash), headers: auth, duplex: "half" } as RequestInit);
    expect(response.status).toBe(201);
    const staged = (await response.json()) as { size: number; digest: string; id: string };
    expect(staged.size).toBe(96 << 20);
    expect(staged.digest).toBe(`sha256:${hash.digest("hex")}`);
    // Garbage chunks wait for the GC (about 40 MiB here); a buffered body would add all 96.
    expect(peakRssBytes(pid) - before).toBeLessThan(64 << 20);

    // And back, verified, as a stream.
    const download = await fetch(`${child.url}/v1/attachments/${staged.id}/content`, { headers: auth });
    const back = createHash("sha256");
    for await (const chunk of download.body as unknown as AsyncIterable<Uint8Array>) back.update(chunk);
    expect(`sha256:${back.digest("hex")}`).toBe(staged.digest);
    expect(peakRssBytes(pid) - before).toBeLessThan(64 << 20);
  });

  const python = spawnSync("python3", ["--version"]).status === 0;
  it.skipIf(!python)("serves a Python client written with urllib only", () => {
    const file = path.join(dir, "report.pdf");
    const data = randomBytes(10_000);
    writeFileSync(file, data);
    const run = spawnSync("python3", [CLIENT, child.url, TOKENS.telegram, file], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    const result = JSON.parse(run.stdout);
    const digest = createHash("sha256").update(data).digest("hex");
    expect(result).toEqual({
      stage: { status: 201, id: expect.any(String), name: "report ü.pdf", size: 10_000, digest: `sha256:${digest}` },
      read: { status: 200, sha256: digest, etag: `"${digest}"`, disposition: `attachment; filename="report u.pdf"; filename*=UTF-8''report%20%C3%BC.pdf` },
      range: { status: 206, bytes: data.subarray(0, 4).toString("hex") },
      release: { status: 200, body: { released: true } },
      gone: { status: 404, code: "NOT_FOUND" },
    });
  });
  if (!python) it("skips the Python client: python3 is missing", () => undefined);

  const curl = spawnSync("curl", ["--version"]).status === 0;
  it.skipIf(!curl)("works with curl: upload with --data-binary, download with -r, -f on 404", () => {
    const file = path.join(dir, "photo.bin");
    writeFileSync(file, randomBytes(5000));
    const auth = ["-H", `Authorization: Bearer ${TOKENS.telegram}`];
    const staged = spawnSync("curl", ["-sS", "-f", ...auth, "--data-binary", `@${file}`, `${child.url}/v1/scopes/curl:1/attachments?name=photo.bin`], { encoding: "utf8" });
    expect(staged.status, staged.stderr).toBe(0);
    const { id, contentType } = JSON.parse(staged.stdout) as { id: string; contentType: string };
    // curl's default Content-Type (application/x-www-form-urlencoded) is not taken as declared.
    expect(contentType).toBe("application/octet-stream");
    const part = spawnSync("curl", ["-sS", "-f", ...auth, "-r", "10-19", `${child.url}/v1/attachments/${id}/content`]);
    expect(Buffer.from(part.stdout)).toEqual(readFileSync(file).subarray(10, 20));
    const out = path.join(dir, "download");
    const whole = spawnSync("curl", ["-sS", "-f", ...auth, "-o", out, "-D", "-", `${child.url}/v1/attachments/${id}/content`], { encoding: "utf8" });
    expect(whole.stdout).toMatch(/content-disposition: attachment; filename="photo.bin"/i);
    expect(readFileSync(out)).toEqual(readFileSync(file));
    const missing = spawnSync("curl", ["-sS", "-f", ...auth, `${child.url}/v1/attachments/01hzzzzzzzzzzzzzzzzzzzzzzz`]);
    expect(missing.status).toBe(22);
    const tooBig = spawnSync("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", `${child.url}/v1/scopes`], { encoding: "utf8" });
    expect(tooBig.stdout).toBe("401");
  });
  if (!curl) it("skips the curl checks: curl is missing", () => undefined);
});

describe("SIGTERM", () => {
  it("during a slow upload: drains, aborts the upload past --drain-timeout, exits 0, stages nothing and leaves no temp", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "attache-serve-term-"));
    const child = await startChild(dir, ["--drain-timeout", "500ms", "--log-level", "info"]);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        // A slow client: 64 KiB every 50 ms, for ever.
        await new Promise((resolve) => setTimeout(resolve, 50));
        sent += 65536;
        controller.enqueue(new Uint8Array(65536).fill(1));
      },
    });
    const upload = fetch(`${child.url}/v1/scopes/slow/attachments`, { method: "POST", body, duplex: "half" } as RequestInit).then(
      async (response) => ({ status: response.status, body: await response.text() }),
      (err: Error) => ({ status: 0, body: err.message }),
    );
    await expect.poll(() => sent, { timeout: 5000 }).toBeGreaterThan(4 * 65536);
    const store = path.join(dir, "store");
    const tmpFiles = () => (existsSync(path.join(store, "tmp")) ? readdirSync(path.join(store, "tmp")) : []);
    expect(tmpFiles().length).toBeGreaterThan(0);

    child.process.kill("SIGTERM");
    // A new connection is refused while draining.
    const answer = await upload;
    expect(await child.exited).toBe(0);
    expect(answer.status === 503 || answer.status === 0, JSON.stringify(answer)).toBe(true);
    if (answer.status === 503) expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "ABORTED" } });
    expect(child.output()).toMatch(/drain timeout/);

    const reopened = await openStore({ dir: store, sweepInterval: false });
    expect(await reopened.list()).toEqual([]);
    expect(tmpFiles()).toEqual([]);
    await reopened.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("with nothing in flight exits 0 at once", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "attache-serve-term-"));
    const child = await startChild(dir, ["--log-level", "warn"]);
    expect((await fetch(`${child.url}/healthz`)).status).toBe(200);
    const started = Date.now();
    child.process.kill("SIGINT");
    expect(await child.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a non-loopback --listen without --tokens at start", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "attache-serve-term-"));
    const run = spawnSync(process.execPath, [BIN, "--dir", path.join(dir, "store"), "serve", "--listen", "0.0.0.0:0"], { encoding: "utf8" });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/INVALID_ARGUMENT: Without --tokens/);
    rmSync(dir, { recursive: true, force: true });
  });
});
