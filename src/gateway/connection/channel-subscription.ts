import type { ErrorCodeName } from "../../protocol/index.js";
import type { ChannelMember } from "../delivery/channel-hub.js";
import type { OutboundFrame } from "../delivery/outbound-frame.js";
import type { TrackedConnection } from "../gateway-context.js";
import type { Replay, ReplayOutlet } from "../history/replay.js";

/** What a subscription needs of its connection: the session. */
export interface SubscriptionHost extends ChannelMember, ReplayOutlet, TrackedConnection {
  readonly isOpen: boolean;
  /** The client's address, whose share of requests waiting for the backend a subscribe takes. */
  readonly remoteAddress: string;
  /** `ready` went out: frames may be sent. */
  readonly isReady: boolean;
  /** An exception in the connection's own code: it closes with 1011. */
  internalError(err: unknown, during: string): void;
  /** It no longer holds `channel`: live frames of it waiting behind the connection's replay go. */
  letGo(channel: string): void;
}

/** Told when a subscription's grant runs out. */
export interface ExpiryListener {
  expired(subscription: ChannelSubscription): void;
}

/** setTimeout's limit; a longer wait is taken in steps. */
const MAX_TIMER_MS = 2_000_000_000;

/**
 * One channel a connection asked for with `subscribe`, from that frame until it ends: being
 * authorized, joining (its live frames wait until `subscribed` and any replay are written), live,
 * ended. It is the channel's member in the hub, not the session, so an ended subscription that is
 * still settling never takes a newer subscription of the same channel with it.
 */
export class ChannelSubscription implements ChannelMember {
  stage: "authorizing" | "joining" | "live" | "ended" = "authorizing";
  /** While joining and replaying: live frames of the channel wait in it. */
  replay: Replay | undefined;
  /**
   * Counted among the connection's subscribes under way until it is live or ends, and in any case
   * until the backend answered its request or it timed out: an unsubscribe does not free the slot
   * of a request still waiting at the backend.
   */
  underWay = true;
  /** The backend's answer came (or the request timed out). */
  answered = false;
  private expiresAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly channel: string,
    private readonly host: SubscriptionHost,
    private readonly expiry: ExpiryListener,
  ) {}

  get ended(): boolean {
    return this.stage === "ended";
  }

  /** Joining from now on: live frames wait in `replay` until it has run. */
  joining(replay: Replay): void {
    this.stage = "joining";
    this.replay = replay;
  }

  deliver(channel: string, frame: OutboundFrame, seq: number | undefined): void {
    const replay = this.replay;
    if (replay && !replay.done) {
      if (!replay.hold(channel, frame))
        this.host.fail("SLOW_CONSUMER", "too many live messages waited during recovery");
      return;
    }
    this.host.deliver(channel, frame, seq);
  }

  fail(code: ErrorCodeName, message: string): void {
    this.host.fail(code, message);
  }

  /** The grant ends at `expiresAt` (ms since the epoch): then the expiry listener is told. */
  expireAt(expiresAt: number): void {
    this.expiresAt = expiresAt;
    clearTimeout(this.timer);
    const left = expiresAt - Date.now();
    if (left <= 0) return this.expiry.expired(this);
    this.timer = setTimeout(onTimer, Math.min(left, MAX_TIMER_MS), this);
  }

  /** @internal the timer's callback: a capped wait goes on, a passed expiry ends the grant. */
  timerFired(): void {
    if (this.expiresAt !== undefined && !this.ended) this.expireAt(this.expiresAt);
  }

  /** @internal */
  failed(err: unknown): void {
    this.host.internalError(err, "expiring a subscription");
  }

  /** Stops at once: nothing more is held, replayed or timed. */
  end(): void {
    this.stage = "ended";
    this.replay?.cancel();
    this.replay = undefined;
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
