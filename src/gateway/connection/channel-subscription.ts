import type { ErrorCodeName } from "../../protocol/index.js";
import type { ChannelMember } from "../delivery/channel-hub.js";
import type { OutboundFrame } from "../delivery/outbound-frame.js";
import type { CatchingUp } from "../history/replay.js";

/**
 * authorizing (a `subscribe` asked of the backend; a channel granted at auth starts at joining) →
 * joining (the hub's subscription; live frames wait from here) → recovering (what was missed is
 * looked up) → replaying (announced in `ready` or `subscribed`; the missed messages, then the live
 * frames that waited, are written) → live (live frames go straight to the socket) → left.
 */
export type SubscriptionStage = "authorizing" | "joining" | "recovering" | "replaying" | "live" | "left";

/** The connection a channel is for: live frames go to it, and failures end it. */
export interface SubscribedConnection {
  /** Writes a frame unless the socket's outbound queue is over its limit. */
  send(frame: OutboundFrame): void;
  /** Ends the connection with an error frame and its close code. */
  fail(code: ErrorCodeName, message: string): void;
  /** An exception in the connection's own code: it closes with 1011. */
  internalError(err: unknown, during: string): void;
}

/** What a channel needs of the connection's channels (`Subscriptions`). */
export interface SubscriptionOwner {
  readonly connection: SubscribedConnection;
  /** Keeps a live frame until the channel is live; false when too many wait already. */
  hold(subscription: ChannelSubscription, frame: OutboundFrame): boolean;
  /** The grant's `expiresAt` passed. */
  expired(subscription: ChannelSubscription): void;
}

/** setTimeout's limit; a longer wait is taken in steps. */
const MAX_TIMER_MS = 2_000_000_000;

/**
 * One channel of one connection, granted at auth or asked for with `subscribe`, from its grant
 * until it is left: the same stages either way. It is the channel's member in the hub, not the
 * session, so a subscription that is still settling after it was left never takes a newer
 * subscription of the same channel with it.
 */
export class ChannelSubscription implements ChannelMember, CatchingUp {
  stage: SubscriptionStage;
  /**
   * A `subscribe` is counted among the connection's subscribes under way from the frame (`asked`),
   * through the backend's answer (`answered`), until it is announced or left (`settled`): an
   * unsubscribe does not free the slot of a request still waiting at the backend. A channel
   * granted at auth is never counted.
   */
  slot: "asked" | "answered" | "settled";
  private expiresAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly channel: string,
    /** Asked for with `subscribe` (not granted at auth). */
    readonly subscribed: boolean,
    private readonly owner: SubscriptionOwner,
  ) {
    this.stage = subscribed ? "authorizing" : "joining";
    this.slot = subscribed ? "asked" : "settled";
  }

  get left(): boolean {
    return this.stage === "left";
  }

  /** Told to the client, in `ready` or `subscribed` (connection events and presence know it too). */
  get announced(): boolean {
    return this.stage === "replaying" || this.stage === "live";
  }

  /** From the hub: straight to the socket once live; before, the frame waits for the replay. */
  deliver(_channel: string, frame: OutboundFrame): void {
    switch (this.stage) {
      case "live":
        return this.owner.connection.send(frame);
      case "joining":
      case "recovering":
      case "replaying":
        if (!this.owner.hold(this, frame))
          this.owner.connection.fail("SLOW_CONSUMER", "too many live messages waited during recovery");
        return;
      default: // left: whatever of it still arrives goes nowhere
    }
  }

  /** The hub ends the connection of a channel's members (e.g. its live feed was interrupted). */
  fail(code: ErrorCodeName, message: string): void {
    this.owner.connection.fail(code, message);
  }

  /** Moves on to `stage` unless the channel was left meanwhile; false when it was. */
  advance(stage: "joining" | "recovering" | "replaying"): boolean {
    if (this.left) return false;
    this.stage = stage;
    return true;
  }

  caughtUp(): void {
    if (this.stage === "replaying") this.stage = "live";
  }

  /** The grant ends at `expiresAt` (ms since the epoch): then the owner is told. */
  expireAt(expiresAt: number): void {
    this.expiresAt = expiresAt;
    clearTimeout(this.timer);
    const left = expiresAt - Date.now();
    if (left <= 0) return this.owner.expired(this);
    this.timer = setTimeout(onTimer, Math.min(left, MAX_TIMER_MS), this);
  }

  /** @internal the timer's callback: a capped wait goes on, a passed expiry ends the grant. */
  timerFired(): void {
    if (this.expiresAt !== undefined && !this.left) this.expireAt(this.expiresAt);
  }

  /** @internal */
  failed(err: unknown): void {
    this.owner.connection.internalError(err, "expiring a subscription");
  }

  /** Stops at once: nothing more of it is held, replayed, delivered or timed. */
  leave(): void {
    this.stage = "left";
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The timer's callback takes the subscription as an argument: no closure per subscription. */
function onTimer(subscription: ChannelSubscription): void {
  try {
    subscription.timerFired();
  } catch (err) {
    subscription.failed(err);
  }
}
