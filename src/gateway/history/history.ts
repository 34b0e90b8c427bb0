import {
  DiscardPolicy,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Subjects } from "../../protocol/index.js";
import type { GatewayConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import { type DesiredStream, ensureStream } from "../nats/ensure-stream.js";
import { type StreamReplicas, streamReplicas } from "../nats/stream-replicas.js";
import { HistoryReader, type StoredMessage } from "./history-reader.js";
import { StreamReader } from "./stream-reader.js";

export interface HistoryOptions {
  readonly nc: NatsConnection;
  /** The stream's name, limits and replicas. */
  readonly config: GatewayConfig;
  readonly subjects: Subjects;
  readonly logger: Logger;
}

/** What an opened History holds. */
interface OpenedStream {
  readonly nc: NatsConnection;
  readonly reader: StreamReader;
  readonly subjects: Subjects;
  /** The stream's config as this gateway wants it. */
  readonly desired: DesiredStream;
  /** Its replicas, kept in line at each check. */
  readonly replication: StreamReplicas;
  readonly logger: Logger;
}

/** How long one attempt to create a recovery's consumer may take. */
const READER_CREATE_TIMEOUT_MS = 1000;

/**
 * The JetStream stream that keeps every user and channel message for recovery. Backends publish to
 * `<prefix>.user.<id>` / `<prefix>.channel.<name>`; the stream stores each message and RePublishes
 * it, stamped with Nats-Sequence and Nats-Last-Sequence, to `<prefix>.live.>`, which is what
 * gateways subscribe to (see `StreamFeed`). Reads name a channel, the subject it is stored under is
 * known here; they go through a StreamReader (the leader, replicas during an election).
 */
export class History {
  private epochValue = "";
  /** The stream's max age in ms as it is set (0: none), read at each check. */
  private maxAgeMs = 0;
  private nextFirstSequence: Promise<number> | undefined;
  private readerJsm: Promise<JetStreamManager> | undefined;

  private readonly nc: NatsConnection;
  private readonly reader: StreamReader;
  private readonly stream: string;
  private readonly subjects: Subjects;
  private readonly desired: OpenedStream["desired"];
  private readonly replication: StreamReplicas;
  private readonly logger: Logger;

  private constructor(opened: OpenedStream) {
    this.nc = opened.nc;
    this.reader = opened.reader;
    this.stream = opened.desired.name;
    this.subjects = opened.subjects;
    this.desired = opened.desired;
    this.replication = opened.replication;
    this.logger = opened.logger;
  }

  static async open({ nc, config, subjects, logger }: HistoryOptions): Promise<History> {
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: 5000 });
    } catch (err) {
      throw new Error(
        `history needs JetStream, and the NATS server does not offer it (${(err as Error).message}); start nats-server with -js or run the gateway with --history false`,
      );
    }
    const desired = {
      name: config.historyStream,
      subjects: [...subjects.streamSubjects],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      storage: config.historyStorage === "memory" ? StorageType.Memory : StorageType.File,
      max_age: config.historyMaxAge * 1_000_000_000,
      max_msgs_per_subject: config.historyMaxPerSubject,
      allow_direct: true,
      republish: { src: subjects.republish.src, dest: subjects.republish.dest },
    };
    const replication = streamReplicas({
      jsm,
      config,
      role: "history stream",
      option: "historyReplicas",
      server: nc.info,
      logger,
    });
    const { replicas } = replication;
    const reader = new StreamReader({ nc, jsm, stream: config.historyStream, logger, replicas });
    const history = new History({ nc, reader, subjects, desired, replication, logger });
    await history.ensure();
    return history;
  }

  /** Identity of the stream: changes when it is deleted and created again, which voids old sequences. */
  get epoch(): string {
    return this.epochValue;
  }

  /**
   * Creates the stream, or brings its limits in line with the config (see `ensureStream`: safe to
   * call from many gateways, retried while a new stream has no leader yet).
   */
  async ensure(): Promise<void> {
    const created = { ...this.desired, description: epochNote(Date.now()) };
    let info = await ensureStream(this.replication, created, (c) => this.differs(c));
    if (epochIn(info.config.description) === undefined) {
      // A stream made before its epoch was kept in its settings: its creation time becomes the
      // epoch, once, and the stored one is read back (another gateway may do the same at once).
      const { jsm } = this.replication;
      await jsm.streams.update(this.stream, {
        ...info.config,
        description: epochNote(Date.parse(info.created)),
      });
      info = await jsm.streams.info(this.stream);
    }
    this.epochValue = epochIn(info.config.description) ?? String(Date.parse(info.created));
    // Another gateway may have set a shorter age than ours: the shorter one drops first.
    this.maxAgeMs =
      Math.min(...[info.config.max_age, this.desired.max_age ?? 0].filter((ns) => ns > 0)) / 1e6;
    if (!Number.isFinite(this.maxAgeMs)) this.maxAgeMs = 0;
  }

  private differs(c: StreamConfig): boolean {
    return (
      c.max_age !== this.desired.max_age ||
      c.max_msgs_per_subject !== this.desired.max_msgs_per_subject ||
      c.republish?.src !== this.desired.republish?.src ||
      c.republish?.dest !== this.desired.republish?.dest ||
      c.subjects.join() !== this.desired.subjects.join() ||
      !c.allow_direct
    );
  }

  /** Lets go of pending reads. */
  close(): void {
    this.reader.close();
  }

  /** The most messages the stream keeps per subject. */
  get maxPerSubject(): number {
    return this.desired.max_msgs_per_subject ?? Number.POSITIVE_INFINITY;
  }

  /** A reader of a channel's messages from sequence `from` on (see `HistoryReader`). */
  async read(channel: string, from: number, inactiveMs: number): Promise<HistoryReader> {
    const subject = this.subjects.ofChannel(channel);
    // Quick to give up on one attempt: HistoryReader tries again (see there why).
    this.readerJsm ??= jetstreamManager(this.nc, { timeout: READER_CREATE_TIMEOUT_MS, checkAPI: false });
    const jsm = await this.readerJsm;
    return HistoryReader.open({ nc: this.nc, jsm, stream: this.stream, subject, from, inactiveMs });
  }

  /**
   * Whether no message stored after `since` can have gone by age. Age drops the stream's oldest
   * messages first, so nothing after `since` went while the stream's first sequence is at most
   * `since + 1`. But that first sequence also moves when the per-subject limit drops the oldest
   * messages of a busy subject (position markers above all, a thousand joins on one gateway): while
   * the stream is younger than its max age nothing has been old enough to go, and only that limit
   * (which the caller checks per channel) can have dropped anything. The epoch is the stream's
   * creation time; the margin covers clocks of machines apart.
   */
  async keepsAllAfter(since: number): Promise<boolean> {
    if (this.maxAgeMs === 0) return true;
    const age = Date.now() - Number(this.epochValue);
    if (age < this.maxAgeMs - Math.min(60_000, this.maxAgeMs / 10)) return true;
    return (await this.firstSequence()) <= since + 1;
  }

  /**
   * The stream's first stored sequence, read after this call. Callers of one event-loop turn share
   * one request: in a reconnect storm it is one request per turn, not per client.
   */
  firstSequence(): Promise<number> {
    this.nextFirstSequence ??= new Promise<number>((resolve, reject) => {
      setImmediate(() => {
        this.nextFirstSequence = undefined;
        this.reader.firstSequence().then(resolve, reject);
      });
    });
    return this.nextFirstSequence;
  }

  /**
   * The last sequence stored for a channel, 0 when there is none: read from the stream leader, or
   * from a replica while it elects one (see `StreamReader`).
   */
  async lastSequence(channel: string): Promise<number> {
    const msg = await this.reader.read({ last_by_subj: this.subjects.ofChannel(channel) });
    return msg?.seq ?? 0;
  }

  /**
   * The last sequence stored for a channel according to the stream leader, 0 when there is none;
   * undefined while the leader does not answer (a replica may be behind without saying so). The
   * cheapest read there is: nats-server looks the subject up, where a read by sequence scans.
   */
  async lastFromLeader(channel: string): Promise<number | undefined> {
    const msg = await this.reader.readFromLeader({ last_by_subj: this.subjects.ofChannel(channel) });
    return msg === undefined ? undefined : (msg?.seq ?? 0);
  }

  /**
   * Up to `max` messages of a channel from sequence `from` up to `upTo`, read one by one from the
   * stream leader: for a few messages, cheaper than a consumer. `end` says why it stopped: nothing
   * left up to `upTo` (it was reached, a later message was read, or there are none), `max` was
   * reached, or the leader does not answer (a replica's "none" proves nothing).
   */
  async messagesFrom(channel: string, from: number, upTo: number, max: number): Promise<DirectRead> {
    const subject = this.subjects.ofChannel(channel);
    const messages: StoredMessage[] = [];
    let next = from;
    while (next <= upTo) {
      if (messages.length >= max) return { messages, end: "more" };
      const msg = await this.reader.readFromLeader({ seq: next, next_by_subj: subject });
      if (msg === undefined) return { messages, end: "leaderless" };
      if (msg === null || msg.seq > upTo) break;
      messages.push({ seq: msg.seq, data: msg.data });
      next = msg.seq + 1;
    }
    return { messages, end: "all" };
  }
}

/** What `History.messagesFrom` read, and why it stopped. */
export interface DirectRead {
  readonly messages: StoredMessage[];
  readonly end: "all" | "more" | "leaderless";
}

/**
 * The epoch lives in the stream's description, set when the stream is created: settings are the
 * same on every replica, while each replica of a clustered stream reports a creation time of its
 * own (a few ms apart), so an epoch taken from that time changed when the leader moved.
 */
const EPOCH_NOTE = "Herald history; epoch ";

function epochNote(epoch: number): string {
  return `${EPOCH_NOTE}${epoch}`;
}

function epochIn(description: string | undefined): string | undefined {
  if (!description?.startsWith(EPOCH_NOTE)) return undefined;
  const epoch = description.slice(EPOCH_NOTE.length);
  return /^\d{1,16}$/.test(epoch) ? epoch : undefined;
}
