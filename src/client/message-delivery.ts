import type { RecoverRequest } from "../protocol/client-frames.js";
import type { MessageFrame, ReadyFrame } from "../protocol/server-frames.js";
import type { HeraldEvents } from "./connect-options.js";
import { Emitter, type Listener } from "./events.js";
import { RecoveryTracker, type Verdict } from "./recovery.js";
import type { SubscriptionRegistry } from "./subscription-registry.js";

/**
 * What the client does with `message` frames: drops replayed duplicates, notices gaps (with
 * `recover` on), and hands every other message to the application, on `message`, to the listeners
 * of its channel and to its subscription. Remembers across connections what a reconnect asks to
 * recover for the channels granted at auth (each subscription remembers its own).
 */
export class MessageDelivery {
  private readonly recovery = new RecoveryTracker();
  private readonly channels = new Emitter<Record<string, MessageFrame>>();
  private wasReady = false;

  constructor(
    private readonly recover: boolean,
    /** The client's own listeners. */
    private readonly events: Emitter<HeraldEvents>,
    private readonly subscriptions: Pick<SubscriptionRegistry, "live" | "granted">,
  ) {}

  /** The `recover` part of the next auth frame, if any. */
  recoverRequest(): RecoverRequest | undefined {
    return this.recover ? this.recovery.request() : undefined;
  }

  /** Takes in a `ready` frame; true when messages may have been missed since the last one (resync). */
  ready(frame: ReadyFrame): boolean {
    const resync = this.wasReady && frame.recovered !== true;
    this.wasReady = true;
    this.recovery.ready(frame);
    return resync;
  }

  /** Listens to the messages of one channel; returns a function that removes the listener. */
  onChannel(name: string, listener: Listener<MessageFrame>): () => void {
    return this.channels.on(name, listener);
  }

  /** Delivers a message unless it is a duplicate; a gap is left for the connection to recover. */
  deliver(frame: MessageFrame): Verdict {
    const subscription = this.subscriptions.live(frame.channel);
    // A channel let go of (unsubscribed, or not yet subscribed again) may still have messages on their way.
    if (!subscription && !this.subscriptions.granted(frame.channel)) return "duplicate";
    const verdict = !this.recover
      ? "deliver"
      : subscription
        ? subscription.accept(frame)
        : this.recovery.accept(frame);
    if (verdict !== "deliver") return verdict;
    this.events.emit("message", frame);
    this.channels.emit(frame.channel, frame);
    subscription?.emit("message", frame);
    return verdict;
  }

  /** Forgets the recovery position (the client closed for good). */
  reset(): void {
    this.recovery.reset();
    this.wasReady = false;
  }
}
