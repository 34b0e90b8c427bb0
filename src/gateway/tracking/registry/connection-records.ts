import { GaveUpError, type StoredPublisher, WrongRevisionError } from "../../../nats/stored-publish.js";
import type { Logger } from "../../logger.js";
import type { RegistryBuckets } from "./buckets.js";
import {
  type ConnectionEntry,
  type InstanceMarker,
  MARKER_KEY,
  SHARDS,
  sameEntry,
  shardOf,
} from "./record.js";

interface ShardState {
  readonly index: number;
  readonly entries: Map<string, ConnectionEntry>;
  /** Stream sequence of the shard's last stored value; 0 before its first write. */
  revision: number;
  /** Changed since the value being (or last) written. */
  dirty: boolean;
  writing: boolean;
  /** When the last write started (`performance.now()`), for the interval between two. */
  writtenAt: number;
  /** The next write, waiting for the interval since the last one to end. */
  timer: NodeJS.Timeout | undefined;
  /** The entries last stored: the same again are not written. */
  stored: Readonly<Record<string, ConnectionEntry>> | undefined;
  /** Told whether the next write stored the shard (with every change made before it started). */
  waiting: ((stored: boolean) => void)[];
  writes: number;
}

const encoder = new TextEncoder();

export interface ConnectionRecordsOptions {
  readonly publisher: StoredPublisher;
  readonly buckets: RegistryBuckets;
  /** The instance whose records these are (`<gateway id>-<random>`). */
  readonly instance: string;
  readonly gatewayId: string;
  /** Called when a reaper took the records (the instance is dead to the others). */
  readonly onLost: () => void;
  readonly logger: Logger;
  /** Least ms between two writes of one shard (`--presence-interval` with presence on, else 0). */
  readonly writeIntervalMs: number;
}

/**
 * One gateway instance's open connections in the registry bucket, the only writer of its keys:
 * the marker `<instance>.gateway`, then `SHARDS` shards `<instance>.<n>`, each holding the entries
 * of the connections that hash to it. A change marks its shard; each shard has at most one write
 * in flight, and every change made meanwhile goes into the next one, so a connect storm costs a
 * few writes per shard, not one per connection. With presence on, a shard is written at most once
 * per `writeIntervalMs` (every presence gateway reads every write): the first change after a quiet
 * interval goes out at once, those after it together at the interval's end, and a shard changed
 * back to the value stored is not written again. Every write expects the shard's last revision:
 * when another gateway has declared this instance dead and deleted its keys, the next write fails
 * and `onLost` says so.
 */
export class ConnectionRecords {
  private readonly shards: ShardState[];
  private lostOrClosed = false;
  private scheduled = false;
  /** Shards are written only once the marker is: a reaper finds an instance by its marker. */
  private registered = false;
  /** Each shard's last value written, by key, for this gateway's presence replica (see `written`). */
  private readonly lastWritten = new Map<
    string,
    { msgId: string; entries: Record<string, ConnectionEntry> }
  >();

  private readonly publisher: StoredPublisher;
  private readonly buckets: RegistryBuckets;
  readonly instance: string;
  private readonly gatewayId: string;
  private readonly onLost: () => void;
  private readonly logger: Logger;
  private readonly writeIntervalMs: number;
  /** Shards due for a write at the next turn of the event loop. */
  private readonly due = new Set<ShardState>();

  constructor({
    publisher,
    buckets,
    instance,
    gatewayId,
    onLost,
    logger,
    writeIntervalMs,
  }: ConnectionRecordsOptions) {
    this.publisher = publisher;
    this.buckets = buckets;
    this.instance = instance;
    this.gatewayId = gatewayId;
    this.onLost = onLost;
    this.logger = logger;
    this.writeIntervalMs = writeIntervalMs;
    this.shards = Array.from({ length: SHARDS }, (_, index) => ({
      index,
      entries: new Map(),
      revision: 0,
      dirty: false,
      writing: false,
      writtenAt: Number.NEGATIVE_INFINITY,
      timer: undefined,
      stored: undefined,
      waiting: [],
      writes: 0,
    }));
  }

  /** Writes the marker that lists this instance; shards changed meanwhile are written after it. */
  async register(): Promise<void> {
    const marker: InstanceMarker = { gateway: this.gatewayId, instance: this.instance, started: Date.now() };
    await this.publisher.publish(this.key(MARKER_KEY), encoder.encode(JSON.stringify(marker)), {
      msgId: `${this.instance}.marker`,
      expectRevision: 0,
      keepTrying: () => !this.lostOrClosed,
    });
    this.registered = true;
    for (const shard of this.shards) if (shard.dirty) this.mark(shard);
  }

  /** Adds or replaces a connection's entry; resolves true once a write holding it is stored. */
  set(connection: string, entry: ConnectionEntry): Promise<boolean> {
    if (this.lostOrClosed) return Promise.resolve(false);
    const shard = this.shards[shardOf(connection)] as ShardState;
    shard.entries.set(connection, entry);
    return new Promise((resolve) => {
      shard.waiting.push(resolve);
      this.mark(shard);
    });
  }

  /** Removes a connection's entry (written with the shard's next write). */
  delete(connection: string): void {
    if (this.lostOrClosed) return;
    const shard = this.shards[shardOf(connection)] as ShardState;
    if (shard.entries.delete(connection)) this.mark(shard);
  }

  /**
   * The value this instance wrote as `msgId` to `key` (`<instance>.<shard>`), if it is the shard's
   * last write: the presence replica takes it as it comes back through the registry instead of
   * parsing it again.
   */
  written(key: string, msgId: string): Readonly<Record<string, ConnectionEntry>> | undefined {
    const last = this.lastWritten.get(key);
    return last?.msgId === msgId ? last.entries : undefined;
  }

  get size(): number {
    let size = 0;
    for (const shard of this.shards) size += shard.entries.size;
    return size;
  }

  /**
   * A graceful end: deletes the instance's keys (shards, then the marker) so that no gateway has
   * anything to reap, and the presence replicas drop what is left. Entries still there are
   * connections whose `disconnected` could not be stored: their keys stay for a reaper.
   */
  async close(): Promise<void> {
    if (this.lostOrClosed) return;
    this.lostOrClosed = true;
    if (this.size > 0) {
      this.logger.warn({ left: this.size }, "connection records left for another gateway to reap");
      return;
    }
    const keys = this.shards.filter((shard) => shard.revision > 0).map((shard) => String(shard.index));
    try {
      await Promise.all([...keys, MARKER_KEY].map((key) => this.deleteKey(key)));
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message },
        "connection records not deleted; another gateway will",
      );
    }
  }

  private key(key: string): string {
    return this.buckets.subject(this.buckets.connections, `${this.instance}.${key}`);
  }

  private async deleteKey(key: string): Promise<void> {
    let attempts = 0;
    await this.publisher.publish(this.key(key), new Uint8Array(), {
      msgId: `${this.instance}.${key}.delete`,
      kvDelete: true,
      keepTrying: () => ++attempts < 3,
    });
  }

  private mark(shard: ShardState): void {
    shard.dirty = true;
    if (shard.writing || shard.timer || !this.registered) return;
    const wait = shard.writtenAt + this.writeIntervalMs - performance.now();
    if (wait > 0) {
      shard.timer = setTimeout(() => {
        shard.timer = undefined;
        this.mark(shard);
      }, wait);
      shard.timer.unref();
      return;
    }
    this.due.add(shard);
    if (this.scheduled) return;
    // The changes of one event-loop turn go out together.
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const due = [...this.due];
      this.due.clear();
      for (const each of due) if (each.dirty && !each.writing) this.write(each);
    });
  }

  private write(shard: ShardState): void {
    if (this.lostOrClosed) return this.settle(shard.waiting.splice(0), false);
    shard.dirty = false;
    const waiters = shard.waiting.splice(0);
    // Changed back to what is stored (a member that came and went): nothing to write.
    if (shard.stored && sameEntries(shard.entries, shard.stored)) return this.settle(waiters, true);
    const entries = Object.fromEntries(shard.entries);
    shard.writing = true;
    shard.writtenAt = performance.now();
    const msgId = `${this.instance}.${shard.index}.${++shard.writes}`;
    this.lastWritten.set(`${this.instance}.${shard.index}`, { msgId, entries });
    this.publisher
      .publish(this.key(String(shard.index)), encoder.encode(JSON.stringify({ e: entries })), {
        msgId,
        expectRevision: shard.revision,
        keepTrying: () => !this.lostOrClosed,
      })
      .then(
        (ack) => {
          shard.revision = ack.seq;
          shard.stored = entries;
          this.settle(waiters, true);
        },
        (err: unknown) => {
          this.settle(waiters, false);
          if (err instanceof WrongRevisionError) return this.lose(err);
          if (err instanceof GaveUpError) return;
          // Not a conflict and not transient (e.g. a permission): logged, and written again later.
          this.logger.error(
            { err: (err as Error).message, shard: shard.index },
            "connection record write failed",
          );
          shard.dirty = true;
        },
      )
      .finally(() => {
        shard.writing = false;
        if (shard.dirty) this.mark(shard);
      });
  }

  private settle(waiters: ((stored: boolean) => void)[], stored: boolean): void {
    for (const waiter of waiters) waiter(stored);
  }

  private lose(err: Error): void {
    if (this.lostOrClosed) return;
    this.lostOrClosed = true;
    this.logger.warn(
      { instance: this.instance, err: err.message },
      "connection records taken over by another gateway",
    );
    for (const shard of this.shards) this.settle(shard.waiting.splice(0), false);
    this.onLost();
  }
}

function sameEntries(
  entries: ReadonlyMap<string, ConnectionEntry>,
  stored: Readonly<Record<string, ConnectionEntry>>,
): boolean {
  const keys = Object.keys(stored);
  if (keys.length !== entries.size) return false;
  for (const key of keys) {
    const entry = entries.get(key);
    const was = stored[key] as ConnectionEntry;
    if (!entry || (entry !== was && !sameEntry(entry, was))) return false;
  }
  return true;
}
