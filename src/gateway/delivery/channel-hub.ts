import type { Msg, NatsConnection } from "@nats-io/nats-core";
import type { ErrorCodeName } from "../../protocol/index.js";
import type { LiveFeed } from "../history/live-feed.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { subscribeLean, type Unsubscribable } from "../nats/lean-subscription.js";
import {
  addMember,
  forEachMember,
  hasMember,
  type Members,
  memberCount,
  memberList,
  removeMember,
} from "./channel-members.js";
import { buildMessageFrame, channelFramePrefix } from "./message-frame.js";
import type { OutboundFrame } from "./outbound-frame.js";

export interface ChannelHubOptions {
  readonly nc: NatsConnection;
  /** Where channels' live messages come from and where they sit in the history; the hub closes it. */
  readonly feed: LiveFeed;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
}

/** Something that receives a channel's frames: one connection's subscription to it. */
export interface ChannelMember {
  deliver(channel: string, frame: OutboundFrame, seq: number | undefined): void;
  /** Ends the member's connection with an error frame and its close code. */
  fail(code: ErrorCodeName, message: string): void;
}

interface Waiter {
  resolve(position: number | undefined): void;
  reject(err: Error): void;
}

interface ChannelEntry {
  readonly channel: string;
  /** Its NATS subscription, lean: one per channel, so one per user on the gateway. */
  subscription: Unsubscribable;
  members: Members<ChannelMember>;
  /** The start of its message frames, built at the first message (many channels never get one). */
  framePrefix: Buffer | undefined;
  /** The subscription is live at the server (with history on, its position known): joins need not wait. */
  live: boolean;
  /**
   * History on: the stream sequence a member joining now starts after — the last message handed
   * to the members, or a position marker's when none came since the subscription went live.
   * Undefined while not live, and always with history off.
   */
  position: number | undefined;
  /**
   * History on: the position the subscription first had, from which on every stored message of the
   * channel reached it; and the last such message. Forgotten with the position.
   */
  liveFrom: number | undefined;
  lastMessage: number | undefined;
  /** Joins waiting for the subscription to be live (and its position known); made when one waits. */
  waiting: Waiter[] | undefined;
  /** Whether what will settle the waiting joins (see `LiveFeed.settle`) is on its way. */
  settling: boolean;
}

/**
 * One NATS subscription per channel per gateway, shared by every socket on it and removed when the
 * last one leaves. A message's frame is built once and handed to every member.
 *
 * With history on, a join resolves with the member's position: every message of the channel after
 * it reaches the member, and none at or before it does. The first join of a channel learns it from
 * a position marker (see `StreamMarker`), or from the first live message if one comes before
 * (its `Nats-Last-Sequence`); later joins take the last sequence the subscription delivered. So a
 * connect costs no JetStream request, and a message stored after the subscription went live is
 * never behind the position it gets.
 */
export class ChannelHub {
  private readonly channels = new Map<string, ChannelEntry>();
  /**
   * The highest stream sequence a live message or a position marker carried (history on): live
   * copies arrive in stream order, so every earlier message of a subscribed channel has arrived.
   */
  private highestSeq = 0;

  private readonly nc: NatsConnection;
  private readonly feed: LiveFeed;
  private readonly logger: Logger;
  private readonly metrics: GatewayMetrics;

  constructor(options: ChannelHubOptions) {
    this.nc = options.nc;
    this.feed = options.feed;
    this.logger = options.logger;
    this.metrics = options.metrics;
  }

  get subjectCount(): number {
    return this.channels.size;
  }

  /**
   * Adds a member; resolves once the server has the subscription, so nothing published after is
   * missed, with the member's position when history is on. The member receives frames from now on.
   */
  join(channel: string, member: ChannelMember): Promise<number | undefined> {
    let entry = this.channels.get(channel);
    if (!entry) entry = this.subscribe(channel);
    entry.members = addMember(entry.members, member);
    if (entry.live) return Promise.resolve(entry.position);
    entry.waiting ??= [];
    const waiting = entry.waiting;
    const joined = new Promise<number | undefined>((resolve, reject) => waiting.push({ resolve, reject }));
    if (!entry.settling) this.settle(channel, entry);
    return joined;
  }

  /**
   * Removes a member, even one whose join still waits; the last one out ends the subscription. Joins
   * still waiting then resolve without a position: all of their members have left.
   */
  leave(channel: string, member: ChannelMember): void {
    const entry = this.channels.get(channel);
    if (!entry || !hasMember(entry.members, member)) return;
    entry.members = removeMember(entry.members, member);
    if (entry.members !== undefined) return;
    this.channels.delete(channel);
    this.metrics.subjects.set(this.channels.size);
    if (!this.nc.isClosed()) entry.subscription.unsubscribe();
    const waiting = entry.waiting;
    entry.waiting = undefined;
    for (const waiter of waiting ?? []) waiter.resolve(undefined);
  }

  /**
   * History on: after a NATS disconnect the subscriptions may have missed messages. Positions learnt
   * before are no longer sure, so joins wait for a new marker (or live message) again.
   */
  forgetPositions(): void {
    for (const [channel, entry] of this.channels) {
      entry.live = false;
      entry.position = undefined;
      entry.liveFrom = undefined;
      entry.lastMessage = undefined;
      if (entry.waiting?.length) this.settle(channel, entry);
    }
  }

  /**
   * History on: a sequence after which the channel has stored nothing that this gateway's live
   * subscription did not deliver, up to the channel's current position; undefined when unknown. A
   * recovering client whose `since` is at or after it missed nothing on the channel, and the
   * stream need not be asked.
   */
  quietSince(channel: string): number | undefined {
    const entry = this.channels.get(channel);
    if (!entry?.live) return undefined;
    return entry.lastMessage ?? entry.liveFrom;
  }

  /**
   * History on: the stream, read after a member joined at `position`, held nothing of the channel
   * after `after`. If no live message came since that join (the position is unchanged), every
   * message after `after` reaches the subscription live: later recoveries from `after` or beyond
   * need no read (see `quietSince`).
   */
  storedNothing(channel: string, after: number, position: number): void {
    const entry = this.channels.get(channel);
    if (entry?.position !== position) return;
    if (entry.lastMessage === undefined || entry.lastMessage < after) entry.lastMessage = after;
  }

  /** Channels subscribed right now. */
  channelNames(): string[] {
    return [...this.channels.keys()];
  }

  /**
   * The highest stream sequence after which this gateway may have missed live messages: every
   * message of a subscribed channel up to it was delivered, or came before the channel was joined.
   */
  get highestSequence(): number {
    return this.highestSeq;
  }

  /** Ends every member's connection, e.g. so that each reconnects and recovers what it missed. */
  failMembers(channel: string, code: ErrorCodeName, message: string): number {
    const members = memberList(this.channels.get(channel)?.members);
    for (const member of members) member.fail(code, message);
    return members.length;
  }

  private subscribe(channel: string): ChannelEntry {
    const entry: ChannelEntry = {
      channel,
      subscription: NOT_YET_SUBSCRIBED,
      members: undefined,
      framePrefix: undefined,
      live: false,
      position: undefined,
      liveFrom: undefined,
      lastMessage: undefined,
      waiting: undefined,
      settling: false,
    };
    entry.subscription = subscribeLean(this.nc, this.feed.subjectOf(channel), entry, this.onMessage);
    this.channels.set(channel, entry);
    this.metrics.subjects.set(this.channels.size);
    return entry;
  }

  /** Asks the feed for what will make the entry live (and positioned, history on). */
  private settle(channel: string, entry: ChannelEntry): void {
    entry.settling = true;
    this.feed.settle().then(
      (position) => {
        // A marker came back: every message stored before it reached its subscriptions.
        if (position !== undefined && position > this.highestSeq) this.highestSeq = position;
        if (this.channels.get(channel) !== entry) return;
        entry.settling = false;
        if (!entry.live) this.positioned(entry, position);
      },
      (err: Error) => {
        if (this.channels.get(channel) !== entry) return;
        entry.settling = false;
        if (entry.live) return;
        const waiting = entry.waiting;
        entry.waiting = undefined;
        for (const waiter of waiting ?? []) waiter.reject(err);
      },
    );
  }

  private positioned(entry: ChannelEntry, position: number | undefined): void {
    entry.live = true;
    entry.position = position;
    entry.liveFrom = position;
    const waiting = entry.waiting;
    entry.waiting = undefined;
    for (const waiter of waiting ?? []) waiter.resolve(position);
  }

  /** Every channel's NATS messages, told which channel each is for (no closure per channel). */
  private readonly onMessage = (entry: ChannelEntry, err: Error | null, msg: Msg): void => {
    if (err) this.logger.error({ err, channel: entry.channel }, "subscription error");
    else this.fanOut(entry.channel, entry, msg);
  };

  private fanOut(channel: string, entry: ChannelEntry, msg: Msg): void {
    this.metrics.countMessage();
    const position = this.feed.positionOf(msg);
    if (!position) {
      this.logger.warn({ channel }, "live message without a stream sequence dropped");
      return;
    }
    const { seq, prev } = position;
    if (seq !== undefined) {
      // The subscription is live: members waiting start right before this, its first message.
      if (!entry.live) this.positioned(entry, prev);
      entry.position = seq;
      entry.lastMessage = seq;
      if (seq > this.highestSeq) this.highestSeq = seq;
    }
    entry.framePrefix ??= channelFramePrefix(channel);
    const frame = buildMessageFrame(entry.framePrefix, msg.data, seq, prev);
    const members = entry.members;
    forEachMember(members, deliverTo, channel, frame, seq);
    this.metrics.countDeliveries(memberCount(members));
  }

  close(): void {
    for (const entry of this.channels.values()) if (!this.nc.isClosed()) entry.subscription.unsubscribe();
    this.channels.clear();
    this.feed.close();
  }
}

/** What an entry holds for the moment between its making and its subscription's. */
const NOT_YET_SUBSCRIBED: Unsubscribable = { unsubscribe() {} };

function deliverTo(
  member: ChannelMember,
  channel: string,
  frame: OutboundFrame,
  seq: number | undefined,
): void {
  member.deliver(channel, frame, seq);
}
