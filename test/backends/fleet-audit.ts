/**
 * Looks at a fleet store (a PostgreSQL schema and an S3 bucket prefix) from
 * the outside once its workers are done: what they hold reads back verified,
 * then a sweep past the grace period, then the bucket and the manifest's
 * tables read directly. Reports every way they break the invariants.
 */
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { GetObjectCommand, paginateListObjectsV2 } from "@aws-sdk/client-s3";
import type pg from "pg";
import { isAttacheError, openStore, type Store, type SweepReport } from "../../src/index.js";
import { s3BlobStore } from "../../src/backends/s3/index.js";
import { postgresManifest } from "../../src/backends/postgres/index.js";
import { tempDir } from "../support/fixtures.js";
import type { S3TestServer } from "../support/s3.js";

export const HOUR = 3_600_000;

/** Where a fleet store lives, and how its processes open it. */
export interface FleetLocation {
  url: string;
  schema: string;
  server: S3TestServer;
  prefix: string;
  /** The grace period every process of the fleet opens the store with. */
  gracePeriod: string;
}

/** An attachment some process was told was staged and has not released. */
export interface Held {
  ref: string;
  digest: string;
}

export interface FleetAudit {
  /** Held attachments that no longer read (before or after the sweep). */
  lost: string[];
  /** Held or live attachments that read other bytes. */
  corrupt: string[];
  /** Every other broken invariant: leftovers in the bucket or the manifest. */
  problems: string[];
  /** What the sweeps past the grace period did, one report per pass. */
  sweeps: SweepReport[];
  /** Distinct digests of the live attachments after the sweep, and objects under blobs/. */
  liveDigests: number;
  blobObjects: number;
  liveAttachments: number;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A store on the fleet as one more host: its own directory and cacheDir. */
export function openFleetStore(at: FleetLocation, clock?: () => number): Promise<Store> {
  const dir = tempDir("attache-fleet-audit-");
  return openStore({
    dir,
    cacheDir: path.join(dir, "cache"),
    sweepInterval: false,
    gracePeriod: at.gracePeriod,
    ...(clock === undefined ? {} : { clock }),
    manifest: postgresManifest({ connectionString: at.url, schema: at.schema, max: 4 }),
    blobStore: s3BlobStore({ client: at.server.client(), bucket: at.server.bucket, prefix: at.prefix }),
  });
}

/** Every key under `prefix` in the server's bucket. */
export async function bucketKeys(server: S3TestServer, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of paginateListObjectsV2({ client: server.client() }, { Bucket: server.bucket, Prefix: prefix })) {
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
  }
  return keys.sort();
}

async function checkReads(store: Store, held: Held[], when: string, out: FleetAudit): Promise<void> {
  /** Held attachments read back verified here: not read a second time as live ones. */
  const verified = new Set<string>();
  for (const h of held) {
    const bytes = await store.read(h.ref).catch((err: unknown) => err);
    if (!Buffer.isBuffer(bytes)) out.lost.push(`${when}: held ${h.ref} does not read: ${isAttacheError(bytes) ? bytes.code : String(bytes)}`);
    else if (sha256(bytes) !== h.digest) out.corrupt.push(`${when}: held ${h.ref} reads other bytes`);
    else verified.add(`${h.ref} ${h.digest}`);
  }
  for (const a of await store.list()) {
    if (verified.has(`${a.ref} ${a.checksum}`)) continue;
    const bytes = await store.read(a.ref).catch((err: unknown) => err);
    // A short-lived shared attachment may expire between list() and read().
    const expiredMeanwhile = isAttacheError(bytes, "NOT_FOUND") && a.expiresAt !== null && a.expiresAt.getTime() <= Date.now() + HOUR;
    if (!Buffer.isBuffer(bytes)) {
      if (!expiredMeanwhile) out.problems.push(`${when}: live ${a.ref} does not read: ${isAttacheError(bytes) ? bytes.code : String(bytes)}`);
    } else if (sha256(bytes) !== a.checksum) out.corrupt.push(`${when}: live ${a.ref} reads other bytes`);
  }
}

/**
 * With every process of the fleet ended (or killed): held and live
 * attachments read back verified; a sweep past the grace period (a clock an
 * hour ahead) until it finds nothing more; then held attachments still read,
 * exactly one object per live digest under blobs/ and nothing else, no temp
 * object, no multipart upload, no condemned blob row, no intent, and a blob
 * row for exactly the live digests.
 */
export async function auditFleet(at: FleetLocation, held: Held[], admin: pg.Pool): Promise<FleetAudit> {
  const out: FleetAudit = { lost: [], corrupt: [], problems: [], sweeps: [], liveDigests: 0, blobObjects: 0, liveAttachments: 0 };
  const auditor = await openFleetStore(at);
  try {
    await checkReads(auditor, held, "before the sweep", out);
  } finally {
    await auditor.close();
  }
  const later = Date.now() + HOUR;
  const sweeper = await openFleetStore(at, () => later);
  try {
    for (let pass = 0; pass < 5; pass++) {
      const report = await sweeper.sweep();
      out.sweeps.push(report);
      if (report.expired + report.blobsDeleted + report.orphansReclaimed === 0) break;
    }
    await checkReads(sweeper, held, "after the sweep", out);
    const live = await sweeper.list();
    out.liveAttachments = live.length;
    const liveDigests = [...new Set(live.map((a) => a.checksum))].sort();
    out.liveDigests = liveDigests.length;

    const keys = await bucketKeys(at.server, at.prefix);
    const blobRoot = `${at.prefix}blobs/sha256/`;
    const blobDigests: string[] = [];
    for (const key of keys) {
      const m = /^([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(key.slice(blobRoot.length));
      if (key.startsWith(blobRoot) && m !== null && m[3]?.startsWith(`${m[1]}${m[2]}`)) blobDigests.push(m[3]);
      else out.problems.push(`object left in the bucket: ${key}`);
    }
    out.blobObjects = blobDigests.length;
    const table = (name: string) => `"${at.schema}".${name}`;
    // Small blobs live in the manifest (inline rows, their bytes in blob_bytes): never an object beside them.
    const inline = new Set((await admin.query<{ digest: string }>(`SELECT digest FROM ${table("blobs")} WHERE inline`)).rows.map((r) => r.digest));
    const missing = liveDigests.filter((d) => !inline.has(d) && !blobDigests.includes(d));
    const unused = blobDigests.filter((d) => !liveDigests.includes(d));
    const doubled = blobDigests.filter((d) => inline.has(d));
    if (missing.length > 0) out.problems.push(`live digests without an object under blobs/ or inline bytes: ${missing.join(", ")}`);
    if (unused.length > 0) out.problems.push(`objects under blobs/ no live attachment uses: ${unused.join(", ")}`);
    if (doubled.length > 0) out.problems.push(`inline blobs with an object under blobs/ too: ${doubled.join(", ")}`);
    const badBytes = await admin.query<{ digest: string }>(
      `SELECT b.digest FROM ${table("blobs")} b LEFT JOIN ${table("blob_bytes")} x ON x.digest = b.digest
        WHERE b.inline AND (x.digest IS NULL OR encode(sha256(x.bytes), 'hex') <> b.digest OR length(x.bytes) <> b.size)`,
    );
    if (badBytes.rows.length > 0) out.problems.push(`inline blobs whose bytes are missing or wrong: ${badBytes.rows.map((r) => r.digest).join(", ")}`);
    for (const upload of at.server.pendingUploads()) {
      if (upload.key.startsWith(at.prefix)) out.problems.push(`multipart upload left: ${upload.key} (${upload.uploadId})`);
    }

    const condemned = await admin.query<{ digest: string }>(`SELECT digest FROM ${table("blobs")} WHERE condemned_by IS NOT NULL`);
    if (condemned.rows.length > 0) out.problems.push(`condemned blob rows left: ${condemned.rows.map((r) => r.digest).join(", ")}`);
    const intents = await admin.query<{ id: string }>(`SELECT id FROM ${table("intents")}`);
    if (intents.rows.length > 0) out.problems.push(`intents left: ${intents.rows.length}`);
    // Every lease the workers took ends within 10 minutes: an hour later, the sweep has reclaimed them all.
    const leases = await admin.query<{ id: string }>(`SELECT id FROM ${table("leases")}`);
    if (leases.rows.length > 0) out.problems.push(`stale leases left: ${leases.rows.length}`);
    // Every process but the sweeper has ended or was killed: a writer that beat on the real clock is gone.
    const writers = await admin.query<{ id: string }>(`SELECT id FROM ${table("writers")} WHERE heartbeat_at < $1`, [later - HOUR / 2]);
    if (writers.rows.length > 0) out.problems.push(`writers of ended processes left: ${writers.rows.length}`);
    const rows = (await admin.query<{ digest: string }>(`SELECT digest FROM ${table("blobs")} ORDER BY digest`)).rows.map((r) => r.digest);
    if (rows.join() !== liveDigests.join()) out.problems.push(`blob rows (${rows.length}) are not the live digests (${liveDigests.length})`);
  } finally {
    await sweeper.close();
  }
  return out;
}

/** Objects under blobs/ and how many of them do not hash to their key. */
export interface BlobObjectsAudit {
  objects: number;
  bytes: number;
  problems: string[];
}

/**
 * Reads every object under the fleet's blobs/ back and hashes it: a blob
 * object must hold the bytes its key names (no half-written or wrong object
 * is ever visible under blobs/, whatever was killed when). With `seen`
 * (key → ETag, time and size of the objects hashed before), objects not
 * written since are skipped.
 */
export async function hashBlobObjects(at: FleetLocation, seen?: Map<string, string>): Promise<BlobObjectsAudit> {
  const out: BlobObjectsAudit = { objects: 0, bytes: 0, problems: [] };
  const client = at.server.client();
  const blobRoot = `${at.prefix}blobs/sha256/`;
  const listed: { key: string; version: string }[] = [];
  for await (const page of paginateListObjectsV2({ client }, { Bucket: at.server.bucket, Prefix: `${at.prefix}blobs/` })) {
    for (const o of page.Contents ?? []) if (o.Key !== undefined) listed.push({ key: o.Key, version: `${o.ETag ?? ""} ${o.LastModified?.getTime() ?? ""} ${o.Size ?? ""}` });
  }
  for (const { key, version } of listed) {
    // Hashed already, and not written since (a rewrite changes the ETag or the time).
    if (seen?.get(key) === version) continue;
    seen?.set(key, version);
    const digest = key.slice(blobRoot.length).split("/").at(-1) ?? "";
    const got = await client.send(new GetObjectCommand({ Bucket: at.server.bucket, Key: key })).catch((err: unknown) => err);
    if (!(typeof got === "object" && got !== null && "Body" in got)) {
      // Deleted between the listing and the read: only a sweep does that, and none runs now.
      out.problems.push(`blob object ${key} does not read: ${String(got)}`);
      continue;
    }
    const bytes = await (got as { Body: { transformToByteArray(): Promise<Uint8Array> } }).Body.transformToByteArray();
    out.objects++;
    out.bytes += bytes.length;
    if (sha256(bytes) !== digest) out.problems.push(`blob object ${key} holds ${bytes.length} bytes hashing to ${sha256(bytes)}`);
  }
  return out;
}

/** What killed processes left in flight under the fleet's prefix: multipart uploads and temp objects. */
export async function inFlight(at: FleetLocation): Promise<{ uploads: number; temps: number }> {
  return {
    uploads: at.server.pendingUploads().filter((u) => u.key.startsWith(at.prefix)).length,
    temps: (await bucketKeys(at.server, `${at.prefix}tmp/`)).length,
  };
}

/** Removes the cache directories the workers used (their contents are no longer needed). */
export function removeDirs(dirs: string[]): void {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
}
