/** The tus endpoint inside the real service (buildServer): its tokens, error answers and CORS. */
import path from "node:path";
import { expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import { buildServer } from "../../src/server/app.js";
import { onCleanup, tempDir } from "../support/fixtures.js";

const TOKEN = "tus-token-for-the-service-test";

it("uploads through the service with a scoped token; another scope is 404, no token 401, and tus headers cross origins", async () => {
  const dir = tempDir("attache-tus-service-");
  const store = await openStore({ dir: path.join(dir, "store"), sweepInterval: false });
  onCleanup(() => store.close());
  const app = await buildServer(
    store,
    {
      maxSize: 1 << 20,
      uploadExpiryMs: 60_000,
      maxConcurrentUploads: 2,
      allowPrivateNetwork: false,
      fetchTimeoutMs: 10_000,
      drainTimeoutMs: 1_000,
      uploadDir: path.join(dir, "uploads"),
      corsOrigin: "https://app.example",
      logLevel: "silent",
    },
    [{ token: TOKEN, scopes: ["team:*"] }],
  );
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  onCleanup(() => app.close());
  const headers = { authorization: `Bearer ${TOKEN}`, "tus-resumable": "1.0.0", origin: "https://app.example" };
  const meta = (scope: string) => `scope ${Buffer.from(scope).toString("base64")},name ${Buffer.from("a.txt").toString("base64")}`;

  const created = await fetch(`${url}/v1/uploads/`, {
    method: "POST",
    headers: { ...headers, "upload-length": "5", "upload-metadata": meta("team:one"), "content-type": "application/offset+octet-stream" },
    body: "hello",
  });
  expect(created.status).toBe(201);
  const ref = created.headers.get("attache-ref") as string;
  expect((await store.read(ref)).toString()).toBe("hello");
  expect(created.headers.get("access-control-expose-headers")).toContain("Attache-Ref");
  const status = await fetch(new URL(created.headers.get("location") as string, url), { headers });
  expect(await status.json()).toMatchObject({ offset: 5, length: 5, ref });

  const elsewhere = await fetch(`${url}/v1/uploads/`, { method: "POST", headers: { ...headers, "upload-length": "5", "upload-metadata": meta("other") } });
  expect(elsewhere.status).toBe(404);
  expect(await elsewhere.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
  const anonymous = await fetch(`${url}/v1/uploads/`, { method: "POST", headers: { "tus-resumable": "1.0.0", "upload-length": "5", "upload-metadata": meta("team:one") } });
  expect(anonymous.status).toBe(401);
  const tooBig = await fetch(`${url}/v1/uploads/`, { method: "POST", headers: { ...headers, "upload-length": String((1 << 20) + 1), "upload-metadata": meta("team:one") } });
  expect(tooBig.status).toBe(413);
});
