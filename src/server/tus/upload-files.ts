/**
 * Unfinished (and recently finished) tus uploads on disk:
 *
 *   <uploadDir>/
 *     <id>.json              the upload: scope, length, metadata, expiry, ref once staged
 *     <id>.part              the bytes received so far; its size is the offset
 *     <id>.json.<rand>.tmp   a record being rewritten (renamed over <id>.json)
 *
 * The record is written before the bytes file and rewritten by rename, so a
 * crash leaves either the old or the new record, never half of one. The
 * bytes file is the offset: what a PATCH wrote and fsynced is there after a
 * crash. A checksummed PATCH notes `verifyingFrom` first, so bytes a crash
 * left unverified are cut off when the server starts again. When the upload
 * completes, `<id>.part` is moved into the store and the record keeps the
 * ref until the upload expires. Nothing of the store's sweep looks here: an
 * upload is kept while it may resume and deleted only when it expires.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { errnoCode, nodeFileSystem, readdirIfPresent } from "../../fs-seam.js";
import { isId } from "../../ids.js";
import { makeDirectory } from "../../make-directory.js";

/** One upload as recorded in `<id>.json`. */
export interface UploadRecord {
  readonly id: string;
  readonly scope: string;
  /** Upload-Length: the size the upload will have when complete. */
  readonly length: number;
  /** `Upload-Metadata` as sent (returned on HEAD). */
  readonly rawMetadata: string;
  readonly name: string | null;
  readonly ttl: string | null;
  readonly contentType: string | null;
  readonly createdAt: number;
  /** Epoch ms after which the upload is gone; pushed back by every PATCH. */
  expiresAt: number;
  /** `attache://…` once the complete upload was staged. */
  ref: string | null;
  /** Set while a checksummed PATCH writes from this offset; a crash meanwhile cuts the bytes back to it. */
  verifyingFrom: number | null;
}

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const fs = nodeFileSystem;

export class UploadFiles {
  constructor(readonly dir: string) {}

  /** Creates the directory; cuts back unverified bytes and removes files no record explains. */
  async open(): Promise<void> {
    await makeDirectory(fs, this.dir, DIR_MODE);
    const names = await readdirIfPresent(fs, this.dir);
    const records = new Set(names.filter((name) => name.endsWith(".json")).map((name) => name.slice(0, -5)));
    for (const name of names) {
      const id = name.split(".")[0] as string;
      const stray = name.endsWith(".tmp") || (name.endsWith(".part") && !records.has(id));
      if (stray) await fs.rm(path.join(this.dir, name), { force: true });
    }
    for (const id of records) {
      const record = await this.load(id).catch(() => null);
      if (record?.verifyingFrom != null) {
        await this.truncate(id, record.verifyingFrom);
        record.verifyingFrom = null;
        await this.save(record);
      }
    }
  }

  partPath(id: string): string {
    return path.join(this.dir, `${id}.part`);
  }

  private recordPath(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  /** Records a new upload and creates its empty bytes file. */
  async create(record: UploadRecord): Promise<void> {
    await this.save(record);
    const handle = await fs.open(this.partPath(record.id), "wx", FILE_MODE);
    await handle.close();
  }

  /** The upload `id`, or null if there is none (or `id` is not an upload id at all). */
  async load(id: string): Promise<UploadRecord | null> {
    if (!isId(id)) return null;
    let text: string;
    try {
      const handle = await fs.open(this.recordPath(id), "r");
      try {
        text = await handle.readFile("utf8");
      } finally {
        await handle.close();
      }
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return null;
      throw err;
    }
    return JSON.parse(text) as UploadRecord;
  }

  /** Rewrites the record atomically (temp file, fsync, rename). */
  async save(record: UploadRecord): Promise<void> {
    const temp = `${this.recordPath(record.id)}.${randomBytes(6).toString("hex")}.tmp`;
    const handle = await fs.open(temp, "wx", FILE_MODE);
    try {
      await handle.writeFile(JSON.stringify(record));
      await handle.datasync();
    } finally {
      await handle.close();
    }
    try {
      await fs.rename(temp, this.recordPath(record.id));
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    }
  }

  /** Bytes received: the length once staged, else the bytes file's size. */
  async offset(record: UploadRecord): Promise<number> {
    if (record.ref !== null) return record.length;
    try {
      return (await fs.stat(this.partPath(record.id))).size;
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return 0;
      throw err;
    }
  }

  async truncate(id: string, offset: number): Promise<void> {
    const handle = await fs.open(this.partPath(id), "r+");
    try {
      await handle.truncate(offset);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  /** Deletes the upload's bytes file (the record says how many there were once it has a ref). */
  async removeBytes(id: string): Promise<void> {
    await fs.rm(this.partPath(id), { force: true });
  }

  /** Deletes the upload's bytes, then its record. */
  async remove(id: string): Promise<void> {
    await this.removeBytes(id);
    await fs.rm(this.recordPath(id), { force: true });
  }

  /** The ids of every recorded upload. */
  async ids(): Promise<string[]> {
    const names = await readdirIfPresent(fs, this.dir);
    return names.filter((name) => name.endsWith(".json") && isId(name.slice(0, -5))).map((name) => name.slice(0, -5));
  }
}
