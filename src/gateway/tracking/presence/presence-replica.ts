import {
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import * as v from "valibot";
import type { Logger } from "../../logger.js";
import type { RegistryBuckets } from "../registry/buckets.js";
import { type ConnectionEntry, MARKER_KEY, Shard } from "../registry/record.js";
import type { PresenceChange, PresenceIndex } from "./presence-index.js";

const decoder = new TextDecoder();
const PULL_EXPIRES_MS = 2000;
/** Heartbeats come every half of PULL_EXPIRES_MS. */
const MISSED_HEARTBEATS = 3;
const RELOAD_RETRY_MS = 1000;

export interface PresenceReplicaOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly buckets: RegistryBuckets;
  /** The replica this keeps in line with the bucket. */
  readonly index: PresenceIndex;
  /** Told of each batch of changes applied (the presence hub). */
  readonly onChanges: (changes: readonly PresenceChange[]) => void;
  readonly logger: Logger;
  /** This gateway's own last write of a shard, when `msgId` is it (no need to parse it again). */
  readonly ownWrite: (key: string, msgId: string) => Readonly<Record<string, ConnectionEntry>> | undefined;
}

/**
 * Keeps a `PresenceIndex` in step with the registry bucket: an ordered consumer on every key,
 * starting with the last value of each (the state now), then every change as it is stored. Every
 * gateway with presence on runs one, so each knows every gateway's connections and computes the
 * same joins and leaves. After a NATS reconnect it reads the bucket again from the start and
 * applies the difference: a replica that was away misses nothing, whatever was purged meanwhile.
 */
export class PresenceReplica {
  private messages: ConsumerMessages | undefined;
  private generation = 0;
  private stopped = false;
  private loadedOnce: Promise<void> | undefined;

  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly buckets: RegistryBuckets;
  private readonly index: PresenceIndex;
  private readonly onChanges: PresenceReplicaOptions["onChanges"];
  private readonly logger: Logger;
  private readonly ownWrite: PresenceReplicaOptions["ownWrite"];

  constructor({ js, jsm, buckets, index, onChanges, logger, ownWrite }: PresenceReplicaOptions) {
    this.js = js;
    this.jsm = jsm;
    this.buckets = buckets;
    this.index = index;
    this.onChanges = onChanges;
    this.logger = logger;
    this.ownWrite = ownWrite;
  }

  /** Starts following the bucket; resolves once the state as it was at the start is applied. */
  start(): Promise<void> {
    this.loadedOnce ??= this.follow();
    return this.loadedOnce;
  }

  /**
   * Reads the bucket again from the start (after a NATS reconnect), applying the difference; tried
   * again every second while the bucket does not answer (its stream electing a leader).
   */
  reload(): void {
    if (this.stopped) return;
    const generation = this.generation + 1;
    void this.follow().catch((err: Error) => {
      this.logger.warn({ err: err.message }, "presence replica reload failed; trying again");
      setTimeout(() => {
        if (this.generation === generation) this.reload();
      }, RELOAD_RETRY_MS).unref();
    });
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.messages?.stop();
  }

  private async follow(): Promise<void> {
    const generation = ++this.generation;
    this.messages?.stop();
    const stream = this.buckets.streamOf(this.buckets.connections);
    const prefix = `$KV.${this.buckets.connections}.`;
    const held = new Set(this.index.shardKeys());
    const seen = new Set<string>();
    let markLoaded: () => void = () => undefined;
    const loaded = new Promise<void>((resolve) => {
      markLoaded = resolve;
    });
    let loading = true;
    const finishLoading = () => {
      if (!loading) return;
      loading = false;
      // Shards held before that the bucket no longer has were deleted and purged meanwhile.
      const gone = [...held].filter((key) => !seen.has(key));
      for (const key of gone) this.publish(this.index.apply(key, undefined));
      markLoaded();
    };
    const info = await this.jsm.streams.info(stream);
    const consumer = await this.js.consumers.get(stream, {
      filter_subjects: `${prefix}>`,
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    if (generation !== this.generation) return;
    this.messages = await consumer.consume({
      // Heartbeats every second: a consumer lost with its server (a cluster node dying) is noticed
      // and made again, from the last change applied, within seconds.
      expires: PULL_EXPIRES_MS,
      callback: (msg: JsMsg) => {
        if (generation !== this.generation) return;
        const key = msg.subject.slice(prefix.length);
        if (loading) seen.add(key);
        this.receive(key, msg);
        if (loading && msg.info.pending === 0) finishLoading();
      },
    });
    void this.watch(this.messages, generation);
    if (info.state.messages === 0) finishLoading();
    return loaded;
  }

  /**
   * A consumer whose server died answers nothing, and the client library only pulls again: after
   * a few missed heartbeats (or the consumer deleted) the replica follows the bucket anew.
   */
  private async watch(messages: ConsumerMessages, generation: number): Promise<void> {
    for await (const status of messages.status()) {
      if (generation !== this.generation) return;
      const lost =
        (status.type === "heartbeats_missed" && status.count >= MISSED_HEARTBEATS) ||
        status.type === "consumer_deleted" ||
        status.type === "consumer_not_found";
      if (!lost) continue;
      this.logger.warn(
        { status: status.type },
        "presence replica lost its consumer; following the bucket anew",
      );
      return this.reload();
    }
  }

  private receive(key: string, msg: JsMsg): void {
    if (key.endsWith(`.${MARKER_KEY}`)) return;
    const op = msg.headers?.get("KV-Operation");
    if (op === "DEL" || op === "PURGE") return this.publish(this.index.apply(key, undefined));
    const msgId = msg.headers?.get("Nats-Msg-Id");
    const own = msgId ? this.ownWrite(key, msgId) : undefined;
    if (own) return this.publish(this.index.apply(key, own));
    let shard: Shard | undefined;
    try {
      const parsed = v.safeParse(Shard, JSON.parse(decoder.decode(msg.data)));
      if (parsed.success) shard = parsed.output;
    } catch {
      // reported below
    }
    if (!shard) {
      this.logger.error({ key: key.slice(0, 100) }, "registry shard is not valid; ignored");
      return;
    }
    this.publish(this.index.apply(key, shard.e));
  }

  private publish(changes: readonly PresenceChange[]): void {
    if (changes.length > 0) this.onChanges(changes);
  }
}
