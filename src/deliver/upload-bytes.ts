/**
 * The bytes an upload sends, and the check that they are the staged bytes.
 * Every attempt gets a fresh stream of its range. The stream of the whole
 * file holds its last chunk back until the digest is confirmed, so a
 * single-request upload is never completed with bad bytes. An upload in
 * parts (several in flight, or resumed from an earlier attempt) cannot hash
 * its parts in order as they go out: the first part opened starts one
 * sequential hash of the same bytes alongside them, and `beforeComplete`
 * awaits it before the request that completes the remote file. (Done at the
 * end instead, that second read was 737 ms of a 2.8 s upload of 256 MiB.)
 */
import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import { refOf } from "../ids.js";
import { integrityError } from "../errors.js";
import type { AttachmentRecord } from "../backends/manifest.js";

export type OpenRange = (start: number, end: number) => Promise<Readable>;

export class UploadBytes {
  /** The sequential hash of an upload in parts, once its first part was opened. */
  private hashing: Promise<string> | undefined;
  /** The whole file was read and matched its digest. */
  private verified = false;
  /** Bytes read by the destination so far (for `bytesSent`). */
  sent = 0;

  constructor(
    private readonly record: AttachmentRecord,
    private readonly open: OpenRange,
  ) {}

  private mismatch(actual: string) {
    const ref = refOf(this.record.id);
    return integrityError(ref, this.record.referencePath ?? `sha256:${this.record.digest}`, `The bytes of ${ref} do not match its digest; nothing was uploaded. Run verify({ repair: true }).`, {
      expected: `sha256:${this.record.digest}`,
      actual: `sha256:${actual}`,
    });
  }

  /** A fresh stream of bytes [start, end). */
  async openRange(start: number, end: number): Promise<Readable> {
    const size = this.record.size;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end > size || end < start) {
      throw new RangeError(`range [${start}, ${end}) is outside the ${size} bytes of the file`);
    }
    const whole = start === 0 && end === size;
    if (!whole && this.hashing === undefined) {
      this.hashing = this.hashAll();
      this.hashing.catch(() => undefined); // seen by beforeComplete, never an unhandled rejection
    }
    const raw = await this.open(start, end);
    const candidate = whole ? createHash("sha256") : null;
    let held: Buffer | null = null;
    let read = 0;
    const count = (n: number) => void (this.sent += n);
    const confirm = (actual: string): Error | null => this.confirmDigest(actual);
    const checked = new Transform({
      highWaterMark: 1 << 20,
      transform(chunk: Buffer, _encoding, callback) {
        read += chunk.length;
        count(chunk.length);
        candidate?.update(chunk);
        if (!whole) return callback(null, chunk);
        // The whole file: the last chunk goes out only once the digest is confirmed.
        const previous = held;
        held = chunk;
        callback(null, previous ?? undefined);
      },
      flush(callback) {
        if (candidate === null || read !== end - start) return callback(null, held ?? undefined);
        const failure = confirm(candidate.digest("hex"));
        return failure === null ? callback(null, held ?? undefined) : callback(failure);
      },
    });
    raw.on("error", (err) => checked.destroy(err));
    checked.on("close", () => raw.destroy());
    return raw.pipe(checked);
  }

  /** One sequential pass over the bytes, started with the first part and run alongside the parts. */
  private async hashAll(): Promise<string> {
    const hash = createHash("sha256");
    for await (const chunk of await this.open(0, this.record.size)) hash.update(chunk as Buffer);
    return hash.digest("hex");
  }

  /** Confirms the digest before the request that completes the remote file. */
  async beforeComplete(): Promise<void> {
    if (this.verified) return;
    const hashing = this.hashing ?? this.hashAll();
    this.hashing = undefined;
    const failure = this.confirmDigest(await hashing);
    if (failure !== null) throw failure;
  }

  private confirmDigest(actual: string): Error | null {
    if (actual !== this.record.digest) return this.mismatch(actual);
    this.verified = true;
    return null;
  }
}
