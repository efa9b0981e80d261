/**
 * Looks at a fleet store (a PostgreSQL schema and an S3 bucket prefix) from
 * the outside once its workers are done: what they hold reads back verified,
 * then a sweep past the grace period, then the bucket and the manifest's
 * tables read directly. Reports every way they break the invariants.
 */
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { paginateListObjectsV2 } from "@aws-sdk/client-s3";
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
  for (const h of held) {
    const bytes = await store.read(h.ref).catch((err: unknown) => err);
    if (!Buffer.isBuffer(bytes)) out.lost.push(`${when}: held ${h.ref} does not read: ${isAttacheError(bytes) ? bytes.code : String(bytes)}`);
    else if (sha256(bytes) !== h.digest) out.corrupt.push(`${when}: held ${h.ref} reads other bytes`);
  }
  for (const a of await store.list()) {
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
    const missing = liveDigests.filter((d) => !blobDigests.includes(d));
    const unused = blobDigests.filter((d) => !liveDigests.includes(d));
    if (missing.length > 0) out.problems.push(`live digests without an object under blobs/: ${missing.join(", ")}`);
    if (unused.length > 0) out.problems.push(`objects under blobs/ no live attachment uses: ${unused.join(", ")}`);
    for (const upload of at.server.pendingUploads()) {
      if (upload.key.startsWith(at.prefix)) out.problems.push(`multipart upload left: ${upload.key} (${upload.uploadId})`);
    }

    const table = (name: string) => `"${at.schema}".${name}`;
    const condemned = await admin.query<{ digest: string }>(`SELECT digest FROM ${table("blobs")} WHERE condemned_by IS NOT NULL`);
    if (condemned.rows.length > 0) out.problems.push(`condemned blob rows left: ${condemned.rows.map((r) => r.digest).join(", ")}`);
    const intents = await admin.query<{ id: string }>(`SELECT id FROM ${table("intents")}`);
    if (intents.rows.length > 0) out.problems.push(`intents left: ${intents.rows.length}`);
    const rows = (await admin.query<{ digest: string }>(`SELECT digest FROM ${table("blobs")} ORDER BY digest`)).rows.map((r) => r.digest);
    if (rows.join() !== liveDigests.join()) out.problems.push(`blob rows (${rows.length}) are not the live digests (${liveDigests.length})`);
  } finally {
    await sweeper.close();
  }
  return out;
}

/** Removes the cache directories the workers used (their contents are no longer needed). */
export function removeDirs(dirs: string[]): void {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
}
