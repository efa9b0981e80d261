/* global fetch */
// Scenario: `attache serve` against a bare node:http server doing the same
// work on the same store (two processes on one store directory), on
// loopback: requests/s for a metadata GET and a 4 KiB content GET (autocannon),
// MB/s for 64 MiB uploads and downloads. The ratio bare/serve is the
// service's overhead (targets: ≤ 1.5× for content, ≤ 2× for metadata).
//
//   node bench/scenarios/serve.js [--config '{"seconds":5,"connections":10,"bigMiB":64,"rounds":3}']
//   node bench/scenarios/serve.js --op bare <dir>     (the bare server, run by the parent)
import { spawn } from "node:child_process";
import http from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { emit, loadAttache, log, REPO_DIR, rmrf } from "../lib/common.js";

const SELF = fileURLToPath(import.meta.url);
const configAt = process.argv.indexOf("--config");
const config = { seconds: 5, connections: 10, bigMiB: 64, rounds: 3, ...(configAt >= 0 ? JSON.parse(process.argv[configAt + 1]) : {}) };
const opAt = process.argv.indexOf("--op");
if (opAt >= 0) await bare(process.argv[opAt + 2]);
else await parent();

/** The same work as the service's routes, with nothing around it. */
async function bare(dir) {
  const { openStore } = await loadAttache();
  const store = await openStore({ dir });
  const iso = (a) => ({ ...a, createdAt: a.createdAt.toISOString(), updatedAt: a.updatedAt.toISOString(), expiresAt: a.expiresAt?.toISOString() ?? null });
  const server = http.createServer(async (req, res) => {
    try {
      const [, , id, what] = req.url.split("/");
      if (req.method === "POST") {
        const result = await store.stage(req);
        res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(iso(result)));
      } else if (what === "content") {
        const a = await store.get(id);
        const stream = await store.open(a.ref);
        res.writeHead(200, { "content-type": a.contentType, "content-length": a.size, etag: `"${a.checksum}"` });
        stream.pipe(res);
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(iso(await store.get(id))));
      }
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  server.listen(0, "127.0.0.1", () => process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`));
}

function startChild(args) {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (data) => {
      out += data;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve({ child, url: match[1] });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
}

async function requestsPerSecond(url) {
  const result = await autocannon({ url, connections: config.connections, duration: config.seconds, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

async function uploadMBps(url, body) {
  const started = performance.now();
  const response = await fetch(url, { method: "POST", body });
  if (response.status >= 300) throw new Error(`upload: ${response.status} ${await response.text()}`);
  return body.length / 1e6 / ((performance.now() - started) / 1000);
}

async function downloadMBps(url) {
  const started = performance.now();
  const response = await fetch(url);
  let n = 0;
  for await (const chunk of response.body) n += chunk.length;
  return n / 1e6 / ((performance.now() - started) / 1000);
}

function median(values) {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

async function parent() {
  const dir = mkdtempSync(path.join(tmpdir(), "attache-bench-serve-"));
  const { openStore } = await loadAttache();
  const store = await openStore({ dir, sweepInterval: false });
  const small = await store.stage(randomBytes(4096), { scope: "bench", name: "small.bin" });
  const bigBytes = randomBytes(config.bigMiB << 20);
  const big = await store.stage(bigBytes, { scope: "bench", name: "big.bin" });
  await store.close();

  const serve = await startChild([path.join(REPO_DIR, "bin", "attache.js"), "--dir", dir, "serve", "--listen", "127.0.0.1:0", "--log-level", "warn"]);
  const plain = await startChild([SELF, "--op", "bare", dir]);
  const results = {};
  try {
    const targets = {
      serve: { meta: `${serve.url}/v1/attachments/${small.id}`, content: (id) => `${serve.url}/v1/attachments/${id}/content`, upload: `${serve.url}/v1/scopes/up/attachments` },
      bare: { meta: `${plain.url}/v1/${small.id}/meta`, content: (id) => `${plain.url}/v1/${id}/content`, upload: `${plain.url}/v1/up` },
    };
    for (const [name, t] of Object.entries(targets)) {
      await requestsPerSecond(t.meta); // warm-up, not counted
      const metaRps = await requestsPerSecond(t.meta);
      const contentRps = await requestsPerSecond(t.content(small.id));
      const uploads = [];
      const downloads = [];
      for (let round = 0; round < config.rounds; round++) {
        // Fresh bytes each round: a dedup hit writes nothing and would flatter the number.
        const body = randomBytes(config.bigMiB << 20);
        uploads.push(await uploadMBps(t.upload, body));
        downloads.push(await downloadMBps(t.content(big.id)));
      }
      results[name] = { metaRps, contentRps, uploadMBps: median(uploads), downloadMBps: median(downloads) };
      log(name, JSON.stringify(results[name]));
    }
  } finally {
    serve.child.kill("SIGTERM");
    plain.child.kill("SIGTERM");
  }
  const overhead = {
    metadata: results.bare.metaRps / results.serve.metaRps,
    content4k: results.bare.contentRps / results.serve.contentRps,
    upload64m: results.bare.uploadMBps / results.serve.uploadMBps,
    download64m: results.bare.downloadMBps / results.serve.downloadMBps,
  };
  emit({
    scenario: "serve",
    config,
    results,
    overhead,
    targets: { metadata: 2, content4k: 1.5, upload64m: 1.5, download64m: 1.5 },
    digestOfBig: createHash("sha256").update(bigBytes).digest("hex").slice(0, 12),
  });
  await rmrf(dir);
}
