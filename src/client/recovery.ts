import type { RecoverRequest } from "../protocol/client-frames.js";
import type { MessageFrame, ReadyFrame } from "../protocol/server-frames.js";

/** The protocol accepts at most this many channels in `recover.since`. */
const MAX_RECOVER_CHANNELS = 64;

/** What to do with an incoming message. */
export type Verdict = "deliver" | "duplicate" | "gap";

/**
 * Remembers the history stream's epoch and the last sequence seen per channel, so a reconnect can
 * ask the gateway for exactly what was missed, and so replayed duplicates and live gaps are noticed.
 * Holds nothing while history is off (no `epoch`, no `seq`).
 */
export class RecoveryTracker {
  private epoch: string | undefined;
  private readonly lastSeq = new Map<string, number>();

  /** The `recover` part of the next auth frame; undefined while history was never seen. */
  request(): RecoverRequest | undefined {
    if (this.epoch === undefined) return undefined;
    const since: Record<string, number> = {};
    for (const [channel, seq] of [...this.lastSeq].slice(-MAX_RECOVER_CHANNELS)) since[channel] = seq;
    return { epoch: this.epoch, since };
  }

  /**
   * Takes in a `ready` frame. Only a complete recovery of the same stream continues from the
   * positions this client holds (the replay that follows starts right after them). Anything else —
   * a first connection, a recreated stream (new epoch), `recovered: false` — starts from the
   * gateway's `positions`, where its live delivery continues; old sequences would only make "gaps"
   * that no replay could fill.
   */
  ready(frame: ReadyFrame): void {
    if (frame.epoch !== this.epoch || frame.recovered !== true) this.lastSeq.clear();
    this.epoch = frame.epoch;
    for (const channel of [...this.lastSeq.keys()]) {
      if (!frame.channels.includes(channel)) this.lastSeq.delete(channel);
    }
    for (const [channel, seq] of Object.entries(frame.positions ?? {})) {
      if (!this.lastSeq.has(channel)) this.lastSeq.set(channel, seq);
    }
  }

  /** Whether to deliver a message, by the last sequence seen on its channel (see `verdictAfter`). */
  accept(frame: MessageFrame): Verdict {
    const verdict = verdictAfter(this.lastSeq.get(frame.channel), frame);
    if (verdict === "deliver" && frame.seq !== undefined) {
      // Delete first so the map stays ordered by recency: `request` keeps the most recent channels.
      this.lastSeq.delete(frame.channel);
      this.lastSeq.set(frame.channel, frame.seq);
    }
    return verdict;
  }

  reset(): void {
    this.epoch = undefined;
    this.lastSeq.clear();
  }
}

/**
 * A message with a sequence at or below the last one seen on its channel is a duplicate (a replay
 * overlapping what was delivered). A live message whose `prev` is after the last sequence seen
 * means messages in between never arrived: a gap. (`prev` before it is fine: a position can be the
 * stream's sequence at join time, past the channel's own previous message.)
 */
export function verdictAfter(last: number | undefined, frame: MessageFrame): Verdict {
  if (frame.seq === undefined || last === undefined) return "deliver";
  if (frame.seq <= last) return "duplicate";
  return frame.prev !== undefined && frame.prev > last ? "gap" : "deliver";
}
