import { randomBytes } from "node:crypto";
import type { StoredPublisher } from "../../../nats/stored-publish.js";
import type { Logger } from "../../logger.js";
import type { RegistryBuckets } from "./buckets.js";
import { ConnectionRecords } from "./connection-records.js";
import { Liveness } from "./liveness.js";
import type { TrackingMetrics } from "./tracking-metrics.js";

/** One life of this gateway in the registry: its own id, its connection records, its heartbeat. */
export interface Instance {
  readonly id: string;
  readonly records: ConnectionRecords;
  /** False once the other gateways took this instance for dead (or the gateway stopped). */
  readonly current: boolean;
}

export interface RegistryOptions {
  readonly publisher: StoredPublisher;
  readonly buckets: RegistryBuckets;
  readonly gatewayId: string;
  /** `--liveness-timeout` */
  readonly timeoutMs: number;
  readonly metrics: TrackingMetrics;
  readonly logger: Logger;
  /** Ends a lapsed instance's connections: they reconnect and register with the new one. */
  readonly onLapse: (lapsed: Instance) => void;
  /** Least ms between two writes of one shard of connection records. */
  readonly writeIntervalMs: number;
}

/**
 * This gateway's place in the connection registry. It runs as an instance (`<gateway id>-<random>`)
 * with a heartbeat and its records. When the heartbeat lapses (NATS away for longer than
 * `--liveness-timeout`, or a reaper already took the records), the instance is dead to the others,
 * who publish its connections' disconnects: the gateway starts a new instance at once, and
 * `onLapse` ends the old instance's connections (they reconnect, and register with the new one).
 */
export class Registry {
  private active: InstanceState;
  private stopped = false;

  private readonly publisher: StoredPublisher;
  private readonly buckets: RegistryBuckets;
  private readonly gatewayId: string;
  private readonly timeoutMs: number;
  private readonly metrics: TrackingMetrics;
  private readonly logger: Logger;
  private readonly onLapse: (lapsed: Instance) => void;
  private readonly writeIntervalMs: number;

  constructor({
    publisher,
    buckets,
    gatewayId,
    timeoutMs,
    metrics,
    logger,
    onLapse,
    writeIntervalMs,
  }: RegistryOptions) {
    this.publisher = publisher;
    this.buckets = buckets;
    this.gatewayId = gatewayId;
    this.timeoutMs = timeoutMs;
    this.metrics = metrics;
    this.logger = logger;
    this.onLapse = onLapse;
    this.writeIntervalMs = writeIntervalMs;
    this.active = this.create();
  }

  /** The instance new connections register with. */
  get current(): Instance {
    return this.active;
  }

  /** Starts the first instance: heartbeat, then marker. Throws when NATS refuses either. */
  async start(): Promise<void> {
    await this.active.liveness.start();
    await this.active.records.register();
  }

  /** A graceful end: records deleted (when nothing is left to reap), then the heartbeat. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.active.current = false;
    await this.active.records.close();
    if (this.active.records.size === 0) await this.active.liveness.stop();
  }

  private create(): InstanceState {
    const id = `${this.gatewayId}-${randomBytes(3).toString("hex")}`;
    let state: InstanceState | undefined;
    const lapse = () => {
      if (state) this.lapse(state);
    };
    const { publisher, buckets, gatewayId, logger } = this;
    const parts = { publisher, buckets, instance: id, gatewayId, onLost: lapse, logger };
    state = {
      id,
      current: true,
      records: new ConnectionRecords({ ...parts, writeIntervalMs: this.writeIntervalMs }),
      liveness: new Liveness({ ...parts, timeoutMs: this.timeoutMs }),
    };
    return state;
  }

  private lapse(lapsed: InstanceState): void {
    if (!lapsed.current || this.stopped) return;
    lapsed.current = false;
    this.metrics.lapses.inc();
    void lapsed.liveness.stop();
    void lapsed.records.close();
    const next = this.create();
    this.active = next;
    this.logger.warn({ lapsed: lapsed.id, instance: next.id }, "starting again as a new registry instance");
    void this.startAgain(next);
    this.onLapse(lapsed);
  }

  /** A new instance after a lapse: both writes are retried for as long as NATS does not take them. */
  private async startAgain(next: InstanceState): Promise<void> {
    try {
      await next.liveness.start();
      await next.records.register();
    } catch (err) {
      this.logger.error(
        { instance: next.id, err: (err as Error).message },
        "registry instance did not start",
      );
    }
  }
}

interface InstanceState extends Instance {
  current: boolean;
  records: ConnectionRecords;
  liveness: Liveness;
}
