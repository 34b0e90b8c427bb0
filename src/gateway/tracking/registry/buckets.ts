import { DiscardPolicy, type JetStreamManager, StorageType } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { GatewayConfig } from "../../config/config.js";
import type { Logger } from "../../logger.js";
import { type DesiredStream, ensureStream } from "../../nats/ensure-stream.js";
import { streamReplicas } from "../../nats/stream-replicas.js";

/** JetStream keeps message ids for dedupe at most this long, and never longer than a bucket's TTL. */
const DUPLICATE_WINDOW_NS = 120 * 1_000_000_000;

export interface RegistryBucketsOptions {
  readonly jsm: JetStreamManager;
  readonly config: GatewayConfig;
  readonly nc: NatsConnection;
  readonly logger: Logger;
}

/**
 * The two KV buckets of the connection registry (see docs/operations.md, "Presence and connection
 * events"), laid out as nats.js and the `nats kv` tool expect (stream `KV_<bucket>`, subjects
 * `$KV.<bucket>.<key>`, one value per key):
 * - `<registryBucket>`: each gateway instance's open connections, in shards; no TTL;
 * - `<registryBucket>_LIVENESS`: one heartbeat key per gateway instance, kept `--liveness-timeout` ms.
 */
export class RegistryBuckets {
  readonly connections: string;
  readonly liveness: string;

  private readonly jsm: JetStreamManager;
  private readonly config: GatewayConfig;
  private readonly nc: NatsConnection;
  private readonly logger: Logger;

  constructor({ jsm, config, nc, logger }: RegistryBucketsOptions) {
    this.jsm = jsm;
    this.config = config;
    this.nc = nc;
    this.logger = logger;
    this.connections = config.registryBucket;
    this.liveness = `${config.registryBucket}_LIVENESS`;
  }

  /** The subject of a key in one of the buckets. */
  subject(bucket: string, key: string): string {
    return `$KV.${bucket}.${key}`;
  }

  streamOf(bucket: string): string {
    return `KV_${bucket}`;
  }

  /** Creates the buckets or brings their settings in line; safe from many gateways at once. */
  async ensure(): Promise<void> {
    const target = streamReplicas({
      jsm: this.jsm,
      config: this.config,
      role: "registry stream",
      option: "eventsReplicas",
      server: this.nc.info,
      logger: this.logger,
    });
    const ttlNs = this.config.livenessTimeout * 1_000_000;
    for (const [bucket, maxAge] of [
      [this.connections, 0],
      [this.liveness, ttlNs],
    ] as const) {
      const desired: DesiredStream = {
        name: this.streamOf(bucket),
        subjects: [`$KV.${bucket}.>`],
        max_msgs_per_subject: 1,
        max_age: maxAge,
        duplicate_window: maxAge > 0 ? Math.min(maxAge, DUPLICATE_WINDOW_NS) : DUPLICATE_WINDOW_NS,
        discard: DiscardPolicy.New,
        allow_rollup_hdrs: true,
        deny_delete: true,
        allow_direct: true,
        storage: this.config.eventsStorage === "memory" ? StorageType.Memory : StorageType.File,
      };
      await ensureStream(target, desired);
    }
  }
}
