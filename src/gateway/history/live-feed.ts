import type { Msg, NatsConnection } from "@nats-io/nats-core";
import type { Subjects } from "../../protocol/index.js";
import { type LiveSequence, liveSequence } from "./live-sequence.js";
import type { StreamMarker } from "./stream-marker.js";

/** A live message's place in the history stream: none with history off. */
export type LivePosition = LiveSequence | typeof UNSEQUENCED;

/** The position of every live message with history off: there is no stream. */
export const UNSEQUENCED: { readonly seq: undefined; readonly prev: undefined } = Object.freeze({
  seq: undefined,
  prev: undefined,
});

/**
 * What history means to live delivery, asked by the channel hub and decided here only: which NATS
 * subject a channel's live messages come from, where each sits in the history stream, and what
 * tells that a new subscription is live. `StreamFeed` with history on, `PlainFeed` with it off.
 */
export interface LiveFeed {
  /** The NATS subject a channel's live messages arrive on. */
  subjectOf(channel: string): string;
  /**
   * Resolves once every subscription sent before this call is live at the server: with the stream
   * sequence a member joining now starts after (history on), or undefined (history off).
   */
  settle(): Promise<number | undefined>;
  /**
   * A live message's stream position: `UNSEQUENCED` with history off; undefined when history is on
   * and the message carries none (it cannot be placed, so it is not delivered).
   */
  positionOf(msg: Msg): LivePosition | undefined;
  close(): void;
}

/**
 * History on: channels are subscribed on the stream's RePublish subjects, whose messages carry
 * their stream sequence in headers, and a position marker through the stream settles new
 * subscriptions (see `StreamMarker`).
 */
export class StreamFeed implements LiveFeed {
  constructor(
    private readonly subjects: Subjects,
    private readonly marker: StreamMarker,
  ) {}

  subjectOf(channel: string): string {
    return this.subjects.liveOf(channel);
  }

  settle(): Promise<number> {
    return this.marker.pass();
  }

  positionOf(msg: Msg): LiveSequence | undefined {
    return liveSequence(msg);
  }

  close(): void {
    this.marker.close();
  }
}

/** History off: channels are subscribed on the subjects backends publish to; messages carry no position. */
export class PlainFeed implements LiveFeed {
  private pendingFlush: Promise<undefined> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
  ) {}

  subjectOf(channel: string): string {
    return this.subjects.ofChannel(channel);
  }

  /**
   * One PING/PONG round trip shared by the joins of the same tick. The PING goes out after all their
   * SUBs, and a join after that point waits for a PING of its own.
   */
  settle(): Promise<undefined> {
    this.pendingFlush ??= Promise.resolve().then(() => {
      this.pendingFlush = undefined;
      return this.nc.flush().then(nothing);
    });
    return this.pendingFlush;
  }

  positionOf(): typeof UNSEQUENCED {
    return UNSEQUENCED;
  }

  close(): void {}
}

function nothing(): undefined {
  return undefined;
}
