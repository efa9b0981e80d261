/**
 * This store handle as a writer of the manifest. Intents, temp objects and
 * blob condemnations carry the writer's id; while its heartbeat is fresh
 * (later than now − gracePeriod), no other handle's sweep reclaims them,
 * whatever their age — a multipart upload to S3 has no mtime that moves,
 * and a slow stage on another host must not lose its temp object. A writer
 * whose heartbeat stopped (its process died) is taken for gone once the
 * grace period has passed, and its leftovers are reclaimed.
 *
 * Registration is lazy (a handle that only reads never writes a row) and the
 * heartbeat timer never keeps the process alive. The handle also knows what
 * it has in hand right now (intents, temp objects, deletions), so its own
 * sweep can tell a leftover of its own from work in flight.
 */
import os from "node:os";
import { newId } from "./ids.js";
import type { Manifest } from "./backends/manifest.js";

/** At most a minute between heartbeats, and a third of the grace period when that is shorter (but at least a second). */
export function heartbeatInterval(gracePeriodMs: number): number {
  return Math.min(60_000, Math.max(1_000, Math.floor(gracePeriodMs / 3)));
}

export class Writer {
  readonly id = newId();
  /** Intent ids of stages (and holds) in flight in this handle. */
  readonly intents = new Set<string>();
  /** Temp object names this handle is writing. */
  readonly temps = new Set<string>();
  /** Digests this handle has condemned and not yet forgotten or spared. */
  readonly condemning = new Set<string>();
  private registered: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly manifest: Manifest,
    private readonly clock: () => number,
    private readonly gracePeriodMs: number,
  ) {}

  /** The time at or before which another writer's heartbeat means it is gone. */
  staleBefore(now = this.clock()): number {
    return now - this.gracePeriodMs;
  }

  /** Registers this writer (once) and starts its heartbeat. Every write path awaits it first. */
  ready(): Promise<void> {
    this.registered ??= this.register().catch((err: unknown) => {
      this.registered = undefined;
      throw err;
    });
    return this.registered;
  }

  private async register(): Promise<void> {
    const now = this.clock();
    await this.manifest.pins.registerWriter({ id: this.id, host: os.hostname(), pid: process.pid, startedAt: now, heartbeatAt: now });
    if (this.timer === undefined && !this.closed) {
      this.timer = setInterval(() => void this.beat().catch(() => undefined), heartbeatInterval(this.gracePeriodMs));
      this.timer.unref();
    }
  }

  /** Refreshes the heartbeat; registers again if a sweep elsewhere took this writer for gone. */
  async beat(): Promise<void> {
    if (this.registered === undefined || this.closed) return;
    const known = await this.manifest.pins.heartbeat(this.id, this.clock());
    if (!known) await this.register();
  }

  /** Stops the heartbeat and unregisters (best effort: a row left behind goes stale and a sweep drops it). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.registered === undefined) return;
    await this.registered.catch(() => undefined);
    await this.manifest.pins.removeWriter(this.id).catch(() => undefined);
  }
}
