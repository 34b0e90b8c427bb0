import type { SubscribeFrame } from "../protocol/client-frames.js";
import type { MessageFrame, SubscribedFrame } from "../protocol/server-frames.js";
import type { Backoff } from "./backoff.js";
import type { HeraldClientError } from "./errors.js";
import { Emitter, type Listener } from "./events.js";
import { type Verdict, verdictAfter } from "./recovery.js";
import type { GatewayUnsubscribedFrame } from "./server-frame.js";

export type SubscriptionEvents = {
  /** The gateway's `subscribed`: the channel's messages follow. Again after every reconnect. */
  subscribed: SubscribedFrame;
  /** A message of this channel, in order, without duplicates. */
  message: MessageFrame;
  /**
   * A `subscribe_error` (or the client closing for good). `retryable`: the subscription asks again
   * by itself after a backoff delay; otherwise it has ended (state `closed`).
   */
  error: HeraldClientError;
  /** Subscribed again, but messages of the channel may have been missed meanwhile: refetch its state. */
  resync: SubscribedFrame;
  /** The gateway took the channel away (`reason`: `removed` by the backend, or `expired`): it has ended. */
  unsubscribed: GatewayUnsubscribedFrame;
};

/**
 * - `subscribing`: asked for (or waiting for a ready connection to ask on); no messages yet;
 * - `subscribed`: the gateway said `subscribed` on the current connection: messages flow;
 * - `closed`: ended by `unsubscribe()`, a refusal, the gateway, or the client's `close()`.
 */
export type SubscriptionState = "subscribing" | "subscribed" | "closed";

/** What a subscription asks of the client holding it. */
export interface SubscriptionOwner {
  /** Lets go of the subscription, telling the gateway when connected. */
  release(subscription: Subscription): void;
}

/**
 * One channel the application subscribed to with `client.subscribe(channel)`. The client asks the
 * gateway for it on every ready connection, recovering what was missed (history on), until
 * `unsubscribe()` or the gateway ends it.
 */
export class Subscription {
  private readonly events = new Emitter<SubscriptionEvents>();
  private current: SubscriptionState = "subscribing";
  /** History on: the stream epoch and the last sequence seen on the channel, for `recover`. */
  private epoch: string | undefined;
  private lastSeq: number | undefined;
  private wasSubscribed = false;
  /** @internal the next attempt after a retryable refusal */
  retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly channel: string,
    private readonly owner: SubscriptionOwner,
    /** @internal delays between attempts after retryable refusals */
    readonly backoff: Backoff,
  ) {}

  get state(): SubscriptionState {
    return this.current;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof SubscriptionEvents>(event: K, listener: Listener<SubscriptionEvents[K]>): () => void {
    return this.events.on(event, listener);
  }

  off<K extends keyof SubscriptionEvents>(event: K, listener: Listener<SubscriptionEvents[K]>): void {
    this.events.off(event, listener);
  }

  /** Stops receiving the channel, for good. */
  unsubscribe(): void {
    if (this.current !== "closed") this.owner.release(this);
  }

  /** @internal the frame that asks for the channel, recovering from where it was when it can */
  request(recover: boolean): SubscribeFrame {
    const { channel, epoch, lastSeq } = this;
    return recover && epoch !== undefined && lastSeq !== undefined
      ? { type: "subscribe", channel, recover: { epoch, since: lastSeq } }
      : { type: "subscribe", channel };
  }

  /** @internal `subscribed` on a connection of stream `epoch` */
  subscribed(frame: SubscribedFrame, epoch: string | undefined): void {
    const resync = this.wasSubscribed && frame.recovered !== true;
    if (frame.recovered !== true || epoch !== this.epoch) this.lastSeq = frame.position;
    this.epoch = epoch;
    this.wasSubscribed = true;
    this.current = "subscribed";
    this.backoff.reset();
    this.events.emit("subscribed", frame);
    if (resync) this.events.emit("resync", frame);
  }

  /** @internal the connection ended: subscribing again on the next one */
  interrupted(): void {
    if (this.current === "subscribed") this.current = "subscribing";
    clearTimeout(this.retryTimer);
  }

  /** @internal duplicates and gaps, by the last sequence seen */
  accept(frame: MessageFrame): Verdict {
    const verdict = verdictAfter(this.lastSeq, frame);
    if (verdict === "deliver" && frame.seq !== undefined) this.lastSeq = frame.seq;
    return verdict;
  }

  /** @internal */
  emit<K extends keyof SubscriptionEvents>(event: K, payload: SubscriptionEvents[K]): void {
    this.events.emit(event, payload);
  }

  /** @internal ended: by the application, a refusal, the gateway or the client */
  close(): void {
    this.current = "closed";
    clearTimeout(this.retryTimer);
  }
}
