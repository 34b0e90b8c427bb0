import {
  type ChannelRecover,
  isSharedChannel,
  quote,
  type SubscribedFrame,
  type SubscribeErrorCode,
  type SubscribeFrame,
  type UnsubscribedFrame,
  type UnsubscribeReason,
} from "../../protocol/index.js";
import type { SubscribeOutcome } from "../backend/subscribe-authorizer.js";
import { OutboundFrame } from "../delivery/outbound-frame.js";
import type { GatewayContext } from "../gateway-context.js";
import type { RecoveryPlan } from "../history/recovery.js";
import { Replay, ReplayStalled } from "../history/replay.js";
import { ChannelSubscription, type ExpiryListener, type SubscriptionHost } from "./channel-subscription.js";

const NOTHING_TO_REPLAY: RecoveryPlan = { recovered: undefined, replays: [] };

/**
 * Every channel one connection receives: `user.<id>` and the shared channels granted at auth (the
 * session joins them before `ready`), and the channels it subscribes to afterwards, each asked of
 * the backend on `<prefix>.subscribe`. Answers `subscribe` and `unsubscribe`, takes channels away
 * when told (`control.unsubscribe`, a grant's expiry) in every state from the grant on, and lets go
 * of them all when the connection closes. A refused subscribe never closes the connection.
 * Connection events and presence are told each channel a ready connection starts or stops
 * receiving after `ready` (the session tells them about the granted ones at `ready`, and about all
 * of them at the close).
 */
export class Subscriptions implements ExpiryListener {
  /**
   * `user.<id>` first, then the shared channels granted at auth and not taken away since; the
   * session is their hub member.
   */
  private granted: string[] = [];
  /** Channels asked for with `subscribe`, from the frame until they end; made on first use. */
  private subscribed: Map<string, ChannelSubscription> | undefined;
  /** Subscribes counted against `--max-subscribes-in-flight` (see `ChannelSubscription.underWay`). */
  private underWay = 0;

  constructor(
    private readonly host: SubscriptionHost,
    private readonly ctx: GatewayContext,
  ) {}

  /** The channels granted at auth, which the session joins (a copy is kept: some may be taken away). */
  grant(channels: readonly string[]): void {
    this.granted = channels.slice();
  }

  /** The channels granted at auth that the connection still holds, `user.<id>` first. */
  get grantedChannels(): readonly string[] {
    return this.granted;
  }

  subscribe(frame: SubscribeFrame): void {
    const { channel } = frame;
    const { maxSubscriptions, maxSubscribesInFlight } = this.ctx.config;
    if (!isSharedChannel(channel))
      return this.refuse(
        channel,
        "INVALID_CHANNEL",
        `cannot subscribe to ${quote(channel)}: not channel.<name>`,
      );
    if (this.granted.includes(channel) || this.subscribed?.has(channel))
      return this.refuse(channel, "ALREADY_SUBSCRIBED", `${channel} is already subscribed`);
    this.subscribed ??= new Map();
    const subscribed = this.subscribed;
    if (subscribed.size >= maxSubscriptions)
      return this.refuse(channel, "TOO_MANY_SUBSCRIPTIONS", `at most ${maxSubscriptions} subscriptions`);
    if (this.underWay >= maxSubscribesInFlight)
      return this.refuse(channel, "TOO_MANY_REQUESTS", `at most ${maxSubscribesInFlight} subscribes at once`);
    const { inFlightPerAddress } = this.ctx;
    if (!inFlightPerAddress.take(this.host.remoteAddress, "subscribe"))
      return this.refuse(
        channel,
        "TOO_MANY_FROM_ADDRESS",
        `${inFlightPerAddress.limit} calls and subscribes from this address are already waiting for an answer`,
      );
    const subscription = new ChannelSubscription(channel, this.host, this);
    subscribed.set(channel, subscription);
    this.underWay++;
    this.run(subscription, frame.recover).catch((err: unknown) =>
      this.host.internalError(err, "subscribing"),
    );
  }

  /** Answers `unsubscribe`: `unsubscribed` whether or not the connection held the channel. */
  unsubscribe(channel: string): void {
    if (!isSharedChannel(channel))
      return this.refuse(
        channel,
        "INVALID_CHANNEL",
        `cannot unsubscribe from ${quote(channel)}: not channel.<name>`,
      );
    this.drop(channel);
    this.send({ type: "unsubscribed", channel });
  }

  /**
   * Takes a shared channel away, in any state: before `ready` it is left out of `ready`, after it
   * the client is told why. False when the connection does not hold it.
   */
  remove(channel: string, reason: UnsubscribeReason): boolean {
    if (!this.drop(channel)) return false;
    if (this.host.isReady) this.send({ type: "unsubscribed", channel, reason });
    return true;
  }

  expired(subscription: ChannelSubscription): void {
    if (this.subscribed?.get(subscription.channel) === subscription)
      this.remove(subscription.channel, "expired");
  }

  /** The connection closed: every channel is let go, with nothing sent. */
  close(): void {
    for (const channel of this.granted) this.ctx.hub.leave(channel, this.host);
    this.granted = [];
    for (const subscription of this.subscribed?.values() ?? []) this.end(subscription, false);
  }

  private async run(subscription: ChannelSubscription, recover: ChannelRecover | undefined): Promise<void> {
    const { ctx, host } = this;
    const { channel } = subscription;
    let outcome: SubscribeOutcome;
    try {
      outcome = await ctx.subscribe.authorize({
        user: host.user ?? "",
        connection: host.id,
        gateway: ctx.config.gatewayId,
        channel,
      });
    } finally {
      // The address's slot is held until the backend answered, also when the connection closed meanwhile.
      ctx.inFlightPerAddress.release(host.remoteAddress);
    }
    ctx.metrics.subscribeResults.inc({ result: outcome.kind });
    subscription.answered = true;
    if (subscription.ended) return this.settle(subscription);
    if (outcome.kind !== "granted") return this.fail(subscription, ...refusal(outcome));
    const replay = new Replay(host, ctx.recovery, ctx.config);
    subscription.joining(replay);
    const subscribed: SubscribedFrame = { type: "subscribed", channel };
    let plan = NOTHING_TO_REPLAY;
    try {
      const position = await ctx.hub.join(channel, subscription);
      if (subscription.ended) return;
      if (position !== undefined) subscribed.position = position;
      if (ctx.recovery) plan = await ctx.recovery.prepareChannel(channel, position ?? 0, recover);
    } catch (err) {
      ctx.logger.error({ connection: host.id, channel, err: (err as Error).message }, "subscribing failed");
      return this.fail(subscription, "BACKEND_UNAVAILABLE", "NATS or the history is not reachable right now");
    }
    if (subscription.ended) return ctx.recovery?.discard(plan.replays);
    if (plan.recovered !== undefined) subscribed.recovered = plan.recovered;
    const presence = ctx.config.presence && outcome.presence;
    if (presence) subscribed.presence = true;
    this.settle(subscription);
    subscription.stage = "live";
    ctx.metrics.subscriptions.inc();
    this.send(subscribed);
    ctx.connectionEvents.subscribed(host, channel, presence);
    if (outcome.expiresAt !== undefined) subscription.expireAt(outcome.expiresAt);
    try {
      await replay.run(plan.replays);
    } catch (err) {
      if (err instanceof ReplayStalled) return host.fail("SLOW_CONSUMER", err.message);
      ctx.logger.error({ connection: host.id, channel, err: (err as Error).message }, "history read failed");
      return host.fail("BACKEND_UNAVAILABLE", "history is not reachable right now; try again later");
    }
    if (subscription.replay === replay) subscription.replay = undefined; // live frames go straight out
  }

  /**
   * Lets go of a channel the connection holds, and of its live frames waiting behind a replay; false
   * when it holds none by that name.
   */
  private drop(channel: string): boolean {
    const subscription = this.subscribed?.get(channel);
    if (subscription) {
      this.end(subscription, true);
    } else {
      const index = this.granted.indexOf(channel);
      if (index < 0 || !isSharedChannel(channel)) return false;
      this.granted.splice(index, 1);
      this.ctx.hub.leave(channel, this.host);
      // before `ready`, connection events have not heard of the connection's channels yet
      if (this.host.isReady) this.ctx.connectionEvents.unsubscribed(this.host, channel);
    }
    this.host.letGo(channel);
    return true;
  }

  /** Ends a subscription; `tell`: connection events and presence hear of it (not at the close). */
  private end(subscription: ChannelSubscription, tell: boolean): void {
    const wasLive = subscription.stage === "live";
    if (this.subscribed?.get(subscription.channel) === subscription)
      this.subscribed.delete(subscription.channel);
    subscription.end();
    this.ctx.hub.leave(subscription.channel, subscription);
    this.settle(subscription);
    if (!wasLive) return;
    this.ctx.metrics.subscriptions.dec();
    if (tell) this.ctx.connectionEvents.unsubscribed(this.host, subscription.channel);
  }

  /** No longer under way: live, refused, or ended once the backend answered. */
  private settle(subscription: ChannelSubscription): void {
    if (!subscription.underWay || !subscription.answered) return;
    subscription.underWay = false;
    this.underWay--;
  }

  private fail(
    subscription: ChannelSubscription,
    code: SubscribeErrorCode,
    message: string,
    reason?: string,
  ): void {
    this.end(subscription, true);
    this.refuse(subscription.channel, code, message, reason);
  }

  private refuse(channel: string, code: SubscribeErrorCode, message: string, reason?: string): void {
    const frame: Record<string, string> = { type: "subscribe_error", channel, code, message };
    if (reason !== undefined) frame.reason = reason;
    this.host.send(OutboundFrame.of(frame));
  }

  private send(frame: SubscribedFrame | UnsubscribedFrame): void {
    this.host.send(OutboundFrame.of(frame));
  }
}

/** The `subscribe_error` for an outcome other than a grant: code, message and the backend's reason. */
function refusal(
  outcome: Exclude<SubscribeOutcome, { kind: "granted" }>,
): [SubscribeErrorCode, string, string?] {
  switch (outcome.kind) {
    case "refused":
      return ["SUBSCRIBE_REFUSED", outcome.message, outcome.code];
    case "unavailable":
      return ["BACKEND_UNAVAILABLE", `${outcome.message}; try again later`];
    case "invalid_reply":
      return ["BACKEND_INVALID_REPLY", "the backend's subscribe reply was invalid; try again later"];
  }
}
