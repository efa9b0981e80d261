/**
 * Progress of one upload across its parts and attempts, reported through
 * `UploadInput.onProgress`: bytes of the parts the provider holds (resumed
 * parts included) plus the bytes streamed so far in the attempts in flight.
 * The figure never goes down: a part sent again after a failure is only
 * counted once it passes its earlier mark.
 */
import type { UploadInput } from "./destination.js";

export class UploadProgress {
  private settled = 0;
  private readonly inFlight = new Map<number, number>();
  private reported = -1;

  /** Reports to `input.onProgress` (called as a method of `input`). */
  constructor(private readonly input: Pick<UploadInput, "onProgress">) {}

  /** Bytes the provider already holds from an earlier attempt (a resumed upload). */
  addSettled(bytes: number): void {
    this.settled += bytes;
    this.emit();
  }

  /** Part `index` has streamed `bytes` in its current attempt (a new attempt starts again from 0). */
  streamed(index: number, bytes: number): void {
    this.inFlight.set(index, bytes);
    this.emit();
  }

  /** Part `index`, of `bytes`, is held by the provider. */
  finished(index: number, bytes: number): void {
    this.inFlight.delete(index);
    this.settled += bytes;
    this.emit();
  }

  /** Part `index` failed; its bytes no longer count until it is sent again. */
  failed(index: number): void {
    this.inFlight.delete(index);
  }

  private emit(): void {
    if (!this.input.onProgress) return;
    let total = this.settled;
    for (const bytes of this.inFlight.values()) total += bytes;
    if (total > this.reported) {
      this.reported = total;
      this.input.onProgress(total);
    }
  }
}
