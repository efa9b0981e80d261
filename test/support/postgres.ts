/**
 * A PostgreSQL server for the tests that need one.
 *
 * With PGTEST_URL set (`postgres://user@127.0.0.1:5432/db`, a superuser on a
 * database the tests may fill with schemas), the tests use that server: CI
 * starts one cluster for the whole run and exports its URL. Otherwise the
 * first test of a file that asks for it starts a private cluster: `initdb`
 * into a temp directory (as the `postgres` user when running as root), then
 * `pg_ctl start` on a free loopback port with its socket in that directory
 * and durability off (fsync, synchronous_commit, full_page_writes: the tests
 * crash nothing but the backends they terminate). The file's `afterAll`
 * stops it and removes the directory.
 *
 * Missing binaries fail the tests with a message saying what to install —
 * unless ATTACHE_SKIP_POSTGRES=1, which skips them (say so where you set it).
 * Each test gets a schema of its own, dropped after the test.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, onTestFinished } from "vitest";

const run = promisify(execFile);

/** True when the PostgreSQL tests are to be skipped (ATTACHE_SKIP_POSTGRES=1). */
export const SKIP_POSTGRES = process.env.ATTACHE_SKIP_POSTGRES === "1";

/** The directories that hold `initdb` and `pg_ctl`, best first: PATH, then Debian's versioned directories (newest first). */
function binaryDirectories(): string[] {
  const fromPath = (process.env.PATH ?? "").split(path.delimiter).filter((dir) => dir !== "");
  const debian = "/usr/lib/postgresql";
  const versions = fs.existsSync(debian)
    ? fs.readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)).map((v) => path.join(debian, v, "bin"))
    : [];
  return [...fromPath, ...versions];
}

function findBinaries(): { initdb: string; pgCtl: string } {
  for (const dir of binaryDirectories()) {
    const initdb = path.join(dir, "initdb");
    const pgCtl = path.join(dir, "pg_ctl");
    if (fs.existsSync(initdb) && fs.existsSync(pgCtl)) return { initdb, pgCtl };
  }
  throw new Error(
    "The PostgreSQL tests need a server: no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin. " +
      "Install PostgreSQL 15 (Debian: apt-get install postgresql-15), or set PGTEST_URL to a server to test against, " +
      "or set ATTACHE_SKIP_POSTGRES=1 to skip these tests.",
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Cluster {
  url: string;
  stop(): Promise<void>;
}

/** Starts a private cluster; see the file's comment. */
async function startCluster(): Promise<Cluster> {
  const { initdb, pgCtl } = findBinaries();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "attache-pg-"));
  const data = path.join(root, "data");
  const log = path.join(root, "server.log");
  // PostgreSQL refuses to run as root: run its tools as the postgres user, who must own the directory.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
    fs.chownSync(root, uid, gid);
  }
  const tool = (binary: string, args: string[]) => (asRoot ? run("runuser", ["-u", "postgres", "--", binary, ...args]) : run(binary, args));
  await tool(initdb, ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
  let port: number;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const settings = [
      "-c listen_addresses=127.0.0.1", `-p ${port}`, `-c unix_socket_directories=${root}`,
      "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=300",
    ].join(" ");
    try {
      await tool(pgCtl, ["-D", data, "-l", log, "-w", "-t", "60", "-o", settings, "start"]);
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
  // A test run cut short must not leave a server running.
  process.once("exit", stopSync);
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query("CREATE DATABASE attache_test");
  await admin.end();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/attache_test`,
    async stop() {
      process.off("exit", stopSync);
      stopSync();
    },
  };
}

/** What a test file uses: the server's URL, a fresh schema per test, and a superuser connection to inspect or tamper with. */
export interface PostgresForTests {
  /** The database's URL (the cluster starts on the first call). */
  url(): Promise<string>;
  /** A fresh schema name (the manifest creates the schema), dropped when the test finishes. */
  freshSchema(): Promise<string>;
  /** A pool of superuser connections to the test database, ended after the file. */
  admin(): Promise<pg.Pool>;
}

/** Call once at the top of a test file: the cluster (or PGTEST_URL's server) for its tests, stopped after them. */
export function postgresForTests(): PostgresForTests {
  let cluster: Promise<Cluster> | undefined;
  let adminPool: pg.Pool | undefined;
  const url = async () => {
    const given = process.env.PGTEST_URL;
    if (given !== undefined && given !== "") return given;
    // Started once; a failure is kept, so every test fails at once with its message.
    cluster ??= startCluster();
    return (await cluster).url;
  };
  const admin = async () => {
    if (adminPool === undefined) {
      adminPool = new pg.Pool({ connectionString: await url(), max: 4, allowExitOnIdle: true });
      // Tests terminate backends on purpose; an idle admin connection that dies is simply replaced.
      adminPool.on("error", () => undefined);
    }
    return adminPool;
  };
  afterAll(async () => {
    await adminPool?.end().catch(() => undefined);
    if (cluster !== undefined) await (await cluster.catch(() => undefined))?.stop();
  });
  return {
    url,
    admin,
    async freshSchema() {
      const pool = await admin();
      const schema = `t_${randomBytes(6).toString("hex")}`;
      onTestFinished(async () => {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      });
      return schema;
    },
  };
}
