/**
 * Reads in flight, by what they read: a caller asking for one that is under way waits for it
 * instead of sending another. When a gateway dies, the clients of a shared channel come back
 * together, from the same point and at the same position, and one read serves them all. An entry
 * lives only while its read does: later callers read afresh.
 */
export class ReadsUnderWay<T> {
  private readonly reads = new Map<string, Promise<T>>();

  /** The read under way for `key`, or a new one from `read`. */
  share(key: string, read: () => Promise<T>): Promise<T> {
    const under = this.reads.get(key);
    if (under) return under;
    const started = read().finally(() => this.reads.delete(key));
    this.reads.set(key, started);
    return started;
  }

  /** Reads under way now. */
  get size(): number {
    return this.reads.size;
  }
}
