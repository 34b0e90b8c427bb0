import type { RecoverRequest } from "../../protocol/index.js";
import type { GatewayMetrics } from "../metrics.js";
import type { DirectRead, History } from "./history.js";
import type { HistoryReader, StoredMessage } from "./history-reader.js";
import type { RecoveryBudget } from "./recovery-budget.js";

/** What one channel replays after `ready`: messages after `since` up to `upTo`, the first page read. */
export interface ChannelReplay {
  readonly channel: string;
  readonly since: number;
  readonly upTo: number;
  /** Reads what follows the first page; none when the first page is all there is. */
  readonly reader: HistoryReader | undefined;
  /** Read before `ready`, its bytes reserved in the budget. */
  readonly firstPage: StoredMessage[];
  /**
   * The channel's last message at or before `upTo` according to the stream leader: the replay must
   * end with it. The consumer that reads it sits on any replica, and one that is behind (back from
   * a hang) holds fewer messages without saying so.
   */
  readonly mustReach: number | undefined;
}

export interface RecoveryPlan {
  /** Undefined when the client asked for no recovery. */
  readonly recovered: boolean | undefined;
  readonly replays: readonly ChannelReplay[];
}

/** A connect's recovery: what `ready` says of the history, and what follows it. */
export interface RecoveryResult extends RecoveryPlan {
  readonly epoch: string;
  readonly positions: Record<string, number>;
}

interface ChannelCheck {
  readonly complete: boolean;
  /** Messages to replay (may count a few that arrive live meanwhile). */
  readonly count: number;
  readonly replay: ChannelReplay | undefined;
}

/** What the gateway's live subscriptions know of a channel's stored messages (the hub). */
export interface LiveKnowledge {
  /** A sequence after which the channel stored nothing the gateway has not delivered, if known. */
  quietSince(channel: string): number | undefined;
  /** The stream, read after a join at `position`, held nothing of the channel after `after`. */
  storedNothing(channel: string, after: number, position: number): void;
}

/**
 * What the stream leader holds of a channel after a point, up to a position: its last stored
 * sequence (undefined while the leader does not answer), and, when that is after the point, the
 * messages up to the position if a few direct reads get them.
 */
interface ChannelLook {
  readonly last: number | undefined;
  readonly direct: DirectRead | undefined;
}

/**
 * A channel that missed at most this many messages has them read one by one from the stream leader
 * (one request each: its last message, read first, says where the end is) instead of through a
 * consumer (create, pull, delete).
 */
const DIRECT_READS = 8;

export interface RecoveryOptions {
  readonly history: History;
  /** What the live subscriptions know (the hub): a channel known to have missed nothing is not read. */
  readonly live: LiveKnowledge;
  /** The bytes all recovering clients hold at once; replays give them back as they write. */
  readonly budget: RecoveryBudget;
  readonly metrics: GatewayMetrics;
  /** Past this many missed messages (all channels together) the answer is `recovered: false`. */
  readonly maxMessages: number;
  /** Largest page read at once; fits the largest message NATS carries. */
  readonly pageBytes: number;
  /** The server drops a reader's consumer after this long without a read. */
  readonly readerIdleMs: number;
}

/**
 * Decides, before `ready`, what a reconnecting client gets: for each of its channels the messages
 * after its `since` up to its position, read from the history stream. All of them or none: when the
 * stream is another epoch, may have dropped one of them, or holds more than `maxMessages`, nothing
 * is replayed and `recovered` is false, so the application refetches instead of trusting a partial
 * history. Only channels the connection was granted are ever read.
 */
export class Recovery {
  private readonly looks = new ReadsUnderWay<ChannelLook>();
  private readonly history: History;
  private readonly live: LiveKnowledge;
  readonly budget: RecoveryBudget;
  private readonly metrics: GatewayMetrics;

  constructor(private readonly options: RecoveryOptions) {
    ({ history: this.history, live: this.live, budget: this.budget, metrics: this.metrics } = options);
  }

  /** The stream's identity: sequences from another epoch are void. */
  get epoch(): string {
    return this.history.epoch;
  }

  /**
   * What a channel or a connection's channels get, given their positions as joined (in `ready`'s
   * channel order): the stream's epoch, those positions, whether everything missed follows
   * (undefined when no recovery was asked), and what to replay after `ready` or `subscribed`.
   */
  async prepare(
    positions: ReadonlyMap<string, number>,
    recover: RecoverRequest | undefined,
  ): Promise<RecoveryResult> {
    const plan = await this.plan(positions, recover);
    return { epoch: this.epoch, positions: Object.fromEntries(positions), ...plan };
  }

  private async plan(
    positions: ReadonlyMap<string, number>,
    recover: RecoverRequest | undefined,
  ): Promise<RecoveryPlan> {
    if (recover === undefined) return { recovered: undefined, replays: [] };
    if (recover.epoch !== this.history.epoch) {
      this.metrics.recoveries.inc({ result: "refetch" });
      return { recovered: false, replays: [] };
    }
    const asked = [...positions].filter(([channel]) => Object.hasOwn(recover.since, channel));
    const settled = await Promise.allSettled(
      asked.map(([channel, upTo]) => this.check(channel, recover.since[channel]!, upTo)),
    );
    const checks = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failure = settled.find((s) => s.status === "rejected");
    const total = checks.reduce((sum, check) => sum + check.count, 0);
    const recovered = !failure && checks.every((c) => c.complete) && total <= this.options.maxMessages;
    const replays = checks.flatMap((check) => (check.replay ? [check.replay] : []));
    if (!failure) this.metrics.recoveries.inc({ result: recovered ? "recovered" : "refetch" });
    if (recovered) return { recovered, replays };
    this.discard(replays);
    if (failure) throw failure.reason;
    return { recovered, replays: [] };
  }

  /** Closes replays that will not run, and gives back their first pages' bytes. */
  discard(replays: readonly ChannelReplay[]): void {
    for (const replay of replays) {
      replay.reader?.close();
      this.budget.release(pageSize(replay.firstPage));
    }
  }

  /**
   * Whether every message of `channel` after `since` is still stored, and how many there are.
   * Limits retention drops a subject's oldest messages first (per-subject limit) or the stream's
   * oldest (max age). So if the message at `since` is still there, nothing after it is gone;
   * otherwise nothing after it is gone only if the stream dropped nothing past `since` and the
   * channel holds fewer messages after it than the per-subject limit (had it dropped one after
   * `since`, it would hold the limit's worth after that one).
   */
  private async check(channel: string, since: number, upTo: number): Promise<ChannelCheck> {
    if (since >= upTo) return this.nothingMissed("position");
    // Most channels of a reconnecting client got nothing while it was away: that is known without a
    // consumer (two JetStream requests and a fetch), from the live subscription or one read.
    const quiet = this.live.quietSince(channel);
    if (quiet !== undefined && since >= quiet) return this.nothingMissed("live");
    // Clients of one channel recovering from the same point at the same position ask the same:
    // one read answers them all.
    const { last, direct } = await this.looks.share(`${channel} ${since} ${upTo}`, () =>
      this.look(channel, since, upTo),
    );
    if (last !== undefined && last <= since) {
      // Nothing stored after `since`. Had retention dropped any of it, the newest would be left
      // (per-subject limit) or everything before it gone too (age): if `since` itself is there,
      // nothing is missing; otherwise the stream must still hold everything after `since`.
      this.live.storedNothing(channel, last, upTo);
      this.metrics.recoveryChecks.inc({ path: "read" });
      const complete = last === since || (await this.history.keepsAllAfter(since));
      return { complete, count: 0, replay: undefined };
    }
    // All of the channel's messages after `since` up to `upTo` are read. None was dropped by the
    // per-subject limit (that keeps the limit's worth of newer ones), nor by age if the stream still
    // holds everything after `since`. Past a few there are more: a consumer reads them.
    if (direct?.end === "all") {
      const missed = [...direct.messages];
      this.metrics.recoveryChecks.inc({ path: "reads" });
      const complete =
        missed.length < this.history.maxPerSubject && (await this.history.keepsAllAfter(since));
      await this.budget.reserve(pageSize(missed));
      const replay = { channel, since, upTo, reader: undefined, firstPage: missed, mustReach: undefined };
      return { complete, count: missed.length, replay };
    }
    this.metrics.recoveryChecks.inc({ path: "consumer" });
    return this.read(channel, since, upTo, last ?? (await this.history.lastSequence(channel)));
  }

  /** The channel's last stored sequence, then, if it is after `since`, a few direct reads. */
  private async look(channel: string, since: number, upTo: number): Promise<ChannelLook> {
    const last = await this.history.lastFromLeader(channel);
    if (last === undefined || last <= since) return { last, direct: undefined };
    const direct = await this.history.messagesFrom(channel, since + 1, Math.min(last, upTo), DIRECT_READS);
    return { last, direct };
  }

  private nothingMissed(path: "position" | "live"): ChannelCheck {
    this.metrics.recoveryChecks.inc({ path });
    return { complete: true, count: 0, replay: undefined };
  }

  /** Reads what the channel missed with a consumer: its first page now, the rest as the replay goes. */
  private async read(channel: string, since: number, upTo: number, last: number): Promise<ChannelCheck> {
    const reader = await this.history.read(channel, since, this.options.readerIdleMs);
    // After `upTo` the channel's messages arrive live, and a gap among them shows through `prev`.
    const mustReach = last > since && last <= upTo ? last : undefined;
    const stored = reader.pending;
    if (stored - 1 > this.options.maxMessages) {
      reader.close(); // too many whether or not `since` is among them: nothing to read
      return { complete: true, count: stored - 1, replay: undefined };
    }
    let firstPage: StoredMessage[] = [];
    if (stored > 0) {
      try {
        firstPage = await this.readPage(reader, upTo);
      } catch (err) {
        reader.close();
        throw err;
      }
    }
    const sinceKept = firstPage[0]?.seq === since;
    if (sinceKept) this.budget.release(firstPage.shift()!.data.byteLength);
    const count = stored - (sinceKept ? 1 : 0);
    let complete = sinceKept;
    try {
      if (!complete && stored < this.history.maxPerSubject)
        complete = await this.history.keepsAllAfter(since);
    } catch (err) {
      this.discard([{ channel, since, upTo, reader, firstPage, mustReach }]);
      throw err;
    }
    if (firstPage.length === 0 && reader.pending === 0) {
      reader.close();
      if (mustReach !== undefined) throw new ReplicaBehind(channel, mustReach);
      return { complete, count, replay: undefined };
    }
    return { complete, count, replay: { channel, since, upTo, reader, firstPage, mustReach } };
  }

  /** Counts messages written to a recovering client. */
  replayed(count: number): void {
    this.metrics.replayed.inc(count);
  }

  /** Reads a page with its bytes reserved in the budget: the caller releases them as it writes. */
  async readPage(reader: HistoryReader, upTo: number): Promise<StoredMessage[]> {
    const { pageBytes } = this.options;
    await this.budget.reserve(pageBytes);
    let page: StoredMessage[] = [];
    try {
      page = await reader.page(pageBytes, upTo);
    } finally {
      this.budget.release(pageBytes - pageSize(page));
    }
    return page;
  }
}

export function pageSize(page: readonly StoredMessage[]): number {
  let bytes = 0;
  for (const message of page) bytes += message.data.byteLength;
  return bytes;
}

/**
 * The replica a recovery read from does not hold a message the stream leader has: answering
 * `recovered` would lose it, so the connection fails and the client tries again.
 */
export class ReplicaBehind extends Error {
  override readonly name = "ReplicaBehind";
  constructor(channel: string, seq: number) {
    super(`the history replica read for ${channel} lacks message ${seq}, which the stream leader has`);
  }
}

/**
 * Reads in flight, by what they read: a caller asking for one that is under way waits for it
 * instead of sending another. When a gateway dies, the clients of a shared channel come back
 * together, from the same point and at the same position, and one read serves them all. An entry
 * lives only while its read does: later callers read afresh.
 */
export class ReadsUnderWay<T> {
  private readonly reads = new Map<string, Promise<T>>();

  /** The read under way for `key`, or a new one from `read`. */
  share(key: string, read: () => Promise<T>): Promise<T> {
    const under = this.reads.get(key);
    if (under) return under;
    const started = read().finally(() => this.reads.delete(key));
    this.reads.set(key, started);
    return started;
  }

  /** Reads under way now. */
  get size(): number {
    return this.reads.size;
  }
}
