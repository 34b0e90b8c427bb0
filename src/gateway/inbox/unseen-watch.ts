import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { isJetStreamError, JetStreamErrorCode } from "../../nats/jetstream-errors.js";
import type { StoredPublisher } from "../../nats/stored-publish.js";
import type { UnseenEvent } from "../../protocol/index.js";
import type { Logger } from "../logger.js";
import type { InboxMetrics } from "./inbox-metrics.js";
import { isSeen } from "./inbox-state.js";
import type { InboxStore } from "./inbox-store.js";

/** The one consumer every gateway pulls from: its place survives every gateway's restart. */
export const UNSEEN_CONSUMER = "herald-inbox-unseen";
/** A notification being checked is given back to another gateway when its own stops answering. */
const ACK_WAIT_NS = 30 * 1_000_000_000;
/**
 * Notifications waiting for their time at once. The consumer delivers in stream order, which is
 * the order they come due: the oldest are always among those waiting, and the server's memory for
 * them stays bounded however many notifications are sent.
 */
const MAX_WAITING = 1000;
/** Notifications taken per pull, and how long a pull waits for one (and a stop for the pull). */
const BATCH = 50;
const PULL_EXPIRES_MS = 1000;
/** A check that failed (JetStream not answering) is tried again after this long. */
const RETRY_MS = 1000;
const encoder = new TextEncoder();

export interface UnseenWatchOptions {
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  readonly store: InboxStore;
  readonly publisher: StoredPublisher;
  /** `--inbox-stream`. */
  readonly stream: string;
  /** `--inbox-unseen-after`, in ms. */
  readonly afterMs: number;
  readonly gatewayId: string;
  readonly epoch: () => string;
  readonly metrics: InboxMetrics;
  readonly logger: Logger;
}

/**
 * "Not seen in time": one durable consumer on the inbox stream, shared by every gateway with
 * `--inbox-unseen-after` (each pulls from it; each notification reaches one at a time). A
 * notification younger than the delay is handed back with a NAK that delays its redelivery until
 * it comes due; a due one is checked against its user's state, and if no connection marked it
 * seen (read and archived imply seen) one `unseen` event is stored in the events stream with
 * `Nats-Msg-Id` `unseen:<epoch>:<id>`, then the notification is acknowledged. The consumer is
 * durable and independent of connections: it works for users who were never connected, and
 * across the restart of every gateway.
 */
export class UnseenWatch {
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: UnseenWatchOptions) {}

  async start(): Promise<void> {
    await this.ensureConsumer();
    this.running = this.run();
  }

  /** Resolves once the pull under way has ended (within PULL_EXPIRES_MS) and what it took is handed back. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async ensureConsumer(): Promise<void> {
    const { jsm, stream, store } = this.options;
    const config = {
      durable_name: UNSEEN_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      // Enabling the feature does not go back over every notification already stored.
      deliver_policy: DeliverPolicy.New,
      filter_subject: store.subjects.notifyAll,
      ack_wait: ACK_WAIT_NS,
      max_ack_pending: MAX_WAITING,
      max_deliver: -1,
    };
    try {
      await jsm.consumers.info(stream, UNSEEN_CONSUMER);
      await jsm.consumers.update(stream, UNSEEN_CONSUMER, {
        filter_subject: config.filter_subject,
        ack_wait: config.ack_wait,
        max_ack_pending: config.max_ack_pending,
      });
    } catch (err) {
      if (!isJetStreamError(err, JetStreamErrorCode.ConsumerNotFound)) throw err;
      // Another gateway making it at the same moment makes the same one: the server answers both.
      await jsm.consumers.add(stream, config);
    }
  }

  private async run(): Promise<void> {
    const { js, stream, logger } = this.options;
    while (!this.stopped) {
      try {
        const consumer = await js.consumers.get(stream, UNSEEN_CONSUMER);
        while (!this.stopped) {
          const batch = await consumer.fetch({ max_messages: BATCH, expires: PULL_EXPIRES_MS });
          for await (const msg of batch) {
            // Taken while stopping: handed back at once for another gateway, not after the ack wait.
            if (this.stopped) msg.nak();
            else await this.check(msg);
          }
        }
      } catch (err) {
        if (this.stopped) break;
        logger.warn({ err: (err as Error).message }, "unseen notifications: pulling failed; trying again");
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        await this.ensureConsumer().catch(() => undefined);
      }
    }
  }

  private async check(msg: JsMsg): Promise<void> {
    const { afterMs, store, metrics, logger } = this.options;
    const stored = Math.floor(msg.info.timestampNanos / 1_000_000);
    const wait = stored + afterMs - Date.now();
    if (wait > 0) {
      msg.nak(wait);
      return;
    }
    const user = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
    try {
      const { state } = await store.state(user);
      if (isSeen(state, msg.seq)) {
        metrics.unseenEvents.inc({ result: "seen" });
      } else {
        await this.publish(user, msg.seq, stored);
        metrics.unseenEvents.inc({ result: "event" });
      }
      msg.ack();
    } catch (err) {
      metrics.unseenEvents.inc({ result: "failed" });
      logger.warn(
        { user, notification: msg.seq, err: (err as Error).message },
        "unseen check failed; trying again",
      );
      msg.nak(RETRY_MS);
    }
  }

  private async publish(user: string, id: number, notified: number): Promise<void> {
    const { publisher, store, gatewayId, epoch } = this.options;
    const event: UnseenEvent = {
      id: `unseen:${epoch()}:${id}`,
      kind: "unseen",
      user,
      notification: id,
      notified,
      time: Date.now(),
      gateway: gatewayId,
    };
    await publisher.publish(store.subjects.unseen(user), encoder.encode(JSON.stringify(event)), {
      // The same id for a redelivery of the same notification: the events stream stores one event.
      msgId: event.id,
      // Within the check's acknowledgement wait: a check that runs out is tried again, by anyone.
      timeout: ACK_WAIT_NS / 2_000_000,
      keepTrying: () => !this.stopped,
    });
  }
}
