import type { ClientFrame } from "../protocol/client-frames.js";
import type { ReadyFrame } from "../protocol/server-frames.js";
import { SUBSCRIBE_ERROR_RETRY } from "../protocol/subscribe-errors.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { HeraldClientError } from "./errors.js";
import type { GatewayUnsubscribedFrame, IncomingFrame } from "./server-frame.js";
import { Subscription, type SubscriptionOwner } from "./subscription.js";
import type { Transport } from "./websocket.js";

type SubscriptionFrame = Extract<IncomingFrame, { type: "subscribed" | "subscribe_error" | "unsubscribed" }>;

/**
 * The channels the connection holds: those granted at auth, and the application's subscriptions by
 * channel. Each subscription is asked for on every ready connection (with `recover`), retried after a
 * retryable `subscribe_error`, and let go of by `unsubscribe()`, a final refusal or the gateway.
 */
export class SubscriptionRegistry implements SubscriptionOwner {
  private readonly byChannel = new Map<string, Subscription>();
  /** The ready connection's transport; undefined while no connection is ready. */
  private transport: Transport | undefined;
  /** The ready connection's stream epoch. */
  private epoch: string | undefined;
  /** The channels granted at auth that the ready connection still holds. */
  private grantedChannels: readonly string[] = [];

  constructor(
    private readonly recover: boolean,
    private readonly backoff: BackoffOptions | undefined,
  ) {}

  /** The channel's subscription; the one already there when the channel is subscribed to twice. */
  subscribe(channel: string): Subscription {
    let subscription = this.byChannel.get(channel);
    if (!subscription) {
      subscription = new Subscription(channel, this, new Backoff(this.backoff));
      this.byChannel.set(channel, subscription);
      this.ask(subscription);
    }
    return subscription;
  }

  /** The subscription whose messages flow now, if the channel has one. */
  live(channel: string): Subscription | undefined {
    const subscription = this.byChannel.get(channel);
    return subscription?.state === "subscribed" ? subscription : undefined;
  }

  /** Whether the channel was granted at auth and not taken away since. */
  granted(channel: string): boolean {
    return this.grantedChannels.includes(channel);
  }

  /** A connection is ready on `transport`: every subscription is asked for on it. */
  ready(frame: ReadyFrame, transport: Transport): void {
    this.transport = transport;
    this.epoch = frame.epoch;
    this.grantedChannels = frame.channels;
    for (const subscription of this.byChannel.values()) this.ask(subscription);
  }

  /** The connection ended: subscriptions wait for the next one. */
  disconnected(): void {
    this.transport = undefined;
    for (const subscription of this.byChannel.values()) subscription.interrupted();
  }

  receive(frame: SubscriptionFrame): void {
    if (!this.transport) return;
    const subscription = this.byChannel.get(frame.channel);
    if (frame.type === "unsubscribed") {
      // Without a reason it only confirms the application's own `unsubscribe()`.
      if (frame.reason) {
        this.grantedChannels = this.grantedChannels.filter((held) => held !== frame.channel);
        if (subscription) this.end(subscription, frame);
      }
      return;
    }
    if (!subscription) return;
    if (frame.type === "subscribed") return subscription.subscribed(frame, this.epoch);
    // a code this client does not know yet is taken as final
    const retryable = SUBSCRIBE_ERROR_RETRY[frame.code as keyof typeof SUBSCRIBE_ERROR_RETRY] === true;
    const error = new HeraldClientError(frame.code, frame.message, { retryable, reason: frame.reason });
    if (retryable) {
      subscription.retryTimer = setTimeout(() => this.ask(subscription), subscription.backoff.next());
    } else this.end(subscription);
    subscription.emit("error", error);
  }

  release(subscription: Subscription): void {
    this.end(subscription);
    this.send({ type: "unsubscribe", channel: subscription.channel });
  }

  /** The client closed for good: every subscription ends. */
  close(): void {
    for (const subscription of [...this.byChannel.values()]) this.end(subscription);
  }

  /** Sends the subscribe when a connection is ready; otherwise `ready` will. */
  private ask(subscription: Subscription): void {
    if (this.byChannel.get(subscription.channel) === subscription)
      this.send(subscription.request(this.recover));
  }

  private send(frame: ClientFrame): void {
    this.transport?.send(JSON.stringify(frame));
  }

  private end(subscription: Subscription, frame?: GatewayUnsubscribedFrame): void {
    if (this.byChannel.get(subscription.channel) === subscription)
      this.byChannel.delete(subscription.channel);
    subscription.close();
    if (frame) subscription.emit("unsubscribed", frame);
  }
}
