/**
 * `store.stage(new URL(…))` end to end: the bytes, name, type and provenance
 * of a fetched URL, and after every kind of failure, nothing left behind
 * (no attachment, no blob, no temp file).
 */
import { deflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { tempFiles } from "../helpers/store-audit.js";
import { embeddedHarness, sha256 } from "../support/fixtures.js";
import { loopbackServer } from "./loopback-server.js";

const allow = { fetch: { allowPrivateNetwork: true } };

/** A 1×1 PNG, for a signature the sniffer knows. */
function png(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    return Buffer.concat([length, Buffer.from(type), data, Buffer.alloc(4)]);
  };
  const header = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
  return Buffer.concat([Buffer.from("\x89PNG\r\n\x1a\n", "latin1"), chunk("IHDR", header), chunk("IDAT", deflateSync(Buffer.from([0, 0]))), chunk("IEND", Buffer.alloc(0))]);
}

async function expectNothingKept(store: Store, dir: string): Promise<void> {
  const metrics = await store.metrics();
  expect(metrics).toMatchObject({ attachments: 0, blobs: 0, storedBytes: 0 });
  expect(tempFiles(dir)).toEqual([]);
}

describe("stage(new URL(…))", () => {
  it("stages the body, named from the URL, typed by its bytes, with the origin as provenance", async () => {
    const image = png();
    const server = await loopbackServer((_req, res) => {
      // The server's type is wrong; the signature wins.
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(image.length) }).end(image);
    });
    const store = await embeddedHarness().open();
    const staged = await store.stage(new URL(server.url("/img/pixel.png?token=abc")), { ...allow, scope: "web" });
    expect(staged).toMatchObject({ name: "pixel.png", contentType: "image/png", size: image.length, scope: "web", created: true });
    expect(staged.source).toBe(`http://127.0.0.1:${server.port}`);
    expect(staged.checksum).toBe(sha256(image));
    expect((await store.read(staged.ref)).equals(image)).toBe(true);
  });

  it("takes the name from Content-Disposition, the type from the response below sniffing, and keeps a given source", async () => {
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/markdown; charset=utf-8", "content-disposition": 'attachment; filename="NOTES"' }).end("# Title\n\ntext\n");
    });
    const store = await embeddedHarness().open();
    const staged = await store.stage(new URL(server.url("/download?id=7")), { ...allow, source: "crawler" });
    expect(staged).toMatchObject({ name: "NOTES", contentType: "text/markdown", source: "crawler" });
  });

  it("follows redirects and sends the caller's headers to the first origin only", async () => {
    const cdn = await loopbackServer((_req, res) => res.end("from the cdn"));
    const api = await loopbackServer((_req, res) => res.writeHead(302, { location: cdn.url("/blob/report.txt") }).end());
    const store = await embeddedHarness().open();
    const staged = await store.stage(new URL(api.url("/files/1")), { fetch: { allowPrivateNetwork: true, headers: { Authorization: "Bearer t" } } });
    expect(staged.name).toBe("report.txt");
    expect((await store.read(staged.ref)).toString()).toBe("from the cdn");
    expect(api.seen[0]?.headers.authorization).toBe("Bearer t");
    expect(cdn.seen[0]?.headers.authorization).toBeUndefined();
  });

  it("leaves nothing behind after a refusal, an error status, a size limit, a timeout or an abort", async () => {
    const server = await loopbackServer((req, res) => {
      if (req.url === "/missing") res.writeHead(404).end();
      else if (req.url === "/declared-big") res.writeHead(200, { "content-length": "4096" }).end(Buffer.alloc(4096));
      else if (req.url === "/streamed-big") {
        res.writeHead(200);
        res.write(Buffer.alloc(3000));
        res.end(Buffer.alloc(3000));
      } else {
        res.writeHead(200);
        res.write(Buffer.alloc(1000, 7)); // then stalls
      }
    });
    const harness = embeddedHarness();
    const store = await harness.open({ maxSize: 4000 });
    const cases: [string, URL, object, string][] = [
      ["loopback refused", new URL(server.url("/x")), {}, "INVALID_SOURCE"],
      ["404", new URL(server.url("/missing")), allow, "INVALID_SOURCE"],
      ["Content-Length over maxSize", new URL(server.url("/declared-big")), allow, "TOO_LARGE"],
      ["streamed over maxSize", new URL(server.url("/streamed-big")), allow, "TOO_LARGE"],
      ["idle timeout", new URL(server.url("/stall")), { fetch: { allowPrivateNetwork: true, timeout: { idle: 150 } } }, "INVALID_SOURCE"],
      ["abort", new URL(server.url("/stall")), { ...allow, signal: AbortSignal.timeout(150) }, "ABORTED"],
      ["move mode", new URL(server.url("/x")), { ...allow, mode: "move" }, "INVALID_ARGUMENT"],
      ["bad header", new URL(server.url("/x")), { fetch: { headers: { Host: "evil" } } }, "INVALID_ARGUMENT"],
      ["ftp", new URL("ftp://127.0.0.1/x"), allow, "INVALID_SOURCE"],
    ];
    for (const [what, url, options, code] of cases) {
      const err = await store.stage(url, options).catch((e: unknown) => e);
      expect(err, what).toMatchObject({ code });
      await expectNothingKept(store, harness.dir);
    }
  });
});
