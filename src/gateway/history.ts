import {
  DiscardPolicy,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Subjects } from "../protocol/index.js";
import type { GatewayConfig } from "./config.js";
import type { Logger } from "./logger.js";

export interface StoredMessage {
  readonly seq: number;
  readonly data: Uint8Array;
}

/**
 * The JetStream stream that keeps every user and channel message for recovery. Backends publish
 * with a plain NATS publish; the stream stores it and RePublishes it, stamped with Nats-Sequence and
 * Nats-Last-Sequence, to `<prefix>.live.>`, which is what gateways subscribe to.
 */
export class History {
  private epochValue = "";

  private constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly desired: Partial<StreamConfig> & { name: string; subjects: string[] },
    private readonly logger: Logger,
  ) {}

  static async open(
    nc: NatsConnection,
    config: GatewayConfig,
    subjects: Subjects,
    logger: Logger,
  ): Promise<History> {
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
      num_replicas: config.historyReplicas,
      max_age: config.historyMaxAge * 1_000_000_000,
      max_msgs_per_subject: config.historyMaxPerSubject,
      allow_direct: true,
      republish: { src: subjects.republish.src, dest: subjects.republish.dest },
    };
    const history = new History(jsm, config.historyStream, desired, logger);
    await history.ensure();
    return history;
  }

  /** Identity of the stream: changes when it is deleted and created again, which voids old sequences. */
  get epoch(): string {
    return this.epochValue;
  }

  /** Creates the stream, or brings its limits in line with the config. Safe to call from many gateways. */
  async ensure(): Promise<void> {
    let info: Awaited<ReturnType<JetStreamManager["streams"]["info"]>>;
    try {
      info = await this.jsm.streams.info(this.stream);
      const c = info.config;
      const differs =
        c.max_age !== this.desired.max_age ||
        c.max_msgs_per_subject !== this.desired.max_msgs_per_subject ||
        c.republish?.src !== this.desired.republish?.src ||
        c.republish?.dest !== this.desired.republish?.dest ||
        c.subjects.join() !== this.desired.subjects.join() ||
        !c.allow_direct;
      if (differs) {
        info = await this.jsm.streams.update(this.stream, { ...this.desired });
        this.logger.info({ stream: this.stream }, "history stream updated");
      }
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw err;
      try {
        info = await this.jsm.streams.add({ ...this.desired });
        this.logger.info({ stream: this.stream }, "history stream created");
      } catch (addErr) {
        // another gateway created it at the same moment
        if (!/already in use|exists/i.test((addErr as Error).message)) throw addErr;
        info = await this.jsm.streams.info(this.stream);
      }
    }
    this.epochValue = String(Date.parse(info.created));
  }

  /** The last sequence stored for a subject, 0 when there is none. */
  async lastSequence(subject: string): Promise<number> {
    const msg = await this.jsm.direct.getMessage(this.stream, { last_by_subj: subject });
    return msg?.seq ?? 0;
  }

  /** The stream's first and last sequence, and how many messages `subject` holds now. */
  async state(subject: string): Promise<{ firstSeq: number; lastSeq: number; stored: number }> {
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: subject });
    return {
      firstSeq: info.state.first_seq,
      lastSeq: info.state.last_seq,
      stored: info.state.subjects?.[subject] ?? 0,
    };
  }

  /**
   * Whether every message of `subject` after `since` is still stored. Limits retention drops a
   * subject's oldest message first (max per subject) or the stream's oldest (max age), so: if
   * `since` itself is still there, nothing after it is gone; otherwise nothing after it is gone only
   * if the stream dropped nothing past `since` and the subject never hit its per-subject limit.
   */
  async holdsEverythingAfter(subject: string, since: number): Promise<boolean> {
    if (since > 0 && (await this.holds(subject, since))) return true;
    const { firstSeq, stored } = await this.state(subject);
    return firstSeq <= since + 1 && stored < this.maxPerSubject;
  }

  private get maxPerSubject(): number {
    return this.desired.max_msgs_per_subject ?? Number.POSITIVE_INFINITY;
  }

  /** Whether message `seq` is still stored under `subject`: then nothing after it was dropped. */
  async holds(subject: string, seq: number): Promise<boolean> {
    const msg = await this.jsm.direct.getMessage(this.stream, { seq });
    return msg !== null && msg.seq === seq && msg.subject === subject;
  }

  /** Messages of `subject` with sequence in (after, upTo], oldest first. */
  async *replay(subject: string, after: number, upTo: number): AsyncGenerator<StoredMessage> {
    let next = after + 1;
    while (next <= upTo) {
      const msg = await this.jsm.direct.getMessage(this.stream, { seq: next, next_by_subj: subject });
      if (!msg || msg.seq > upTo) return;
      yield { seq: msg.seq, data: msg.data };
      next = msg.seq + 1;
    }
  }
}
