/**
 * Where a copy stage's bytes go while they are hashed: kept in memory while
 * they fit the inline limit (they may be committed inside the manifest), and
 * poured into a temp object of the blob store the moment they pass it. A
 * source of known size over the limit opens its temp object at once.
 */
import type { BlobWriter } from "./backends/blob-store.js";

export class Spool<W extends BlobWriter = BlobWriter> {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private opened: Promise<W> | null = null;
  private target: W | null = null;

  /**
   * @param limit the most bytes held in memory (0: open the temp object at the first chunk)
   * @param open opens the temp object (called at most once)
   */
  constructor(
    private readonly limit: number,
    private readonly open: () => Promise<W>,
  ) {}

  /** The temp object, once the bytes went past the limit (or `null` while they are all held). */
  get writer(): W | null {
    return this.target;
  }

  /** Takes its own copy of `chunk` before returning, as a BlobWriter does. */
  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.target !== null) return this.target.write(chunk);
    if (this.opened === null && this.heldBytes + chunk.byteLength <= this.limit) {
      this.held.push(Buffer.from(chunk));
      this.heldBytes += chunk.byteLength;
      return undefined;
    }
    const copy = Buffer.from(chunk);
    return this.pour(copy);
  }

  /** Opens the temp object (once) and writes everything held, then `chunk`, into it. */
  private async pour(chunk: Buffer): Promise<void> {
    this.opened ??= this.open();
    const writer = await this.opened;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    this.target = writer;
    for (const piece of held) await writer.write(piece);
    await writer.write(chunk);
  }

  /** Every byte written, when none went to a temp object. */
  bytes(): Buffer {
    return this.held.length === 1 ? (this.held[0] as Buffer) : Buffer.concat(this.held, this.heldBytes);
  }

  /** The temp object if one was opened (also when the open is still under way or failed). */
  async openedWriter(): Promise<W | null> {
    if (this.opened === null) return null;
    return this.opened.catch(() => null);
  }
}
