import {
  type AuthAccepted,
  type ChannelRecover,
  isSharedChannel,
  quote,
  type ReadyFrame,
  type RecoverRequest,
  type SubscribedFrame,
  type SubscribeErrorCode,
  type SubscribeFrame,
  sharedChannel,
  type UnsubscribedFrame,
  type UnsubscribeReason,
  userChannel,
} from "../../protocol/index.js";
import { readyFrame } from "../backend/auth-exchange.js";
import type { SubscribeOutcome } from "../backend/subscribe-authorizer.js";
import { OutboundFrame } from "../delivery/outbound-frame.js";
import type { GatewayContext, TrackedConnection } from "../gateway-context.js";
import type { ChannelReplay, RecoveryResult } from "../history/recovery.js";
import { Replay, type ReplayOutlet, ReplayStalled } from "../history/replay.js";
import { ChannelSubscription, type SubscriptionOwner } from "./channel-subscription.js";

/** The connection whose channels these are: the session. */
export interface SubscribingConnection extends ReplayOutlet, TrackedConnection {
  readonly isOpen: boolean;
  /** `ready` went out: frames may be sent. */
  readonly isReady: boolean;
  /** The client's address, whose share of requests waiting for the backend a subscribe takes. */
  readonly remoteAddress: string;
  /** An exception in the connection's own code: it closes with 1011. */
  internalError(err: unknown, during: string): void;
}

/** Why channels did not reach `ready` or `subscribed`: the same for every channel, however granted. */
interface ChannelFailure {
  readonly kind: "failed";
  readonly code: "BACKEND_UNAVAILABLE";
  readonly message: string;
}

const JOIN_FAILED: ChannelFailure = {
  kind: "failed",
  code: "BACKEND_UNAVAILABLE",
  message: "NATS is not reachable right now; try again later",
};
const HISTORY_FAILED: ChannelFailure = {
  kind: "failed",
  code: "BACKEND_UNAVAILABLE",
  message: "history is not reachable right now; try again later",
};
/** The connection closed, or let go of every channel, meanwhile: there is no one to answer. */
const GONE = { kind: "gone" } as const;

/** Channels joined, and what they missed looked up. */
interface Prepared {
  readonly kind: "prepared";
  /** Each channel's position as joined (undefined with history off). */
  readonly positions: readonly (number | undefined)[];
  /** Undefined with history off. */
  readonly recovery: RecoveryResult | undefined;
}

/** What an accepted connect joined: the `ready` frame to send, then what to replay after it. */
export interface Joined {
  readonly kind: "joined";
  readonly ready: ReadyFrame;
  /** The granted shared channels, as clients name them (the user's own channel left out). */
  readonly shared: string[];
  readonly presence: string[];
  /** The granted channels `ready` lists, and what they replay after it. */
  readonly channels: readonly ChannelSubscription[];
  readonly replays: readonly ChannelReplay[];
}

export type JoinResult = Joined | ChannelFailure | typeof GONE;

/**
 * Every channel one connection receives, each a `ChannelSubscription` going through the same
 * stages: `user.<id>` and the shared channels granted at auth (joined before `ready`), and those
 * it subscribes to afterwards, each asked of the backend on `<prefix>.subscribe`. They join,
 * recover and replay the same way, and the live frames of all of them wait in one replay buffer
 * while they catch up. Answers `subscribe` and `unsubscribe`, takes channels away when told
 * (`control.unsubscribe`, a grant's expiry) in every stage, and lets go of them all when the
 * connection closes. A refused subscribe never closes the connection. Connection events and
 * presence hear of each channel announced after `ready` and of each announced one let go of (the
 * session tells them about the granted ones at `ready`, and about all of them at the close).
 */
export class Subscriptions implements SubscriptionOwner {
  /**
   * The channels held, those on their way included: the granted ones first, `user.<id>` first of
   * all. A connection holds few (`--max-subscriptions`): a scan, not a Map per connection.
   */
  private held: ChannelSubscription[] = [];
  /** Subscribes counted against `--max-subscribes-in-flight` (see `ChannelSubscription.slot`). */
  private underWay = 0;
  /** Where live frames wait while channels catch up: made when one waits, let go of once idle. */
  private replay: Replay | undefined;

  constructor(
    readonly connection: SubscribingConnection,
    private readonly ctx: GatewayContext,
  ) {}

  // ---- channels granted at auth ----

  /**
   * Joins the channels an accepted connect was granted (less those taken away since `askedAt`) and,
   * when it asked to recover, decides what it gets replayed. A channel taken away while joining is
   * left out of `ready`: the removal wins over the grant it raced. The granted channels are
   * announced once this returns: the session sends `ready` then, and `replayGranted` after it.
   */
  async grant(
    reply: AuthAccepted,
    recover: RecoverRequest | undefined,
    askedAt: number,
  ): Promise<JoinResult> {
    const { control, config } = this.ctx;
    const { user } = reply;
    // The schema already checked the alphabet; building the names checks it again, in one place.
    const names = new Set([
      userChannel(user),
      ...(reply.channels ?? [])
        .map(sharedChannel)
        .filter((channel) => !control.removedSince(user, channel, askedAt)),
    ]);
    const granted = [...names].map((channel) => new ChannelSubscription(channel, false, this));
    this.held = granted.slice();
    const prepared = await this.prepare(granted, recover);
    if (prepared.kind !== "prepared") return prepared;
    const kept = granted.filter((subscription) => subscription.advance("replaying"));
    const channels = kept.map((subscription) => subscription.channel);
    const holds = (channel: string) => channels.includes(channel);
    const presence = config.presence ? (reply.presence ?? []).map(sharedChannel).filter(holds) : [];
    const ready = readyFrame(reply, this.connection.id, channels, presence, config);
    const { recovery } = prepared;
    if (recovery) {
      ready.epoch = recovery.epoch;
      ready.positions = Object.fromEntries(Object.entries(recovery.positions).filter(([c]) => holds(c)));
      if (recovery.recovered !== undefined) ready.recovered = recovery.recovered;
    }
    const shared = channels.slice(1);
    return { kind: "joined", ready, shared, presence, channels: kept, replays: recovery?.replays ?? [] };
  }

  /** After `ready` went out: what the granted channels missed, then live. */
  replayGranted(joined: Joined): Promise<void> {
    return this.replayThenLive(joined.channels, joined.replays);
  }

  // ---- channels subscribed with a frame ----

  subscribe(frame: SubscribeFrame): void {
    const { channel } = frame;
    const { maxSubscriptions, maxSubscribesInFlight } = this.ctx.config;
    if (!isSharedChannel(channel))
      return this.refuse(
        channel,
        "INVALID_CHANNEL",
        `cannot subscribe to ${quote(channel)}: not channel.<name>`,
      );
    if (this.find(channel))
      return this.refuse(channel, "ALREADY_SUBSCRIBED", `${channel} is already subscribed`);
    if (this.subscribedCount() >= maxSubscriptions)
      return this.refuse(channel, "TOO_MANY_SUBSCRIPTIONS", `at most ${maxSubscriptions} subscriptions`);
    if (this.underWay >= maxSubscribesInFlight)
      return this.refuse(channel, "TOO_MANY_REQUESTS", `at most ${maxSubscribesInFlight} subscribes at once`);
    const { inFlightPerAddress } = this.ctx;
    if (!inFlightPerAddress.take(this.connection.remoteAddress, "subscribe"))
      return this.refuse(
        channel,
        "TOO_MANY_FROM_ADDRESS",
        `${inFlightPerAddress.limit} calls and subscribes from this address are already waiting for an answer`,
      );
    const subscription = new ChannelSubscription(channel, true, this);
    this.held.push(subscription);
    this.underWay++;
    this.authorizeThenJoin(subscription, frame.recover).catch((err: unknown) =>
      this.connection.internalError(err, "subscribing"),
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
   * Takes a shared channel away, in any stage: before `ready` it is left out of `ready`, after it
   * the client is told why. False when the connection does not hold it.
   */
  remove(channel: string, reason: UnsubscribeReason): boolean {
    if (!this.drop(channel)) return false;
    if (this.connection.isReady) this.send({ type: "unsubscribed", channel, reason });
    return true;
  }

  expired(subscription: ChannelSubscription): void {
    if (this.held.includes(subscription)) this.remove(subscription.channel, "expired");
  }

  /** The connection closed: every channel is let go, with nothing sent. */
  close(): void {
    this.replay?.cancel();
    this.replay = undefined;
    for (const subscription of this.held.splice(0)) this.end(subscription, false);
  }

  private async authorizeThenJoin(
    subscription: ChannelSubscription,
    recover: ChannelRecover | undefined,
  ): Promise<void> {
    const { ctx, connection } = this;
    const { channel } = subscription;
    let outcome: SubscribeOutcome;
    try {
      outcome = await ctx.subscribe.authorize({
        user: connection.user ?? "",
        connection: connection.id,
        gateway: ctx.config.gatewayId,
        channel,
      });
    } finally {
      // The address's slot is held until the backend answered, also when the connection closed meanwhile.
      ctx.inFlightPerAddress.release(connection.remoteAddress);
    }
    ctx.metrics.subscribeResults.inc({ result: outcome.kind });
    subscription.slot = "answered";
    if (subscription.left) return this.settle(subscription);
    if (outcome.kind !== "granted") return this.fail(subscription, ...refusal(outcome));
    subscription.advance("joining");
    const asked = recover && { epoch: recover.epoch, since: { [channel]: recover.since } };
    const prepared = await this.prepare([subscription], asked);
    if (prepared.kind === "gone") return;
    if (prepared.kind === "failed") return this.fail(subscription, prepared.code, prepared.message);
    const subscribed: SubscribedFrame = { type: "subscribed", channel };
    const [position] = prepared.positions;
    if (position !== undefined) subscribed.position = position;
    const recovered = prepared.recovery?.recovered;
    if (recovered !== undefined) subscribed.recovered = recovered;
    const presence = ctx.config.presence && outcome.presence;
    if (presence) subscribed.presence = true;
    subscription.advance("replaying");
    this.settle(subscription);
    ctx.metrics.subscriptions.inc();
    this.send(subscribed);
    ctx.tracking.subscribed(connection, channel, presence);
    if (outcome.expiresAt !== undefined) subscription.expireAt(outcome.expiresAt);
    await this.replayThenLive([subscription], prepared.recovery?.replays ?? []);
  }

  // ---- every channel's way to live ----

  /**
   * Joins the channels at the hub (their live frames wait from then on), then looks up what they
   * missed: one decision for them all, as `recover` asks.
   */
  private async prepare(
    channels: readonly ChannelSubscription[],
    recover: RecoverRequest | undefined,
  ): Promise<Prepared | ChannelFailure | typeof GONE> {
    const { hub, recovery, logger } = this.ctx;
    const { connection } = this;
    let positions: (number | undefined)[];
    try {
      positions = await Promise.all(
        channels.map((subscription) => hub.join(subscription.channel, subscription)),
      );
    } catch (err) {
      logger.error({ connection: connection.id, err: (err as Error).message }, "joining channels failed");
      return JOIN_FAILED;
    }
    const joined = new Map<string, number>();
    channels.forEach((subscription, i) => {
      if (subscription.advance("recovering")) joined.set(subscription.channel, positions[i] ?? 0);
    });
    if (!connection.isOpen || joined.size === 0) return GONE;
    if (!recovery) return { kind: "prepared", positions, recovery: undefined };
    let looked: RecoveryResult;
    try {
      looked = await recovery.prepare(joined, recover);
    } catch (err) {
      logger.error({ connection: connection.id, err: (err as Error).message }, "history lookup failed");
      return HISTORY_FAILED;
    }
    if (!connection.isOpen || channels.every((subscription) => subscription.left)) {
      recovery.discard(looked.replays);
      return GONE;
    }
    return { kind: "prepared", positions, recovery: looked };
  }

  /**
   * Writes what the announced channels missed, then the live frames that waited for them; each goes
   * live once nothing of it waits. A replay that cannot be completed closes the connection, so the
   * client recovers everything on its next one.
   */
  private async replayThenLive(
    channels: readonly ChannelSubscription[],
    replays: readonly ChannelReplay[],
  ): Promise<void> {
    if (!this.replay && replays.length === 0) {
      // nothing waited, nothing to replay: live at once, without a buffer
      for (const subscription of channels) subscription.caughtUp();
      return;
    }
    this.replay ??= new Replay(this.connection, this.ctx.recovery, this.ctx.config);
    try {
      await this.replay.run(replays, channels);
    } catch (err) {
      if (err instanceof ReplayStalled) return this.connection.fail("SLOW_CONSUMER", err.message);
      this.ctx.logger.error(
        { connection: this.connection.id, err: (err as Error).message },
        "history read failed",
      );
      return this.connection.fail(HISTORY_FAILED.code, HISTORY_FAILED.message);
    } finally {
      if (this.replay?.idle) this.replay = undefined;
    }
  }

  /** `SubscriptionOwner`: a live frame of a channel on its way to live waits in the replay buffer. */
  hold(subscription: ChannelSubscription, frame: OutboundFrame): boolean {
    this.replay ??= new Replay(this.connection, this.ctx.recovery, this.ctx.config);
    return this.replay.hold(subscription, frame);
  }

  // ---- letting go ----

  /** Lets go of a shared channel the connection holds, in any stage; false when it holds none by that name. */
  private drop(channel: string): boolean {
    const subscription = isSharedChannel(channel) ? this.find(channel) : undefined;
    if (!subscription) return false;
    this.end(subscription, true);
    return true;
  }

  /**
   * Ends a channel: it leaves the hub and what of it waits goes. `tell`: connection events and
   * presence hear of it when it was announced (not at the close, which they hear of whole).
   */
  private end(subscription: ChannelSubscription, tell: boolean): void {
    const wasAnnounced = subscription.announced;
    const at = this.held.indexOf(subscription);
    if (at >= 0) this.held.splice(at, 1);
    subscription.leave();
    this.ctx.hub.leave(subscription.channel, subscription);
    this.replay?.drop(subscription);
    if (this.replay?.idle) this.replay = undefined;
    this.settle(subscription);
    if (!wasAnnounced) return;
    if (subscription.subscribed) this.ctx.metrics.subscriptions.dec();
    if (tell) this.ctx.tracking.unsubscribed(this.connection, subscription.channel);
  }

  /** No longer under way once the backend answered: announced, refused, or left. */
  private settle(subscription: ChannelSubscription): void {
    if (subscription.slot !== "answered") return;
    subscription.slot = "settled";
    this.underWay--;
  }

  /** A subscribe that does not get its channel: `subscribe_error`, unless it was let go of already. */
  private fail(
    subscription: ChannelSubscription,
    code: SubscribeErrorCode,
    message: string,
    reason?: string,
  ): void {
    if (subscription.left) return;
    this.end(subscription, true);
    this.refuse(subscription.channel, code, message, reason);
  }

  private refuse(channel: string, code: SubscribeErrorCode, message: string, reason?: string): void {
    const frame: Record<string, string> = { type: "subscribe_error", channel, code, message };
    if (reason !== undefined) frame.reason = reason;
    this.connection.send(OutboundFrame.of(frame));
  }

  private send(frame: SubscribedFrame | UnsubscribedFrame): void {
    this.connection.send(OutboundFrame.of(frame));
  }

  private find(channel: string): ChannelSubscription | undefined {
    return this.held.find((subscription) => subscription.channel === channel);
  }

  private subscribedCount(): number {
    let count = 0;
    for (const subscription of this.held) if (subscription.subscribed) count++;
    return count;
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
