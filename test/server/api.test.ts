/**
 * The JSON API end to end through real HTTP: every route of the store's
 * operations and its statuses, the error shape, the limits.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stageBytes, startTestServer, type TestServer } from "./harness.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ maxSize: 1024 * 1024, maxConcurrentUploads: 2 });
});
afterAll(() => server.close());

const sha = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

describe("staging a streamed body", () => {
  it("answers 201 with the flat StageResult, then 200 for the same bytes in the same scope", async () => {
    const first = await server.request("/v1/scopes/chat%3A1/attachments?name=notes.txt&ttl=30m", { method: "POST", body: "hello, world\n" });
    expect(first.status).toBe(201);
    const staged = (await first.json()) as Record<string, unknown>;
    expect(staged).toMatchObject({ scope: "chat:1", name: "notes.txt", size: 13, contentType: "text/plain;charset=UTF-8", created: true, deduplicated: false, persist: false, ttlMs: 1_800_000 });
    expect(staged.digest).toBe(`sha256:${sha("hello, world\n")}`);
    expect(typeof staged.expiresAt).toBe("string");
    expect(new Date(staged.createdAt as string).toISOString()).toBe(staged.createdAt);

    const again = await server.request("/v1/scopes/chat%3A1/attachments?persist=true", { method: "POST", body: "hello, world\n" });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id: staged.id, created: false, deduplicated: true, persist: true, expiresAt: null });
  });

  it("stages a JSON body as bytes, typed from the Content-Type header, and ?contentType= wins over it", async () => {
    const json = await server.request("/v1/scopes/chat%3A1/attachments?name=data.json", { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } });
    expect(json.status).toBe(201);
    expect(await json.json()).toMatchObject({ size: 7, contentType: "application/json" });
    const declared = await server.request("/v1/scopes/chat%3A1/attachments?contentType=text/csv", { method: "POST", body: "a,b\n", headers: { "content-type": "application/json" } });
    expect(await declared.json()).toMatchObject({ contentType: "text/csv" });
  });

  it("stages an empty body", async () => {
    const response = await server.request("/v1/scopes/chat%3A1/attachments?name=empty", { method: "POST" });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ size: 0 });
  });

  it("answers 422 CHECKSUM_MISMATCH for a wrong checksum, and keeps nothing", async () => {
    const response = await server.request(`/v1/scopes/chat%3A422/attachments?checksum=${sha("other")}`, { method: "POST", body: "these bytes" });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ error: { code: "CHECKSUM_MISMATCH" } });
    expect(((await (await server.request("/v1/scopes/chat%3A422/attachments")).json()) as { items: unknown[] }).items).toEqual([]);
    const ok = await server.request(`/v1/scopes/chat%3A422/attachments?checksum=sha256:${sha("these bytes").toUpperCase()}`, { method: "POST", body: "these bytes" });
    expect(ok.status).toBe(201);
  });

  it("answers 413 TOO_LARGE when Content-Length is over --max-size, before reading the body", async () => {
    const response = await server.request("/v1/scopes/big/attachments", { method: "POST", body: new Uint8Array(1024 * 1024 + 1) });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: "TOO_LARGE" } });
  });

  it("answers 413 for a chunked body once it crosses --max-size, and keeps nothing", async () => {
    const chunk = new Uint8Array(256 * 1024).fill(7);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Never ends on its own: only the server's refusal stops it.
        sent += chunk.byteLength;
        controller.enqueue(chunk);
        if (sent > 64 * 1024 * 1024) controller.close();
      },
    });
    const response = await server.request("/v1/scopes/big/attachments", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: "TOO_LARGE" } });
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    expect(((await (await server.request("/v1/scopes/big/attachments")).json()) as { items: unknown[] }).items).toEqual([]);
  });

  it("answers 400 INVALID_ARGUMENT for a bad ttl, an unknown query member, a malformed checksum", async () => {
    for (const query of ["?ttl=soon", "?colour=blue", "?checksum=abc", "?persist=maybe"]) {
      const response = await server.request(`/v1/scopes/s/attachments${query}`, { method: "POST", body: "x" });
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("INVALID_ARGUMENT");
    }
  });

  it("answers 503 BUSY with Retry-After past --max-uploads", async () => {
    const hold: Array<() => void> = [];
    const slow = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array([1]));
          hold.push(() => controller.close());
        },
      });
    const inFlight = [0, 1].map(() => server.request("/v1/scopes/busy/attachments", { method: "POST", body: slow(), duplex: "half" } as RequestInit));
    await expect.poll(() => hold.length).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await server.request("/v1/scopes/busy/attachments", { method: "POST", body: "x" });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toMatchObject({ error: { code: "BUSY" } });
    for (const close of hold) close();
    expect((await Promise.all(inFlight)).map((r) => r.status).sort()).toEqual([200, 201]);
    expect((await server.request("/v1/scopes/busy/attachments", { method: "POST", body: "y" })).status).toBe(201);
  });
});

describe("reading, changing and releasing", () => {
  it("gets, patches and releases one attachment by id", async () => {
    const staged = await stageBytes(server, "crud", "crud bytes", "?name=a.txt");
    const got = await server.request(`/v1/attachments/${staged.id}`);
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({ id: staged.id, name: "a.txt", scope: "crud" });
    // The ref form works too, URL-encoded.
    expect((await server.request(`/v1/attachments/${encodeURIComponent(staged.ref)}`)).status).toBe(200);

    const patched = await server.request(`/v1/attachments/${staged.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "b.txt", metadata: { chat: 42 }, ttl: "Infinity" }),
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ name: "b.txt", metadata: { chat: 42 }, expiresAt: null, ttlMs: null });
    const badPatch = await server.request(`/v1/attachments/${staged.id}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ colour: 1 }) });
    expect(badPatch.status).toBe(400);

    const released = await server.request(`/v1/attachments/${staged.id}`, { method: "DELETE" });
    expect(released.status).toBe(200);
    expect(await released.json()).toEqual({ released: true });
    const gone = await server.request(`/v1/attachments/${staged.id}`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
    expect((await server.request(`/v1/attachments/${staged.id}`, { method: "DELETE" })).status).toBe(404);
  });

  it("answers 400 for a malformed id and 404 for a well-formed unknown one", async () => {
    expect((await server.request("/v1/attachments/not-an-id")).status).toBe(400);
    expect((await server.request("/v1/attachments/01hzzzzzzzzzzzzzzzzzzzzzzz")).status).toBe(404);
  });

  it("pages a scope's attachments with limit and after", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await stageBytes(server, "paged", `page ${i}`)).id);
    const first = (await (await server.request("/v1/scopes/paged/attachments?limit=2")).json()) as { items: { id: string }[]; next: string | null };
    expect(first.items.map((a) => a.id)).toEqual(ids.slice(0, 2));
    expect(first.next).toBe(ids[1]);
    const rest = (await (await server.request(`/v1/scopes/paged/attachments?limit=10&after=${first.next}`)).json()) as { items: { id: string }[]; next: string | null };
    expect(rest.items.map((a) => a.id)).toEqual(ids.slice(2));
    expect(rest.next).toBeNull();
    expect((await server.request("/v1/scopes/paged/attachments?limit=0")).status).toBe(400);
  });

  it("lists scopes with counts, recent attachments newest first, and releases a scope", async () => {
    const a = await stageBytes(server, "views:1", "view one");
    const b = await stageBytes(server, "views:1", "view two!");
    const scopes = (await (await server.request("/v1/scopes?limit=1000")).json()) as { items: { scope: string; attachments: number; logicalBytes: number }[] };
    expect(scopes.items.find((s) => s.scope === "views:1")).toMatchObject({ attachments: 2, logicalBytes: 17 });
    const recent = (await (await server.request("/v1/attachments?limit=2")).json()) as { items: { id: string }[]; next: string };
    expect(recent.items.map((x) => x.id)).toEqual([b.id, a.id]);
    const older = (await (await server.request(`/v1/attachments?limit=2&after=${recent.next}`)).json()) as { items: { id: string }[] };
    expect(older.items.every((x) => x.id < a.id)).toBe(true);

    const released = await server.request("/v1/scopes/views%3A1", { method: "DELETE" });
    expect(await released.json()).toEqual({ released: 2 });
    expect((await server.request(`/v1/attachments/${a.id}`)).status).toBe(404);
  });

  it("renders an attachment inline for a target, 415 for a type the target cannot take", async () => {
    const staged = await stageBytes(server, "render", "plain words\n", "?name=words.txt");
    const part = await server.request(`/v1/attachments/${staged.id}/render?target=anthropic`);
    expect(part.status).toBe(200);
    expect(await part.json()).toMatchObject({ type: "document", source: { type: "text", data: "plain words\n" } });
    expect((await server.request(`/v1/attachments/${staged.id}/render?target=codex`)).status).toBe(415);
    expect((await server.request(`/v1/attachments/${staged.id}/render?target=nope`)).status).toBe(400);
  });

  it("sweeps and verifies (an admin without a tokens file)", async () => {
    const sweep = await server.request("/v1/sweep", { method: "POST" });
    expect(sweep.status).toBe(200);
    expect(Object.keys((await sweep.json()) as object)).toEqual(["expired", "blobsDeleted", "bytesFreed", "orphansReclaimed", "remoteDeleted", "remoteFailed", "durationMs"]);
    const verify = await server.request("/v1/verify", { method: "POST" });
    expect(verify.status).toBe(200);
    expect(await verify.json()).toMatchObject({ corrupt: [], repaired: 0, manifestProblems: [] });
  });

  it("answers /healthz, and 404 NOT_FOUND JSON for an unknown route", async () => {
    expect(await (await server.request("/healthz")).json()).toEqual({ status: "ok" });
    const missing = await server.request("/v2/nothing");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
  });
});
