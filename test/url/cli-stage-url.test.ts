/**
 * `attache stage http://…` through the real binary: the guard on by default,
 * `--allow-private-network`, `--header` to the URL's origin, `--fetch-timeout`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, errorCodeOf, json, runCli, tempDir } from "../cli/cli-harness.js";
import { loopbackServer, type LoopbackServer } from "./loopback-server.js";

describe("attache stage <url>", () => {
  const { dir, cleanup } = tempDir("attache-cli-url-");
  const attache = (args: string[]) => runCli(["--dir", dir, ...args]);
  let server: LoopbackServer;
  beforeAll(async () => {
    assertCliBuilt();
    server = await loopbackServer((req, res) => {
      if (req.url === "/stall") {
        res.writeHead(200);
        res.write("partial"); // then silence
      } else if (req.url === "/away") res.writeHead(302, { location: `http://localhost:${server.port}/report.csv` }).end();
      else res.writeHead(200, { "content-type": "text/csv" }).end("a,b\n1,2\n");
    });
  });
  afterAll(cleanup);

  it("refuses a loopback URL by default (exit 1, INVALID_SOURCE), and stages it with --allow-private-network", async () => {
    const refused = await attache(["stage", server.url("/report.csv")]);
    expect(refused.code).toBe(1);
    expect(errorCodeOf(refused)).toBe("INVALID_SOURCE");
    expect(refused.stderr).toMatch(/127\.0\.0\.1 is a loopback address/);
    expect(server.seen).toHaveLength(0);

    const staged = await attache(["--json", "stage", server.url("/report.csv"), "--allow-private-network", "--header", "Authorization: Bearer t", "--header", "X-Trace:1"]);
    expect(staged.code, staged.stderr).toBe(0);
    const [attachment] = json<{ name: string; contentType: string; size: number; source: string; created: boolean }[]>(staged);
    expect(attachment).toMatchObject({ name: "report.csv", contentType: "text/csv", size: 8, source: `http://127.0.0.1:${server.port}`, created: true });
    expect(server.seen[0]?.headers).toMatchObject({ authorization: "Bearer t", "x-trace": "1" });
  });

  it("checks redirects with the same guard", async () => {
    const result = await attache(["stage", server.url("/away"), "--allow-private-network", "-q"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^attache:\/\/\w+\n$/);
  });

  it("gives up after --fetch-timeout, keeping nothing", async () => {
    const result = await attache(["stage", server.url("/stall"), "--allow-private-network", "--fetch-timeout", "300ms"]);
    expect(result.code).toBe(1);
    expect(errorCodeOf(result)).toBe("INVALID_SOURCE");
    expect(result.stderr).toMatch(/timeout of 300 ms/);
    const list = await attache(["--json", "ls", "--scope", "default"]);
    // The two stages above (the same bytes: one attachment), nothing of the stalled one.
    expect(json<{ name: string }[]>(list).map((a) => a.name)).toEqual(["report.csv"]);
  });

  it("refuses bad flags as usage errors", async () => {
    expect((await attache(["stage", server.url("/x"), "--header", "no colon"])).code).toBe(2);
    expect((await attache(["stage", server.url("/x"), "--fetch-timeout", "0"])).code).toBe(2);
    expect((await attache(["stage", server.url("/x"), "--mode", "move"])).code).toBe(2);
  });
});
