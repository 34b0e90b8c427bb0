import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Logger } from "./logger.js";
import { buildMessageFrame, channelFramePrefix } from "./message-frame.js";
import type { GatewayMetrics } from "./metrics.js";
import type { OutboundFrame } from "./outbound-frame.js";

/** Something that receives a channel's frames: a session. */
export interface ChannelMember {
  deliver(channel: string, frame: OutboundFrame, seq: number | undefined): void;
}

interface ChannelEntry {
  readonly subscription: Subscription;
  readonly members: Set<ChannelMember>;
  readonly framePrefix: Buffer;
}

/**
 * One NATS subscription per channel per gateway, shared by every socket on it and removed when the
 * last one leaves. A message's frame is built once and handed to every member.
 */
export class ChannelHub {
  private readonly channels = new Map<string, ChannelEntry>();
  private pendingFlush: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    /** NATS subject for a channel (`user.1` -> `herald.user.1`, or its live copy with history on). */
    private readonly subjectOf: (channel: string) => string,
    /** Whether messages carry stream sequence headers (history on). */
    private readonly sequenced: boolean,
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {}

  get subjectCount(): number {
    return this.channels.size;
  }

  /** Adds a member; resolves once the server has the subscription, so nothing published after is missed. */
  async join(channel: string, member: ChannelMember): Promise<void> {
    const existing = this.channels.get(channel);
    if (existing) {
      existing.members.add(member);
      return;
    }
    const framePrefix = channelFramePrefix(channel);
    const members = new Set<ChannelMember>([member]);
    const subscription = this.nc.subscribe(this.subjectOf(channel), {
      callback: (err, msg) => {
        if (err) {
          this.logger.error({ err, channel }, "subscription error");
          return;
        }
        this.fanOut(channel, members, framePrefix, msg);
      },
    });
    this.channels.set(channel, { subscription, members, framePrefix });
    this.metrics.subjects.set(this.channels.size);
    await this.flush();
  }

  leave(channel: string, member: ChannelMember): void {
    const entry = this.channels.get(channel);
    if (!entry?.members.delete(member) || entry.members.size > 0) return;
    this.channels.delete(channel);
    this.metrics.subjects.set(this.channels.size);
    if (!this.nc.isClosed()) entry.subscription.unsubscribe();
  }

  /** Sockets on a channel right now. */
  membersOf(channel: string): number {
    return this.channels.get(channel)?.members.size ?? 0;
  }

  private fanOut(channel: string, members: Set<ChannelMember>, prefix: Buffer, msg: Msg): void {
    this.metrics.messages.inc();
    let seq: number | undefined;
    let prev: number | undefined;
    if (this.sequenced) {
      const headers = msg.headers;
      seq = Number(headers?.get("Nats-Sequence"));
      prev = Number(headers?.get("Nats-Last-Sequence") || 0);
      if (!Number.isSafeInteger(seq) || seq <= 0) {
        this.logger.warn({ channel }, "live message without a stream sequence dropped");
        return;
      }
    }
    const frame = buildMessageFrame(prefix, msg.data, seq, prev);
    for (const member of members) member.deliver(channel, frame, seq);
    this.metrics.deliveries.inc(members.size);
  }

  /**
   * One PING/PONG round trip shared by the joins of the same tick. The PING goes out after all their
   * SUBs, and a join after that point waits for a PING of its own.
   */
  private flush(): Promise<void> {
    this.pendingFlush ??= Promise.resolve().then(() => {
      this.pendingFlush = undefined;
      return this.nc.flush();
    });
    return this.pendingFlush;
  }

  close(): void {
    for (const entry of this.channels.values()) if (!this.nc.isClosed()) entry.subscription.unsubscribe();
    this.channels.clear();
  }
}
