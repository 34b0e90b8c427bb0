import type { GatewayConfig } from "./config.js";
import type { HistoryReader } from "./history-reader.js";
import { buildMessageFrame, channelFramePrefix } from "./message-frame.js";
import type { OutboundFrame } from "./outbound-frame.js";
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
  private heldBytes = 0;
  private inFlight = 0;
  private cancelled = false;
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
  hold(frame: OutboundFrame): boolean {
    this.heldBytes += frame.payload.length;
    if (this.heldBytes > this.heldLimit) return false;
    this.held.push(frame);
    return true;
  }

  /** Writes each channel's replay, then the frames that waited; resolves when live can take over. */
  async run(replays: readonly ChannelReplay[]): Promise<void> {
    const recovery = this.recovery;
    this.readers = replays.flatMap((r) => (r.reader ? [r.reader] : []));
    let next = 0;
    try {
      while (next < replays.length && !this.cancelled) await this.replayChannel(recovery!, replays[next++]!);
      while (!this.cancelled && this.held.length > 0) {
        const frame = this.held.shift()!;
        this.heldBytes -= frame.payload.length;
        await this.send(frame);
      }
    } finally {
      // a replay cut short leaves channels it never started: their first pages go back
      recovery?.discard(replays.slice(next));
      for (const reader of this.readers) reader.close();
      this.held = [];
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
    let prev = replay.since;
    let page = replay.firstPage;
    for (;;) {
      let index = 0;
      try {
        for (; index < page.length && !this.cancelled; index++) {
          const message = page[index]!;
          await this.send(buildMessageFrame(prefix, message.data, message.seq, prev));
          recovery.budget.release(message.data.byteLength);
          prev = message.seq;
        }
      } finally {
        recovery.replayed(index);
        for (; index < page.length; index++) recovery.budget.release(page[index]!.data.byteLength);
      }
      if (this.cancelled || !replay.reader || replay.reader.pending <= 0) break;
      page = await recovery.readPage(replay.reader, replay.upTo);
    }
    replay.reader?.close();
    if (!this.cancelled && replay.mustReach !== undefined && prev < replay.mustReach) {
      throw new ReplicaBehind(replay.channel, replay.mustReach);
    }
  }

  /** Writes once the window has room; a frame larger than the window goes alone. */
  private async send(frame: OutboundFrame): Promise<void> {
    const size = frame.wire.length;
    while (!this.cancelled && this.inFlight > 0 && this.inFlight + size > this.windowBytes) {
      await this.drained();
    }
    if (this.cancelled) return;
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
