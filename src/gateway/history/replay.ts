import type { GatewayConfig } from "../config/config.js";
import { buildMessageFrame, channelFramePrefix } from "../delivery/message-frame.js";
import type { OutboundFrame } from "../delivery/outbound-frame.js";
import type { HistoryReader } from "./history-reader.js";
import { type ChannelReplay, type Recovery, ReplicaBehind } from "./recovery.js";

/** The socket side of a replay: the session's. */
export interface ReplayOutlet {
  /** Writes a frame whatever the socket holds; resolves once the socket has taken it, or closed. */
  writeReplayed(frame: OutboundFrame): Promise<void>;
}

export class ReplayStalled extends Error {
  override readonly name = "ReplayStalled";
}

/**
 * From `join` until live delivery takes over: live frames wait here (bounded), while the replayed
 * history is read a page at a time and written as fast as the socket takes it, never more than a
 * window ahead of it — so a backlog larger than the socket's bound still reaches a client that
 * reads at a normal pace, and memory holds one page per replaying connection. Then the frames that
 * waited follow, paced the same way, and the session writes live frames itself again.
 */
export class Replay {
  /** True once live frames go straight to the socket again. */
  done = false;
  private held: OutboundFrame[] = [];
  /** The channel of each held frame (the connection may let go of one meanwhile); shared strings. */
  private heldChannels: string[] = [];
  private heldBytes = 0;
  private inFlight = 0;
  private cancelled = false;
  /** Channels the connection let go of meanwhile: nothing more of them is written. */
  private dropped: Set<string> | undefined;
  private wake: (() => void) | undefined;
  private readers: HistoryReader[] = [];

  /** Bytes the replay keeps written but not yet taken by the socket: half the socket's bound. */
  private readonly windowBytes: number;
  /** Bytes of live frames that may wait meanwhile: the socket's bound. */
  private readonly heldLimit: number;
  /** A socket that takes nothing for this long has stopped reading. */
  private readonly stallMs: number;

  constructor(
    private readonly outlet: ReplayOutlet,
    private readonly recovery: Recovery | undefined,
    config: Pick<GatewayConfig, "maxBufferedBytes" | "heartbeatTimeout">,
  ) {
    this.windowBytes = Math.floor(config.maxBufferedBytes / 2);
    this.heldLimit = config.maxBufferedBytes;
    this.stallMs = config.heartbeatTimeout;
  }

  /** Keeps a live frame until the replay is written; false when too many wait already. */
  hold(channel: string, frame: OutboundFrame): boolean {
    this.heldBytes += frame.payload.length;
    if (this.heldBytes > this.heldLimit) return false;
    this.held.push(frame);
    this.heldChannels.push(channel);
    return true;
  }

  /**
   * The connection let go of `channel` (unsubscribed, or taken away): what of it waits goes now,
   * and its replay, begun or not, writes nothing more, so nothing of it follows `unsubscribed`.
   */
  drop(channel: string): void {
    if (this.done) return;
    this.dropped ??= new Set();
    this.dropped.add(channel);
    const held: OutboundFrame[] = [];
    const heldChannels: string[] = [];
    for (let i = 0; i < this.held.length; i++) {
      const frame = this.held[i]!;
      if (this.heldChannels[i] === channel) {
        this.heldBytes -= frame.payload.length;
      } else {
        held.push(frame);
        heldChannels.push(this.heldChannels[i]!);
      }
    }
    this.held = held;
    this.heldChannels = heldChannels;
  }

  /** Writes each channel's replay, then the frames that waited; resolves when live can take over. */
  async run(replays: readonly ChannelReplay[]): Promise<void> {
    const recovery = this.recovery;
    this.readers = replays.flatMap((r) => (r.reader ? [r.reader] : []));
    let next = 0;
    try {
      while (next < replays.length && !this.cancelled) {
        const replay = replays[next++]!;
        if (this.dropped?.has(replay.channel)) recovery!.discard([replay]);
        else await this.replayChannel(recovery!, replay);
      }
      while (!this.cancelled && this.held.length > 0) {
        const frame = this.held.shift()!;
        const channel = this.heldChannels.shift()!;
        this.heldBytes -= frame.payload.length;
        await this.send(channel, frame);
      }
    } finally {
      // a replay cut short leaves channels it never started: their first pages go back
      recovery?.discard(replays.slice(next));
      for (const reader of this.readers) reader.close();
      this.held = [];
      this.heldChannels = [];
      this.done = true;
    }
  }

  /** Stops at the next step: nothing more is read or written. */
  cancel(): void {
    this.cancelled = true;
    for (const reader of this.readers) reader.close();
    this.wakeUp();
  }

  private async replayChannel(recovery: Recovery, replay: ChannelReplay): Promise<void> {
    const prefix = channelFramePrefix(replay.channel);
    const stopped = () => this.cancelled || this.dropped?.has(replay.channel) === true;
    let prev = replay.since;
    let page = replay.firstPage;
    for (;;) {
      let index = 0;
      try {
        for (; index < page.length && !stopped(); index++) {
          const message = page[index]!;
          await this.send(replay.channel, buildMessageFrame(prefix, message.data, message.seq, prev));
          recovery.budget.release(message.data.byteLength);
          prev = message.seq;
        }
      } finally {
        recovery.replayed(index);
        for (; index < page.length; index++) recovery.budget.release(page[index]!.data.byteLength);
      }
      if (stopped() || !replay.reader || replay.reader.pending <= 0) break;
      page = await recovery.readPage(replay.reader, replay.upTo);
    }
    replay.reader?.close();
    if (!stopped() && replay.mustReach !== undefined && prev < replay.mustReach) {
      throw new ReplicaBehind(replay.channel, replay.mustReach);
    }
  }

  /**
   * Writes once the window has room; a frame larger than the window goes alone. Not at all when the
   * channel was let go of meanwhile: `unsubscribed` may have gone out while it waited.
   */
  private async send(channel: string, frame: OutboundFrame): Promise<void> {
    const size = frame.wire.length;
    while (!this.cancelled && this.inFlight > 0 && this.inFlight + size > this.windowBytes) {
      await this.drained();
    }
    if (this.cancelled || this.dropped?.has(channel)) return;
    this.inFlight += size;
    void this.outlet.writeReplayed(frame).then(() => {
      this.inFlight -= size;
      this.wakeUp();
    });
  }

  /** Resolves when the socket took a frame; rejects when it took none for `stallMs`. */
  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        reject(new ReplayStalled("the client stopped reading during recovery"));
      }, this.stallMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private wakeUp(): void {
    this.wake?.();
  }
}
