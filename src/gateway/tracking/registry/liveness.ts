import { GaveUpError, type StoredPublisher, WrongRevisionError } from "../../../nats/stored-publish.js";
import type { Logger } from "../../logger.js";
import type { RegistryBuckets } from "./buckets.js";

const encoder = new TextEncoder();

export interface LivenessOptions {
  readonly publisher: StoredPublisher;
  readonly buckets: RegistryBuckets;
  /** The instance whose heartbeat this is (`<gateway id>-<random>`). */
  readonly instance: string;
  readonly gatewayId: string;
  /** `--liveness-timeout`: a heartbeat older than this is dead to the other gateways. */
  readonly timeoutMs: number;
  /** Called when the heartbeat lapsed or was taken by a reaper. */
  readonly onLost: () => void;
  readonly logger: Logger;
}

/**
 * A gateway instance's heartbeat: its key in the liveness bucket, rewritten every quarter of
 * `--liveness-timeout`. The bucket keeps a value that long, so the key of an instance that stopped
 * writing (killed, or cut off from NATS) is gone `timeout` ms after its last write, and the other
 * gateways take it for dead. Each write expects the key's last revision: when it fails, the key
 * expired or another gateway claimed it, this instance is dead to the others, and `onLost` says so.
 */
export class Liveness {
  private revision = 0;
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private stopped = false;
  private lastStored = Date.now();
  private beats = 0;

  private readonly publisher: StoredPublisher;
  private readonly buckets: RegistryBuckets;
  private readonly instance: string;
  private readonly gatewayId: string;
  private readonly timeoutMs: number;
  private readonly onLost: () => void;
  private readonly logger: Logger;

  constructor({ publisher, buckets, instance, gatewayId, timeoutMs, onLost, logger }: LivenessOptions) {
    this.publisher = publisher;
    this.buckets = buckets;
    this.instance = instance;
    this.gatewayId = gatewayId;
    this.timeoutMs = timeoutMs;
    this.onLost = onLost;
    this.logger = logger;
  }

  /**
   * Writes the first heartbeat (the key must not exist yet; tried until NATS takes it), then keeps
   * beating. Throws when JetStream refuses it (e.g. no permission).
   */
  async start(): Promise<void> {
    const ack = await this.publisher.publish(this.subject, this.value(), {
      msgId: `${this.instance}.beat.0`,
      expectRevision: 0,
      keepTrying: () => !this.stopped,
    });
    this.revision = ack.seq;
    this.lastStored = Date.now();
    this.timer = setInterval(() => void this.beat(), Math.max(250, Math.floor(this.timeoutMs / 4)));
    this.timer.unref();
  }

  /** A graceful end: no more heartbeats, and the key deleted so nobody waits for it to expire. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    let attempts = 0;
    await this.publisher
      .publish(this.subject, new Uint8Array(), {
        msgId: `${this.instance}.beat.delete`,
        kvDelete: true,
        keepTrying: () => ++attempts < 3,
      })
      .catch(() => undefined);
  }

  private get subject(): string {
    return this.buckets.subject(this.buckets.liveness, this.instance);
  }

  private async beat(): Promise<void> {
    if (this.beating || this.stopped) return;
    this.beating = true;
    try {
      const ack = await this.publisher.publish(this.subject, this.value(), {
        msgId: `${this.instance}.beat.${++this.beats}`,
        expectRevision: this.revision,
        // Past the timeout the key has expired: a later write could only fail.
        keepTrying: () => !this.stopped && Date.now() - this.lastStored < this.timeoutMs,
      });
      this.revision = ack.seq;
      this.lastStored = Date.now();
    } catch (err) {
      if (err instanceof WrongRevisionError || (err instanceof GaveUpError && !this.stopped)) {
        this.lose(err.message);
      } else if (!this.stopped) {
        this.logger.error({ err: (err as Error).message }, "heartbeat failed");
      }
    } finally {
      this.beating = false;
    }
  }

  private value(): Uint8Array {
    return encoder.encode(
      JSON.stringify({ gateway: this.gatewayId, instance: this.instance, at: Date.now() }),
    );
  }

  private lose(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.logger.warn(
      { instance: this.instance, why },
      "this gateway's heartbeat lapsed: the others take it for dead",
    );
    this.onLost();
  }
}
