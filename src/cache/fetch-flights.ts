/**
 * One fetch per digest at a time within a process: callers that ask for the
 * same copy while it is being fetched wait for that fetch instead of starting
 * their own. Each waiter may leave early (its own abort signal); the fetch is
 * aborted only when the last waiter has left, and a later caller then starts
 * afresh rather than joining a fetch that is being torn down.
 */
import { aborted } from "../errors.js";

interface Flight {
  size: number;
  promise: Promise<string>;
  controller: AbortController;
  waiters: number;
  settled: boolean;
}

export class FetchFlights {
  private readonly flights = new Map<string, Flight>();

  /** True while a fetch of `digest` runs. */
  has(digest: string): boolean {
    return this.flights.has(digest);
  }

  /** The running fetch of `digest`, if any (it may reject). */
  running(digest: string): Promise<string> | undefined {
    return this.flights.get(digest)?.promise;
  }

  /**
   * A running fetch of `digest` that a caller for `size` cannot join: one for
   * another size (a caller's mistake), or one its last waiter gave up. Wait
   * for it to settle, then look again.
   */
  blocking(digest: string, size: number): Promise<unknown> | undefined {
    const flight = this.flights.get(digest);
    if (flight === undefined || (flight.size === size && !flight.controller.signal.aborted)) return undefined;
    return flight.promise.catch(() => undefined);
  }

  /**
   * Joins the fetch of `digest` (registering it, with `start`, in this
   * synchronous turn if none runs) and waits for it until `signal` fires
   * (`ABORTED`). Call only when {@link blocking} returned nothing.
   */
  async join(digest: string, size: number, start: (signal: AbortSignal) => Promise<string>, signal?: AbortSignal): Promise<string> {
    const flight = this.flights.get(digest) ?? this.begin(digest, size, start);
    flight.waiters++;
    let onAbort: (() => void) | undefined;
    try {
      if (signal === undefined) return await flight.promise;
      return await new Promise<string>((resolve, reject) => {
        onAbort = () => reject(aborted(signal.reason));
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
        flight.promise.then(resolve, reject);
      });
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
      flight.waiters--;
      if (flight.waiters === 0 && !flight.settled) flight.controller.abort(signal?.reason);
    }
  }

  /** Aborts every running fetch with `reason`; returns their outcomes, to wait for. */
  abortAll(reason: unknown): Promise<string>[] {
    const all = [...this.flights.values()];
    for (const flight of all) flight.controller.abort(reason);
    return all.map((flight) => flight.promise);
  }

  private begin(digest: string, size: number, start: (signal: AbortSignal) => Promise<string>): Flight {
    const controller = new AbortController();
    const flight: Flight = { size, controller, waiters: 0, settled: false, promise: Promise.resolve("") };
    flight.promise = start(controller.signal).finally(() => {
      flight.settled = true;
      if (this.flights.get(digest) === flight) this.flights.delete(digest);
    });
    // Its waiters may all have left: the outcome must not become an unhandled rejection.
    flight.promise.catch(() => undefined);
    this.flights.set(digest, flight);
    return flight;
  }
}
