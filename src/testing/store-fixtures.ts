/** What the store suite's cases share: the harness they open stores with, and how each test gets its first store. */
import { afterEach } from "vitest";
import type { Store, StoreOptions } from "../index.js";
import { TestClock } from "./support.js";

/**
 * How the store suite opens stores on the backends under test. Stores it
 * opens are closed by the suite after each test.
 */
export interface StoreHarness {
  /**
   * Whether the blob store keeps its blobs as local files (it has the
   * `local` capability): then every store sees an attachment's `path` at
   * once, and `reference` mode works. Without, `path` is a cached copy or
   * `null`, and `reference` is refused.
   */
  readonly localFiles: boolean;
  /**
   * Opens a store on the harness's backends. Called again, it opens another
   * handle on the same data on this host (sharing any local cache), as a
   * restarted process would.
   */
  open(options?: StoreOptions): Promise<Store>;
  /**
   * Opens a store on the same backends as another host would: it shares the
   * attachments and the bytes, but not the local cache (for a blob store
   * without local files, give it a `cacheDir` of its own).
   */
  openSecond(options?: StoreOptions): Promise<Store>;
}

/** How the store suite's cases reach the harness. */
export interface StoreSuiteContext {
  /** A fresh harness on fresh backends; every store it opens is closed after the test. */
  harness(): Promise<StoreHarness>;
  /** A fresh harness and its first store, on a settable clock. */
  setup(options?: StoreOptions): Promise<{ clock: TestClock; harness: StoreHarness; store: Store }>;
  /** How many rounds each concurrent case runs. */
  readonly rounds: number;
}

/** Builds the cases' context over `create`; call it inside a `describe` (it registers the `afterEach` that closes stores). */
export function storeSuiteContext(create: () => StoreHarness | Promise<StoreHarness>, rounds: number): StoreSuiteContext {
  const opened: Store[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0).reverse()) await store.close();
  });
  const track = async (opening: Promise<Store>) => {
    const store = await opening;
    opened.push(store);
    return store;
  };
  const harness = async (): Promise<StoreHarness> => {
    const made = await create();
    return {
      localFiles: made.localFiles,
      open: (options) => track(made.open(options)),
      openSecond: (options) => track(made.openSecond(options)),
    };
  };
  return {
    harness,
    async setup(options = {}) {
      const clock = new TestClock();
      const made = await harness();
      const store = await made.open({ clock: clock.now, ...options });
      return { clock, harness: made, store };
    },
    rounds,
  };
}

export const HOUR = 3_600_000;

/** A 1×1 PNG, for content sniffing. */
export const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a1f1e6e60000000049454e44ae426082",
  "hex",
);
