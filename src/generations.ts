/**
 * A map bounded by forgetting its older half at once. Writes go to a young
 * generation; once it holds `limit / 2` entries it becomes the old one and
 * the previous old one is dropped. A read changes nothing (the cache
 * recency's eviction reads every entry while it sorts), so an entry stays
 * by being set again. Every operation is O(1).
 *
 * A Map kept in insertion order and trimmed from the front is not: V8 keeps
 * a hole for each deleted entry until it rebuilds the table, and finding
 * the oldest entry walks over them. Measured: 8 µs per insert at 10,000
 * entries (0.28 µs here), which was most of a get() that missed the record
 * cache.
 */
export class Generations<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly half: number;

  /** @param limit the most entries kept (at least `limit / 2` of the latest are) */
  constructor(limit: number) {
    this.half = Math.max(1, Math.floor(limit / 2));
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: K): V | undefined {
    return this.young.get(key) ?? this.old.get(key);
  }

  set(key: K, value: V): void {
    this.old.delete(key);
    this.young.set(key, value);
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  delete(key: K): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
}
