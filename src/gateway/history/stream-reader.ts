import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import { JetStreamErrorCode } from "../../nats/jetstream-errors.js";
import { RequestMux } from "../../nats/request-mux.js";
import type { Logger } from "../logger.js";

/** One stored message, as recovery needs it. */
export interface StoredRecord {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
}

/** A message by sequence (optionally the first of a subject at or after it), or a subject's last. */
export type ReadQuery =
  | { readonly seq: number; readonly next_by_subj?: string }
  | { readonly last_by_subj: string };

/** How long the leader has to answer before reads go to any replica. */
const LEADER_TIMEOUT_MS = 1000;
/**
 * The same for a one-replica stream: its only server is the one a direct get would reach too, so
 * giving up early gains nothing, and in a reconnect storm it may just be busy for a second or two.
 */
const SOLE_SERVER_TIMEOUT_MS = 5000;
/** After the leader failed to answer, reads go to replicas this long before the leader is asked again. */
const LEADERLESS_MS = 2000;

/** What a read gets while the stream's leader does not answer. */
const LEADERLESS = Symbol("leaderless");

const MsgGetResponse = v.object({
  message: v.optional(
    v.object({
      subject: v.string(),
      seq: v.pipe(v.number(), v.integer(), v.minValue(1)),
      data: v.optional(v.string()),
    }),
  ),
  error: v.optional(
    v.object({ code: v.number(), err_code: v.optional(v.number()), description: v.optional(v.string()) }),
  ),
});

const StreamInfoResponse = v.object({
  state: v.optional(v.object({ first_seq: v.pipe(v.number(), v.integer(), v.minValue(0)) })),
  error: v.optional(v.object({ code: v.number(), description: v.optional(v.string()) })),
});

/**
 * Reads single stored messages (a channel's last one, after a NATS reconnect). Normally from the
 * stream's leader (`STREAM.MSG.GET`): it answers from a store that holds every message stored so
 * far. A direct get may be answered by any replica, and nats-server 2.9 lets a replica that is behind
 * answer too: one that just came back from a hang answered with a state seconds old, and a read from
 * it would miss the very message the gateway needs to know about. While the leader does not answer
 * (the stream is electing one), reads go to the replicas with a direct get: nothing is stored
 * meanwhile, which is when that is safest.
 *
 * Requests go through a RequestMux: in a reconnect storm there are thousands, and the client
 * library's `request` costs an inbox subscription and an Error with a stack trace each.
 */
export interface StreamReaderOptions {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly logger: Logger;
  /** The stream's replicas: with one, its sole server gets longer to answer (see the timeouts). */
  readonly replicas: number;
}

export class StreamReader {
  private leaderlessUntil = 0;
  private readonly decoder = new TextDecoder();
  private readonly encoder = new TextEncoder();
  private readonly mux: RequestMux;
  private readonly leaderTimeoutMs: number;

  private readonly jsm: JetStreamManager;
  private readonly stream: string;
  private readonly logger: Logger;

  constructor({ nc, jsm, stream, logger, replicas }: StreamReaderOptions) {
    this.jsm = jsm;
    this.stream = stream;
    this.logger = logger;
    this.mux = new RequestMux(nc);
    this.leaderTimeoutMs = replicas <= 1 ? SOLE_SERVER_TIMEOUT_MS : LEADER_TIMEOUT_MS;
  }

  /** The stream's first stored sequence, from its leader. */
  async firstSequence(): Promise<number> {
    const reply = await this.mux.request(`$JS.API.STREAM.INFO.${this.stream}`, new Uint8Array(0), 5000);
    if (reply.kind !== "reply") throw new Error(`reading the history stream's state failed: ${reply.kind}`);
    const parsed = v.safeParse(StreamInfoResponse, this.json(reply.msg.data, "stream info"));
    if (!parsed.success) throw new Error("the stream's info has an unexpected shape");
    const { state, error } = parsed.output;
    if (error || !state)
      throw new Error(`reading the history stream's state failed: ${error?.description ?? "no state"}`);
    return state.first_seq;
  }

  close(): void {
    this.mux.close();
  }

  async read(query: ReadQuery): Promise<StoredRecord | null> {
    const answer = await this.fromLeaderIfAnswering(query);
    if (answer !== LEADERLESS) return answer;
    const msg = await this.jsm.direct.getMessage(this.stream, query);
    return msg ? { seq: msg.seq, subject: msg.subject, data: msg.data } : null;
  }

  /**
   * Reads from the leader only: undefined while it does not answer. For a read whose "none" would
   * be trusted to mean nothing is missing — a replica cannot say that.
   */
  async readFromLeader(query: ReadQuery): Promise<StoredRecord | null | undefined> {
    const answer = await this.fromLeaderIfAnswering(query);
    return answer === LEADERLESS ? undefined : answer;
  }

  private async fromLeaderIfAnswering(query: ReadQuery): Promise<StoredRecord | null | typeof LEADERLESS> {
    if (Date.now() < this.leaderlessUntil) return LEADERLESS;
    try {
      return await this.fromLeader(query);
    } catch (err) {
      if (!(err instanceof LeaderUnavailable)) throw err;
      this.leaderlessUntil = Date.now() + LEADERLESS_MS;
      this.logger.warn({ stream: this.stream }, "history stream leader not answering; reading from replicas");
      return LEADERLESS;
    }
  }

  private async fromLeader(query: ReadQuery): Promise<StoredRecord | null> {
    const reply = await this.mux.request(
      `$JS.API.STREAM.MSG.GET.${this.stream}`,
      this.encoder.encode(JSON.stringify(query)),
      this.leaderTimeoutMs,
    );
    if (reply.kind === "timeout" || reply.kind === "no_responders") throw new LeaderUnavailable(reply.kind);
    if (reply.kind === "failed") throw new Error(`reading the history stream failed: ${reply.message}`);
    const parsed = v.safeParse(MsgGetResponse, this.json(reply.msg.data, "message read"));
    if (!parsed.success) throw new Error("the stream's answer to a message read has an unexpected shape");
    const { message, error } = parsed.output;
    if (error?.err_code === JetStreamErrorCode.NoMessageFound) return null;
    // "JetStream system temporarily unavailable": no leader to answer for now, as with a timeout
    if (error?.code === 503) throw new LeaderUnavailable(error.description ?? "temporarily unavailable");
    if (error || !message)
      throw new Error(`reading the history stream failed: ${error?.description ?? "no message"}`);
    return { seq: message.seq, subject: message.subject, data: Buffer.from(message.data ?? "", "base64") };
  }

  private json(data: Uint8Array, what: string): unknown {
    try {
      return JSON.parse(this.decoder.decode(data));
    } catch {
      throw new Error(`the stream's answer to a ${what} is not JSON`);
    }
  }
}

/** The stream answered that it cannot serve reads for now (no leader). */
class LeaderUnavailable extends Error {
  override readonly name = "LeaderUnavailable";
}
