import type { ChannelHub } from "../delivery/channel-hub.js";
import type { Logger } from "../logger.js";
import type { NatsLink } from "../nats/nats-link.js";
import type { History } from "./history.js";

/** Direct gets in flight at once while checking channels after a reconnect. */
const CONCURRENCY = 64;
const ATTEMPTS = 3;

export interface LiveInterruptionOptions {
  /** The link whose disconnects and reconnects are listened to. */
  readonly link: NatsLink;
  readonly hub: ChannelHub;
  /** Asked for the channels' last sequences after a reconnect. */
  readonly history: History;
  readonly logger: Logger;
}

/**
 * While the gateway's NATS connection is down, or moving to another server (a node killed, a hung
 * one left), the stream keeps storing messages but their live copies do not reach this gateway.
 * A client notices the gap only at its channel's next message, which for a quiet personal channel
 * may be hours away. So after each reconnect the gateway asks the stream for the last sequence of
 * every channel it holds (a direct get, which any replica answers); a channel with a message past
 * the last sequence delivered here before the interruption may have missed it, and its sockets are
 * closed with INTERRUPTED (1012): the client reconnects at once and recovers exactly what it missed.
 * Channels with nothing new keep their sockets. The positions the hub learnt before an interruption
 * are forgotten at the disconnect and again at the reconnect: its joins wait for new ones.
 */
export class LiveInterruption {
  /** Sequence delivered before the first interruption not checked yet. */
  private pendingSince: number | undefined;
  private disconnects = 0;
  /** Checks run one after another, one per reconnect. */
  private queue: Promise<void> = Promise.resolve();

  /** Checks after every reconnect of the link from now on, for as long as the connection lives. */
  static watch(options: LiveInterruptionOptions): LiveInterruption {
    return new LiveInterruption(options);
  }

  private readonly link: NatsLink;
  private readonly hub: ChannelHub;
  private readonly history: History;
  private readonly logger: Logger;

  private constructor({ link, hub, history, logger }: LiveInterruptionOptions) {
    this.link = link;
    this.hub = hub;
    this.history = history;
    this.logger = logger;
    link.onDisconnect(() => {
      this.disconnects++;
      // An earlier interruption not checked yet keeps its (lower) sequence.
      this.pendingSince ??= this.hub.highestSequence;
      this.hub.forgetPositions(); // what the subscriptions get while away is lost to them
    });
    link.onReconnect(() => {
      this.hub.forgetPositions();
      this.queue = this.queue.then(() => this.checkPending());
    });
  }

  private async checkPending(): Promise<void> {
    const since = this.pendingSince;
    if (since === undefined) return;
    const disconnects = this.disconnects;
    try {
      // The restored subscriptions are in place: whatever is stored from now on arrives live.
      await this.link.nc.flush();
    } catch {
      return; // disconnected again: the next reconnect checks
    }
    const channels = this.hub.channelNames();
    let next = 0;
    let interrupted = 0;
    let closed = 0;
    const worker = async () => {
      while (next < channels.length) {
        const channel = channels[next++] as string;
        if (!(await this.missedSince(channel, since))) continue;
        interrupted++;
        closed += this.hub.failMembers(
          channel,
          "INTERRUPTED",
          "messages may have been missed while the gateway reconnected to NATS; reconnect to recover them",
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, channels.length) }, worker));
    // Another interruption during the check: what was read may be stale; the next reconnect checks again.
    if (disconnects === this.disconnects) this.pendingSince = undefined;
    this.logger.info(
      { channels: channels.length, interrupted, closed, since },
      "checked channels for messages missed while reconnecting to NATS",
    );
  }

  /** Whether the channel stored a message after `since`; if the stream cannot say, assume so. */
  private async missedSince(channel: string, since: number): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.history.lastSequence(channel)) > since;
      } catch (err) {
        if (attempt >= ATTEMPTS) {
          this.logger.warn(
            { channel, err: (err as Error).message },
            "cannot check a channel after reconnecting",
          );
          return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }
}
