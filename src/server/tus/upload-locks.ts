/**
 * One request at a time per upload, and the newest wins. A client that lost
 * its connection mid-PATCH comes back with HEAD and a new PATCH while the
 * server may still be reading the dead one; waiting for it would stall the
 * resume until a timeout. So a request that needs the upload aborts the one
 * holding it, waits for it to let go (its bytes so far are kept), and then
 * reads the offset afresh. Requests queue in arrival order.
 */
export interface UploadLock {
  /** Aborted when a later request takes the upload over (or the server shuts down). */
  readonly signal: AbortSignal;
  release(): void;
}

interface Holder {
  controller: AbortController;
  released: Promise<void>;
}

export class UploadLocks {
  private readonly tails = new Map<string, Holder>();

  constructor(private readonly shutdown: AbortSignal) {}

  /** True while some request holds or waits for the upload. */
  busy(id: string): boolean {
    return this.tails.has(id);
  }

  async acquire(id: string): Promise<UploadLock> {
    const previous = this.tails.get(id);
    const controller = new AbortController();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const holder: Holder = { controller, released };
    this.tails.set(id, holder);
    const onShutdown = () => controller.abort(this.shutdown.reason);
    if (this.shutdown.aborted) onShutdown();
    else this.shutdown.addEventListener("abort", onShutdown, { once: true });
    if (previous !== undefined) {
      previous.controller.abort(new Error("a newer request took this upload over"));
      await previous.released;
    }
    return {
      signal: controller.signal,
      release: () => {
        this.shutdown.removeEventListener("abort", onShutdown);
        if (this.tails.get(id) === holder) this.tails.delete(id);
        release();
      },
    };
  }
}
