/**
 * The bytes an upload sends, and the check that they are the staged bytes.
 * Every attempt gets a fresh stream of its range. The stream of the whole
 * file holds its last chunk back until the digest is confirmed, so a
 * single-request upload is never completed with bad bytes; ranges read in
 * order are hashed as they are sent, and `beforeComplete` hashes whatever
 * was not (parts sent out of order, or resumed from an earlier attempt) by
 * reading it once more, before the request that completes the remote file.
 */
import { createHash, type Hash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import { refOf } from "../ids.js";
import { integrityError } from "../errors.js";
import type { AttachmentRecord } from "../backends/manifest.js";

export type OpenRange = (start: number, end: number) => Promise<Readable>;

export class UploadBytes {
  private hash: Hash = createHash("sha256");
  /** Bytes [0, hashedUpTo) are in `hash`. */
  private hashedUpTo = 0;
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
    const raw = await this.open(start, end);
    // Hashed in order: this range continues what is hashed so far. The hash is copied, and the
    // copy kept only once the range was read to its end (a failed attempt adds nothing).
    const candidate = start === this.hashedUpTo ? this.hash.copy() : null;
    const whole = start === 0 && end === size;
    let held: Buffer | null = null;
    let read = 0;
    const count = (n: number) => void (this.sent += n);
    const confirm = (actual: string): Error | null => {
      if (actual !== this.record.digest) return this.mismatch(actual);
      this.verified = true;
      return null;
    };
    const advance = (hash: Hash) => {
      if (this.hashedUpTo !== start) return;
      this.hash = hash;
      this.hashedUpTo = end;
    };
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
        if (whole) {
          const failure = confirm(candidate.digest("hex"));
          return failure === null ? callback(null, held ?? undefined) : callback(failure);
        }
        advance(candidate);
        callback();
      },
    });
    raw.on("error", (err) => checked.destroy(err));
    checked.on("close", () => raw.destroy());
    return raw.pipe(checked);
  }

  /** Confirms the digest before the request that completes the remote file: hashes what was not hashed as sent. */
  async beforeComplete(): Promise<void> {
    const size = this.record.size;
    if (this.verified) return;
    const hash = this.hash.copy();
    if (this.hashedUpTo < size) {
      for await (const chunk of await this.open(this.hashedUpTo, size)) hash.update(chunk as Buffer);
    }
    const actual = hash.digest("hex");
    if (actual !== this.record.digest) throw this.mismatch(actual);
    this.verified = true;
  }
}
