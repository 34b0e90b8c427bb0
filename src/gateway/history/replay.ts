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

/** One channel of one connection on its way to live delivery (its live frames wait meanwhile). */
export interface CatchingUp {
  /** `user.<id>` or `channel.<name>`. */
  readonly channel: string;
  /** The connection let go of it meanwhile: nothing more of it is written. */
  readonly left: boolean;
  /** Its missed messages and the live frames that waited are written: live ones go straight out now. */
  caughtUp(): void;
}

export class ReplayStalled extends Error {
  override readonly name = "ReplayStalled";
}

/** Waiting writers, woken together when the socket takes a frame. */
interface Drain {
  readonly taken: Promise<void>;
  wake(): void;
}

/**
 * One connection's replay buffer: every channel on its way to live delivery — granted at auth or
 * subscribed later — has its live frames wait here (bounded, for all of them together), while its
 * missed history is read a page at a time and written as fast as the socket takes it, never more
 * than a window ahead of it. So a backlog larger than the socket's bound still reaches a client
 * that reads at a normal pace, and memory holds one page per replaying channel. Then the channel's
 * frames that waited follow, paced the same way, and it goes live. Replays of channels subscribed
 * while others run share the window and the stall clock.
 */
export class Replay {
  /** Live frames waiting, by channel; made at the first one. */
  private held: Map<CatchingUp, OutboundFrame[]> | undefined;
  private heldBytes = 0;
  private inFlight = 0;
  /** Replays under way (see `run`). */
  private runs = 0;
  /** Settles when the replay begun last has let its channels go live (or stopped). */
  private lastRun: Promise<void> = Promise.resolve();
  private cancelled = false;
  private drain: Drain | undefined;
  /** Readers of replays under way, closed at `cancel`; made by the first replay that has one. */
  private readers: Set<HistoryReader> | undefined;

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

  /** Nothing waits and no replay runs: the connection may let go of this buffer. */
  get idle(): boolean {
    return this.runs === 0 && (this.held === undefined || this.held.size === 0);
  }

  /** Keeps a live frame until the channel's replay is written; false when too many wait already. */
  hold(channel: CatchingUp, frame: OutboundFrame): boolean {
    const size = frame.payload.length;
    if (this.heldBytes + size > this.heldLimit) return false;
    this.heldBytes += size;
    this.held ??= new Map();
    const frames = this.held.get(channel);
    if (frames) frames.push(frame);
    else this.held.set(channel, [frame]);
    return true;
  }

  /**
   * The connection let go of `channel` (unsubscribed, or taken away): what of it waits goes now,
   * and its replay, begun or not, writes nothing more (`left`), so nothing of it follows `unsubscribed`.
   */
  drop(channel: CatchingUp): void {
    const frames = this.held?.get(channel);
    if (!frames) return;
    this.held!.delete(channel);
    for (const frame of frames) this.heldBytes -= frame.payload.length;
  }

  /**
   * Writes each channel's replay, then, channel by channel, the frames that waited: each channel of
   * `channels` is told `caughtUp` once nothing of it waits. Replays run side by side, but their
   * channels go live in the order the replays began: a channel announced while an earlier one
   * still replays has its live frames wait behind that replay too. Resolves when they are live.
   */
  async run(replays: readonly ChannelReplay[], channels: readonly CatchingUp[]): Promise<void> {
    const recovery = this.recovery;
    const earlier = this.lastRun;
    let finished!: () => void;
    this.lastRun = new Promise((resolve) => (finished = resolve));
    this.runs++;
    for (const { reader } of replays) {
      if (!reader) continue;
      this.readers ??= new Set();
      this.readers.add(reader);
    }
    let next = 0;
    try {
      while (next < replays.length && !this.cancelled) {
        const replay = replays[next++]!;
        const channel = channels.find((c) => c.channel === replay.channel);
        if (!channel || channel.left) recovery!.discard([replay]);
        else await this.replayChannel(recovery!, replay, channel);
      }
      await earlier;
      for (const channel of channels) await this.release(channel);
    } finally {
      // a replay cut short leaves channels it never started: their first pages go back
      recovery?.discard(replays.slice(next));
      for (const { reader } of replays) {
        if (!reader) continue;
        reader.close();
        this.readers?.delete(reader);
      }
      this.runs--;
      finished();
    }
  }

  /** Stops at the next step: nothing more is read or written. */
  cancel(): void {
    this.cancelled = true;
    for (const reader of this.readers ?? []) reader.close();
    this.held = undefined;
    this.heldBytes = 0;
    this.drain?.wake();
  }

  private async replayChannel(recovery: Recovery, replay: ChannelReplay, channel: CatchingUp): Promise<void> {
    const prefix = channelFramePrefix(replay.channel);
    const stopped = () => this.cancelled || channel.left;
    let prev = replay.since;
    let page = replay.firstPage;
    for (;;) {
      let index = 0;
      try {
        for (; index < page.length && !stopped(); index++) {
          const message = page[index]!;
          await this.send(channel, buildMessageFrame(prefix, message.data, message.seq, prev));
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
   * Writes the live frames that waited for `channel`, those that arrive meanwhile too, then tells it
   * that it is live: in the same turn as the last one was taken, so none can slip between.
   */
  private async release(channel: CatchingUp): Promise<void> {
    for (;;) {
      if (this.cancelled || channel.left) return;
      const frames = this.held?.get(channel);
      const frame = frames?.shift();
      if (frame === undefined) break;
      if (frames!.length === 0) this.held!.delete(channel);
      this.heldBytes -= frame.payload.length;
      await this.send(channel, frame);
    }
    channel.caughtUp();
  }

  /**
   * Writes once the window has room; a frame larger than the window goes alone. Not at all when the
   * channel was let go of meanwhile: `unsubscribed` may have gone out while it waited.
   */
  private async send(channel: CatchingUp, frame: OutboundFrame): Promise<void> {
    const size = frame.wire.length;
    while (!this.cancelled && this.inFlight > 0 && this.inFlight + size > this.windowBytes) {
      await this.drained();
    }
    if (this.cancelled || channel.left) return;
    this.inFlight += size;
    void this.outlet.writeReplayed(frame).then(() => {
      this.inFlight -= size;
      this.drain?.wake();
    });
  }

  /** Resolves when the socket took a frame; rejects when it took none for `stallMs`. */
  private drained(): Promise<void> {
    if (this.drain) return this.drain.taken;
    let wake!: () => void;
    let stall!: (err: Error) => void;
    const taken = new Promise<void>((resolve, reject) => {
      wake = resolve;
      stall = reject;
    });
    const timer = setTimeout(() => {
      this.drain = undefined;
      stall(new ReplayStalled("the client stopped reading during recovery"));
    }, this.stallMs);
    this.drain = {
      taken,
      wake: () => {
        clearTimeout(timer);
        this.drain = undefined;
        wake();
      },
    };
    return taken;
  }
}
