// A private PostgreSQL cluster on loopback, shared by the tests
// (test/support/postgres.ts) and the benchmarks (bench/scenarios/fleet.js):
// plain JavaScript so that both can import it without a build step.
//
//   <tmp>/attache-pg-XXXXXX/
//     data/          initdb's cluster, owned by the postgres user when running as root
//     server.log     pg_ctl's log (printed when the server does not start)
//     .s.PGSQL.<port> the server's socket (unix_socket_directories)
//
// `initdb` runs as the `postgres` user when this process is root (PostgreSQL
// refuses to run as root); the server listens on 127.0.0.1 at a free port and
// is stopped (immediate mode) and its directory removed by `stop()`, or when
// this process exits.
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

/** Durability off: for tests, which crash nothing but the backends they terminate. */
export const NO_DURABILITY_SETTINGS = Object.freeze({ fsync: "off", synchronous_commit: "off", full_page_writes: "off" });

/** The directories that may hold `initdb` and `pg_ctl`, best first: PATH, then Debian's versioned directories (newest first). */
function binaryDirectories() {
  const fromPath = (process.env.PATH ?? "").split(path.delimiter).filter((dir) => dir !== "");
  const debian = "/usr/lib/postgresql";
  const versions = fs.existsSync(debian)
    ? fs.readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)).map((v) => path.join(debian, v, "bin"))
    : [];
  return [...fromPath, ...versions];
}

/** `initdb` and `pg_ctl` from the same directory, or null when PostgreSQL is not installed. */
export function findPostgresBinaries() {
  for (const dir of binaryDirectories()) {
    const initdb = path.join(dir, "initdb");
    const pgCtl = path.join(dir, "pg_ctl");
    if (fs.existsSync(initdb) && fs.existsSync(pgCtl)) return { initdb, pgCtl };
  }
  return null;
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a private cluster with an empty `database`; see the file's comment. */
export async function startPostgresCluster({ binaries, database = "attache_test", settings = {}, maxConnections = 300 }) {
  const { initdb, pgCtl } = binaries;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "attache-pg-"));
  const data = path.join(root, "data");
  const log = path.join(root, "server.log");
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
    fs.chownSync(root, uid, gid);
  }
  const tool = (binary, args) => (asRoot ? run("runuser", ["-u", "postgres", "--", binary, ...args]) : run(binary, args));
  // --no-sync: the cluster is thrown away with the run, whatever `settings` say about the server's own writes.
  await tool(initdb, ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
  let port;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const options = [
      "-c listen_addresses=127.0.0.1", `-p ${port}`, `-c unix_socket_directories=${root}`,
      ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
      `-c max_connections=${maxConnections}`,
    ].join(" ");
    try {
      await tool(pgCtl, ["-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start"]);
      break;
    } catch (err) {
      // Another process took the port between freePort() and the server's bind: try another.
      if (attempt >= 3) {
        const serverLog = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
        throw new Error(`pg_ctl start failed: ${String(err)}\n${serverLog}`, { cause: err });
      }
    }
  }
  const stopSync = () => {
    try {
      if (asRoot) execFileSync("runuser", ["-u", "postgres", "--", pgCtl, "-D", data, "-m", "immediate", "-w", "stop"], { stdio: "ignore" });
      else execFileSync(pgCtl, ["-D", data, "-m", "immediate", "-w", "stop"], { stdio: "ignore" });
    } catch {
      // Stopped already.
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  // A run cut short must not leave a server running.
  process.once("exit", stopSync);
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
  } catch (err) {
    await admin.end().catch(() => undefined);
    process.off("exit", stopSync);
    stopSync();
    throw err;
  }
  await admin.end();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    port,
    async stop() {
      process.off("exit", stopSync);
      stopSync();
    },
  };
}
