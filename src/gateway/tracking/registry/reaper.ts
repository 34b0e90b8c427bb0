import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import * as v from "valibot";
import { isJetStreamError, JetStreamErrorCode } from "../../../nats/jetstream-errors.js";
import { type StoredPublisher, WrongRevisionError } from "../../../nats/stored-publish.js";
import type { Logger } from "../../logger.js";
import type { RegistryBuckets } from "./buckets.js";
import { type ConnectionEntry, InstanceMarker, MARKER_KEY, SHARDS, Shard } from "./record.js";

/** A dead instance's keys (delete markers by then) are purged this many timeouts after its reaping. */
const PURGE_AFTER_TIMEOUTS = 30;

/** What a reaper does with a dead instance's connections: their `disconnected` events, stored. */
export type ReapConnections = (
  marker: InstanceMarker,
  connections: readonly (readonly [string, ConnectionEntry])[],
) => Promise<void>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ReaperOptions {
  readonly publisher: StoredPublisher;
  readonly jsm: JetStreamManager;
  readonly buckets: RegistryBuckets;
  /** This gateway's own instance now (never reaped by itself while it lives). */
  readonly self: () => string;
  /** `--liveness-timeout`: an instance whose heartbeat is older is dead. */
  readonly timeoutMs: number;
  /** Publishes the disconnects of a dead instance's connections (the connection tracker). */
  readonly reap: ReapConnections;
  readonly logger: Logger;
  /** Counts a dead instance taken over, with its connections. */
  readonly onReaped: (connections: number) => void;
}

/**
 * Finds gateway instances that died without a goodbye and takes over their connections, once.
 * Every quarter of `--liveness-timeout` (with jitter) it lists the instances that have a marker in
 * the registry bucket and the ones with a heartbeat in the liveness bucket (two stream-info
 * requests). An instance with a marker and no heartbeat is dead: the first gateway to create its
 * liveness key again (a write that expects the key to be empty, so exactly one succeeds) claims
 * it, reads its shards from the stream leader, has `reap` store a `disconnected` event for each
 * connection, then deletes its keys (the presence replicas see the deletes). A reaper that dies
 * half way leaves the marker: its claim expires like a heartbeat and another gateway starts over;
 * the events it stored already are not stored twice (their `Nats-Msg-Id`).
 */
export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private scanning: Promise<void> | undefined;

  private readonly publisher: StoredPublisher;
  private readonly jsm: JetStreamManager;
  private readonly buckets: RegistryBuckets;
  private readonly self: () => string;
  private readonly timeoutMs: number;
  private readonly reap: ReapConnections;
  private readonly logger: Logger;
  private readonly onReaped: (connections: number) => void;

  constructor({ publisher, jsm, buckets, self, timeoutMs, reap, logger, onReaped }: ReaperOptions) {
    this.publisher = publisher;
    this.jsm = jsm;
    this.buckets = buckets;
    this.self = self;
    this.timeoutMs = timeoutMs;
    this.reap = reap;
    this.logger = logger;
    this.onReaped = onReaped;
  }

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.scanning;
  }

  private schedule(): void {
    if (this.stopped) return;
    const period = this.timeoutMs / 4;
    this.timer = setTimeout(
      () => {
        this.scanning = this.scan()
          .catch((err: Error) => this.logger.warn({ err: err.message }, "registry scan failed"))
          .finally(() => {
            this.scanning = undefined;
            this.schedule();
          });
      },
      period * (0.75 + Math.random() * 0.5),
    );
    this.timer.unref();
  }

  /** One look for dead instances; each found is reaped (or purged, long after it was). */
  async scan(): Promise<void> {
    // Markers first: an instance writes its heartbeat before its marker, so one seen with a
    // marker and then without a heartbeat really had its heartbeat expire.
    const marked = await this.instancesIn(this.buckets.connections, `*.${MARKER_KEY}`, 1);
    const alive = new Set(await this.instancesIn(this.buckets.liveness, "*", 0));
    for (const instance of marked) {
      if (this.stopped) return;
      if (alive.has(instance) || instance === this.self()) continue;
      await this.reapOrPurge(instance);
    }
  }

  private async instancesIn(bucket: string, filter: string, dropTokens: number): Promise<string[]> {
    const prefix = `$KV.${bucket}.`;
    const info = await this.jsm.streams.info(this.buckets.streamOf(bucket), {
      subjects_filter: `${prefix}${filter}`,
    });
    return Object.keys(info.state.subjects ?? {}).map((subject) => {
      const key = subject.slice(prefix.length);
      return dropTokens === 0 ? key : key.split(".").slice(0, -dropTokens).join(".");
    });
  }

  private async reapOrPurge(instance: string): Promise<void> {
    const markerMsg = await this.read(`${instance}.${MARKER_KEY}`);
    if (!markerMsg) return;
    if (isDelete(markerMsg)) {
      // Reaped (or closed) long ago: its delete markers have been seen by every replica by now.
      if (Date.now() - markerMsg.time.getTime() > PURGE_AFTER_TIMEOUTS * this.timeoutMs)
        await this.jsm.streams.purge(this.buckets.streamOf(this.buckets.connections), {
          filter: this.buckets.subject(this.buckets.connections, `${instance}.>`),
        });
      return;
    }
    const marker = parse(InstanceMarker, markerMsg.data);
    if (!marker) {
      this.logger.error({ instance }, "registry marker is not valid; left alone");
      return;
    }
    if (!(await this.claim(instance))) return;
    const started = Date.now();
    const { connections, keys } = await this.connectionsOf(instance);
    await this.reap(marker, connections);
    await Promise.all(keys.map((key) => this.deleteKey(key)));
    await this.deleteKey(`${instance}.${MARKER_KEY}`);
    this.onReaped(connections.length);
    this.logger.warn(
      { gateway: marker.gateway, instance, connections: connections.length, ms: Date.now() - started },
      "a gateway died without a goodbye: published the disconnects of its connections",
    );
  }

  /** Creates the dead instance's liveness key: only one gateway can, until it expires in turn. */
  private async claim(instance: string): Promise<boolean> {
    const value = encoder.encode(JSON.stringify({ claimedBy: this.self(), at: Date.now() }));
    try {
      await this.publisher.publish(this.buckets.subject(this.buckets.liveness, instance), value, {
        msgId: `${instance}.claim.${this.self()}.${Date.now()}`,
        expectRevision: 0,
        keepTrying: () => !this.stopped,
      });
      return true;
    } catch (err) {
      if (err instanceof WrongRevisionError) return false; // another gateway claimed it, or it came back
      throw err;
    }
  }

  /** The connections in a dead instance's shards, and the shard keys that exist. */
  private async connectionsOf(
    instance: string,
  ): Promise<{ connections: [string, ConnectionEntry][]; keys: string[] }> {
    const keys = Array.from({ length: SHARDS }, (_, shard) => `${instance}.${shard}`);
    const shards = await Promise.all(keys.map((key) => this.read(key)));
    const connections: [string, ConnectionEntry][] = [];
    const existing: string[] = [];
    for (const [index, msg] of shards.entries()) {
      if (!msg || isDelete(msg)) continue;
      existing.push(keys[index] as string);
      const shard = parse(Shard, msg.data);
      if (!shard) {
        this.logger.error(
          { subject: msg.subject },
          "registry shard is not valid; its connections are skipped",
        );
        continue;
      }
      connections.push(...Object.entries(shard.e));
    }
    return { connections, keys: existing };
  }

  /** A key's last message, from the stream leader (a replica's copy may be seconds behind). */
  private async read(key: string): Promise<StoredMsg | null> {
    return this.jsm.streams
      .getMessage(this.buckets.streamOf(this.buckets.connections), {
        last_by_subj: this.buckets.subject(this.buckets.connections, key),
      })
      .catch((err: Error) => {
        if (isJetStreamError(err, JetStreamErrorCode.NoMessageFound)) return null;
        throw err;
      });
  }

  private async deleteKey(key: string): Promise<void> {
    await this.publisher.publish(this.buckets.subject(this.buckets.connections, key), new Uint8Array(), {
      msgId: `${key}.reaped`,
      kvDelete: true,
      keepTrying: () => !this.stopped,
    });
  }
}

function isDelete(msg: StoredMsg): boolean {
  const op = msg.header?.get("KV-Operation");
  return op === "DEL" || op === "PURGE";
}

function parse<T extends v.GenericSchema>(schema: T, data: Uint8Array): v.InferOutput<T> | undefined {
  try {
    const parsed = v.safeParse(schema, JSON.parse(decoder.decode(data)));
    return parsed.success ? parsed.output : undefined;
  } catch {
    return undefined;
  }
}
