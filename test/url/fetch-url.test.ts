/**
 * fetchUrl against real loopback servers: redirects checked per hop, headers
 * dropped across origins, the pinned connection, size limits, timeouts,
 * statuses and names. Private addresses are allowed (`allowPrivateNetwork`,
 * or the `trustedHost` seam for the first hop of a guarded chain).
 */
import type { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { fetchUrl, redirectTarget, type FetchUrlOptions } from "../../src/url/fetch-url.js";
import { resolveUrlFetchOptions, type ResolvedAddress, type UrlFetchOptions } from "../../src/url/fetch-options.js";
import { eventually, loopbackServer } from "./loopback-server.js";

function options(fetch: UrlFetchOptions = {}, extra: Partial<FetchUrlOptions> = {}): FetchUrlOptions {
  return { ...resolveUrlFetchOptions({ allowPrivateNetwork: true, ...fetch }), ...extra };
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A fake DNS: every name in `names` answers 127.0.0.1; it records the names it was asked. */
function fakeDns(names: Record<string, string> = {}) {
  const asked: string[] = [];
  const resolver = async (name: string): Promise<ResolvedAddress[]> => {
    asked.push(name);
    const address = names[name];
    if (address === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    return [{ address, family: address.includes(":") ? 6 : 4 }];
  };
  return { asked, resolver };
}

describe("fetchUrl", () => {
  it("returns the body with its name, type, length and final URL", async () => {
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200, { "content-type": "Text/Plain; charset=utf-8", "content-length": "5" });
      res.end("hello");
    });
    const fetched = await fetchUrl(new URL(server.url("/files/notes%20v2.txt?x=1")), options());
    expect(await readAll(fetched.body)).toEqual(Buffer.from("hello"));
    expect(fetched).toMatchObject({ name: "notes v2.txt", contentType: "text/plain", length: 5 });
    expect(fetched.finalUrl.href).toBe(server.url("/files/notes%20v2.txt?x=1"));
    expect(server.seen[0]?.headers["accept-encoding"]).toBe("identity");
  });

  it("connects to the address it resolved and checked, naming the host it was given", async () => {
    const server = await loopbackServer((_req, res) => res.end("pinned"));
    // The system resolver knows no public.test: only the pinned lookup can reach the server.
    const dns = fakeDns({ "public.test": "127.0.0.1" });
    const fetched = await fetchUrl(new URL(`http://public.test:${server.port}/a`), options({ resolver: dns.resolver }));
    expect((await readAll(fetched.body)).toString()).toBe("pinned");
    expect(server.seen[0]?.headers.host).toBe(`public.test:${server.port}`);
    expect(dns.asked).toEqual(["public.test"]);
  });

  it("refuses a name resolving to loopback without allowPrivateNetwork, before connecting", async () => {
    const server = await loopbackServer((_req, res) => res.end("secret"));
    const dns = fakeDns({ "public.test": "127.0.0.1" });
    const err = await fetchUrl(new URL(`http://public.test:${server.port}/`), options({ resolver: dns.resolver, allowPrivateNetwork: false })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_SOURCE", retryable: false });
    expect((err as Error).message).toMatch(/public\.test resolves to 127\.0\.0\.1, which is a loopback address/);
    expect(server.seen).toHaveLength(0);
  });

  it("refuses a loopback literal without allowPrivateNetwork", async () => {
    const server = await loopbackServer((_req, res) => res.end("secret"));
    for (const host of ["127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]", "localhost"]) {
      await expect(fetchUrl(new URL(`http://${host}:${server.port}/`), options({ allowPrivateNetwork: false }))).rejects.toMatchObject({ code: "INVALID_SOURCE" });
    }
    expect(server.seen).toHaveLength(0);
  });

  it("refuses schemes other than http and https, and credentials in the URL", async () => {
    await expect(fetchUrl(new URL("ftp://example.com/x"), options())).rejects.toThrow(/only http and https/);
    await expect(fetchUrl(new URL("http://user:pw@127.0.0.1:9/x"), options())).rejects.toThrow(/credentials in the URL/);
  });
});

describe("redirects", () => {
  it("follows a chain, resolving and checking every hop's host", async () => {
    const target = await loopbackServer((_req, res) => res.end("arrived"));
    const start = await loopbackServer((req, res) => {
      const codes: Record<string, [number, string]> = {
        "/a": [301, "/b"],
        "/b": [302, `http://second.test:${target.port}/c`],
      };
      const [status, location] = codes[req.url ?? ""] ?? [404, ""];
      res.writeHead(status, { location }).end();
    });
    const dns = fakeDns({ "first.test": "127.0.0.1", "second.test": "127.0.0.1" });
    const fetched = await fetchUrl(new URL(`http://first.test:${start.port}/a`), options({ resolver: dns.resolver }));
    expect((await readAll(fetched.body)).toString()).toBe("arrived");
    expect(fetched.finalUrl.href).toBe(`http://second.test:${target.port}/c`);
    expect(fetched.name).toBe("c");
    expect(dns.asked).toEqual(["first.test", "first.test", "second.test"]);
  });

  it("refuses a redirect to a private address even when the chain starts on an allowed host", async () => {
    const internal = await loopbackServer((_req, res) => res.end("internal secret"));
    const locations = [
      `http://127.0.0.1:${internal.port}/`,
      `http://rebind.test:${internal.port}/`,
      `http://[::ffff:7f00:1]:${internal.port}/`,
      `http://2130706433:${internal.port}/`,
      `http://localhost:${internal.port}/`,
      "http://169.254.169.254/latest/meta-data/",
      "http://metadata.google.internal/computeMetadata/v1/",
    ];
    const start = await loopbackServer((req, res) => {
      res.writeHead(307, { location: locations[Number(req.url?.slice(1))] }).end();
    });
    const dns = fakeDns({ "start.test": "127.0.0.1", "rebind.test": "127.0.0.1" });
    // The guard is on; only start.test (the chain's first hop, on loopback) is let through.
    const guarded = options({ resolver: dns.resolver, allowPrivateNetwork: false }, { trustedHost: (host) => host === "start.test" });
    for (const [index] of locations.entries()) {
      const err = await fetchUrl(new URL(`http://start.test:${start.port}/${index}`), guarded).catch((e: unknown) => e);
      expect(err, locations[index]).toMatchObject({ code: "INVALID_SOURCE", retryable: false });
      expect((err as Error).message).toMatch(/loopback|link-local|metadata|local or internal/);
    }
    expect(start.seen).toHaveLength(locations.length);
    expect(internal.seen).toHaveLength(0);
  });

  it("stops after maxRedirects", async () => {
    const server = await loopbackServer((req, res) => {
      const n = Number(req.url?.slice(1));
      if (n < 6) res.writeHead(302, { location: `/${n + 1}` }).end();
      else res.end("six hops");
    });
    await expect(fetchUrl(new URL(server.url("/0")), options())).rejects.toThrow(/redirects more than 5 times/);
    const fetched = await fetchUrl(new URL(server.url("/0")), options({ maxRedirects: 6 }));
    expect((await readAll(fetched.body)).toString()).toBe("six hops");
    await expect(fetchUrl(new URL(server.url("/5")), options({ maxRedirects: 0 }))).rejects.toMatchObject({ code: "INVALID_SOURCE" });
  });

  it("refuses a redirect to another scheme, and from https to http", async () => {
    const server = await loopbackServer((_req, res) => res.writeHead(308, { location: "file:///etc/passwd" }).end());
    await expect(fetchUrl(new URL(server.url("/")), options())).rejects.toThrow(/a redirect to file: is not fetched/);
    expect(() => redirectTarget(new URL("https://example.com/a"), "http://example.com/b")).toThrow(/from https to http/);
    expect(redirectTarget(new URL("http://example.com/a"), "https://example.com/b").href).toBe("https://example.com/b");
    expect(redirectTarget(new URL("https://example.com/a/b"), "../c?d").href).toBe("https://example.com/c?d");
  });

  it("sends the caller's headers on its origin only, and never again once the chain left it", async () => {
    const other = await loopbackServer((req, res) => {
      if (req.url === "/back") res.writeHead(302, { location: `http://127.0.0.1:${home.port}/end` }).end();
      else res.end("other");
    });
    const home = await loopbackServer((req, res) => {
      if (req.url === "/start") res.writeHead(302, { location: "/same" }).end();
      else if (req.url === "/same") res.writeHead(302, { location: `http://127.0.0.1:${other.port}/back` }).end();
      else res.end("home");
    });
    const headers = { Authorization: "Bearer s3cret", "X-Api-Key": "k" };
    const fetched = await fetchUrl(new URL(home.url("/start")), options({ headers }));
    expect((await readAll(fetched.body)).toString()).toBe("home");
    expect(home.seen.map((r) => [r.path, r.headers.authorization, r.headers["x-api-key"]])).toEqual([
      ["/start", "Bearer s3cret", "k"],
      ["/same", "Bearer s3cret", "k"],
      ["/end", undefined, undefined],
    ]);
    expect(other.seen.map((r) => [r.path, r.headers.authorization, r.headers["x-api-key"]])).toEqual([["/back", undefined, undefined]]);
  });
});

describe("limits", () => {
  it("refuses a Content-Length over maxSize before reading the body", async () => {
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200, { "content-length": "1000" });
      res.write(Buffer.alloc(10)); // the rest never comes: a fetch that waited for it would time out
    });
    const err = await fetchUrl(new URL(server.url("/big")), options({ timeout: { idle: "5s" } }, { maxSize: 999 })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "TOO_LARGE" });
    await eventually(() => server.openConnections() === 0);
  });

  it("stops a chunked body once it passes maxSize", async () => {
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200); // no length: chunked
      const timer = setInterval(() => res.write(Buffer.alloc(64 * 1024, 1)), 5);
      res.on("close", () => clearInterval(timer));
    });
    const fetched = await fetchUrl(new URL(server.url("/stream")), options({}, { maxSize: 200_000 }));
    expect(fetched.length).toBeNull();
    await expect(readAll(fetched.body)).rejects.toMatchObject({ code: "TOO_LARGE" });
    await eventually(() => server.openConnections() === 0);
  });

  it("accepts a body of exactly maxSize", async () => {
    const server = await loopbackServer((_req, res) => {
      res.write(Buffer.alloc(300));
      res.end(Buffer.alloc(200));
    });
    const fetched = await fetchUrl(new URL(server.url("/")), options({}, { maxSize: 500 }));
    expect((await readAll(fetched.body)).length).toBe(500);
  });

  it("gives up on a body that stalls (idle timeout), as retryable", async () => {
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("some"); // then silence
    });
    const fetched = await fetchUrl(new URL(server.url("/slow")), options({ timeout: { idle: 200 } }));
    const err = await readAll(fetched.body).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_SOURCE", retryable: true });
    expect((err as Error).message).toMatch(/idle timeout of 200 ms/);
    await eventually(() => server.openConnections() === 0);
  });

  it("gives up on headers that never come (idle timeout)", async () => {
    const server = await loopbackServer(() => undefined);
    await expect(fetchUrl(new URL(server.url("/")), options({ timeout: { idle: 150 } }))).rejects.toThrow(/idle timeout/);
  });

  it("gives up on a body that trickles past the total timeout", async () => {
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write("."), 20);
      res.on("close", () => clearInterval(timer));
    });
    const fetched = await fetchUrl(new URL(server.url("/trickle")), options({ timeout: { idle: "5s", total: 300 } }));
    const err = await readAll(fetched.body).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_SOURCE", retryable: true });
    expect((err as Error).message).toMatch(/total timeout of 300 ms/);
    await eventually(() => server.openConnections() === 0);
  });

  it("counts name resolution in the connect timeout", async () => {
    const hanging = () => new Promise<ResolvedAddress[]>(() => undefined);
    await expect(fetchUrl(new URL("http://slow-dns.test/"), options({ resolver: hanging, timeout: { connect: 100 } }))).rejects.toThrow(/connect timeout of 100 ms/);
  });

  it("reports a body cut short as retryable", async () => {
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("only part", () => res.socket?.destroy());
    });
    const fetched = await fetchUrl(new URL(server.url("/cut")), options());
    await expect(readAll(fetched.body)).rejects.toMatchObject({ code: "INVALID_SOURCE", retryable: true });
  });

  it("aborts on the caller's signal, in the body", async () => {
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200);
      res.write("start");
    });
    const controller = new AbortController();
    const fetched = await fetchUrl(new URL(server.url("/")), options({}, { signal: controller.signal }));
    setTimeout(() => controller.abort(new Error("user gave up")), 50);
    await expect(readAll(fetched.body)).rejects.toMatchObject({ code: "ABORTED" });
    await eventually(() => server.openConnections() === 0);
  });

  it("reports a refused connection as retryable", async () => {
    const server = await loopbackServer((_req, res) => res.end());
    const port = server.port;
    const closed = await loopbackServer((_req, res) => res.end());
    void closed;
    // A port nothing listens on: bind one, learn it, close it.
    const { createServer } = await import("node:net");
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const free = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    expect(free).not.toBe(port);
    await expect(fetchUrl(new URL(`http://127.0.0.1:${free}/`), options())).rejects.toMatchObject({ code: "INVALID_SOURCE", retryable: true });
  });
});

describe("statuses and names", () => {
  it("refuses 404 (not retryable) and 503 (retryable), with the status", async () => {
    const server = await loopbackServer((req, res) => res.writeHead(req.url === "/gone" ? 404 : 503).end("no"));
    await expect(fetchUrl(new URL(server.url("/gone")), options())).rejects.toMatchObject({ code: "INVALID_SOURCE", status: 404, retryable: false });
    await expect(fetchUrl(new URL(server.url("/busy")), options())).rejects.toMatchObject({ code: "INVALID_SOURCE", status: 503, retryable: true });
    await expect(fetchUrl(new URL(server.url("/gone")), options())).rejects.toThrow(/answered 404 Not Found/);
  });

  it("names the file from Content-Disposition, filename* first", async () => {
    const server = await loopbackServer((req, res) => {
      const disposition: Record<string, string> = {
        "/both": `attachment; filename="resume.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`,
        "/plain": `attachment; filename="quarterly \\"report\\".xlsx"`,
        "/token": "inline; filename=photo.jpg",
      };
      res.writeHead(200, { "content-disposition": disposition[req.url ?? ""] ?? "attachment" }).end("x");
    });
    const name = async (path: string) => (await fetchUrl(new URL(server.url(path)), options())).name;
    expect(await name("/both")).toBe("résumé.pdf");
    expect(await name("/plain")).toBe('quarterly "report".xlsx');
    expect(await name("/token")).toBe("photo.jpg");
    expect(await name("/download/fallback.bin")).toBe("fallback.bin");
    expect(await name("/")).toBeNull();
  });
});
