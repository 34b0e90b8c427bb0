import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { type NatsConnection, nuid } from "@nats-io/nats-core";
import * as v from "valibot";
import { JetStreamErrorCode } from "../../nats/jetstream-errors.js";
import { RequestMux } from "../../nats/request-mux.js";
import { StoredPublisher, WrongRevisionError } from "../../nats/stored-publish.js";
import { type InboxSubjects, inboxSubjects } from "../../protocol/index.js";
import type { GatewayConfig } from "../config/config.js";
import type { InboxMetrics } from "./inbox-metrics.js";
import { decodeState, EMPTY_STATE, encodeState, type InboxState } from "./inbox-state.js";
import { stateStream, stateSubject } from "./inbox-streams.js";

/** A stored notification. */
export interface StoredNotification {
  readonly id: number;
  /** When the stream stored it, ms since the epoch. */
  readonly time: number;
  readonly data: Uint8Array;
}

/** A notification's place in a user's feed, without its payload. */
export interface NotificationRef {
  readonly id: number;
  readonly time: number;
}

/** A user's state record and its revision (the KV sequence; 0 when the user has none yet). */
export interface StoredState {
  readonly state: InboxState;
  readonly revision: number;
}

/** JetStream did not answer a read or a write: the request gets `UNAVAILABLE`, and may be retried. */
export class InboxUnavailable extends Error {
  override readonly name = "InboxUnavailable";
}

/** Reads wait this long for the stream's leader. */
const READ_TIMEOUT_MS = 3000;
/** A write is retried (same `Nats-Msg-Id`) through an election for this long. */
const WRITE_TIMEOUT_MS = 10_000;
/** Most headers one pull of an index read asks for. */
const INDEX_BATCH = 1000;

const MsgGetResponse = v.object({
  message: v.optional(
    v.object({
      subject: v.string(),
      seq: v.pipe(v.number(), v.integer(), v.minValue(1)),
      data: v.optional(v.string()),
      time: v.string(),
    }),
  ),
  error: v.optional(
    v.object({ code: v.number(), err_code: v.optional(v.number()), description: v.optional(v.string()) }),
  ),
});

/** The headers a direct get answers with, around the message as stored. */
const DirectGetHeaders = v.object({
  seq: v.pipe(v.string(), v.regex(/^[1-9]\d{0,15}$/), v.transform(Number)),
  subject: v.pipe(v.string(), v.minLength(1)),
  time: v.pipe(
    v.string(),
    v.transform(Date.parse),
    v.check((time) => Number.isFinite(time)),
  ),
});

/** A message by sequence (optionally the first of a subject at or after it), or a subject's last. */
type ReadQuery = { seq: number; next_by_subj?: string } | { last_by_subj: string };

interface RawMessage {
  readonly seq: number;
  readonly subject: string;
  readonly time: number;
  readonly data: Uint8Array;
}

export interface InboxStoreOptions {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  readonly config: GatewayConfig;
  readonly metrics: InboxMetrics;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Every read and write the inbox makes in JetStream. Reads are single messages (a notification by
 * id, a user's next one after an id, a user's last one, a user's state record), through one inbox
 * subscription, from the stream's leader: of a stream with one replica, that one server answers a
 * direct get (the message as stored, with no API layer, no JSON and no base64: a fifth of
 * nats-server's work for a `STREAM.MSG.GET`); of a replicated one, `STREAM.MSG.GET` asks the
 * leader, as a replica that is behind may answer a direct get. A page's notifications are direct
 * gets whatever the replicas, all at once (see `pageItem`). The one read of many messages, a
 * user's whole index of ids, is a short-lived consumer that delivers headers only. State is
 * written with compare-and-set on the record's revision.
 */
export class InboxStore {
  readonly subjects: InboxSubjects;
  private readonly mux: RequestMux;
  private readonly publisher: StoredPublisher;
  private readonly notifyStream: string;
  private readonly bucket: string;
  private readonly jsm: JetStreamManager;
  private readonly js: JetStreamClient;
  private readonly metrics: InboxMetrics;
  /** Streams with one replica, read with direct gets (see `replicasOf`). */
  private soleReplicas = new Set<string>();
  /** The reads' counters, each looked up once (a labelled `inc` costs a lookup every time). */
  private readonly counted: Record<"notification" | "walk" | "last" | "state" | "index", { inc(): void }>;

  constructor({ nc, jsm, js, config, metrics }: InboxStoreOptions) {
    this.metrics = metrics;
    const reads = (kind: string) => metrics.reads.labels({ kind });
    this.counted = {
      notification: reads("notification"),
      walk: reads("walk"),
      last: reads("last"),
      state: reads("state"),
      index: reads("index"),
    };
    this.subjects = inboxSubjects(config.prefix);
    this.mux = new RequestMux(nc);
    this.publisher = new StoredPublisher(nc, this.mux);
    this.notifyStream = config.inboxStream;
    this.bucket = config.inboxStateBucket;
    this.jsm = jsm;
    this.js = js;
  }

  /** A notification by id from the leader, or null when there is none (never was, or retention dropped it). */
  async notification(id: number): Promise<(StoredNotification & { readonly user: string }) | null> {
    this.counted.notification.inc();
    const msg = await this.get(this.notifyStream, { seq: id });
    return msg && notificationOf(msg);
  }

  /** The streams' replicas as they are now: those with one are read with direct gets. */
  replicasOf(replicas: Readonly<Record<string, number>>): void {
    this.soleReplicas = new Set(Object.keys(replicas).filter((stream) => replicas[stream] === 1));
  }

  /**
   * A notification by id for a page: a direct get, which any replica answers. A notification never
   * changes, so any replica that has it answers right; one that is behind may not have it yet: its
   * "none", or no answer, is asked of the leader, whose "none" is the truth.
   */
  async pageItem(id: number): Promise<(StoredNotification & { readonly user: string }) | null> {
    this.counted.notification.inc();
    const direct = await this.directGet(this.notifyStream, { seq: id });
    if (direct) return notificationOf(direct);
    if (direct === null && this.soleReplicas.has(this.notifyStream)) return null;
    return this.notification(id);
  }

  /** The user's first notification with an id of `from` or more, or null. */
  async next(user: string, from: number): Promise<StoredNotification | null> {
    this.counted.walk.inc();
    const msg = await this.get(this.notifyStream, {
      seq: Math.max(1, from),
      next_by_subj: this.subjects.notify(user),
    });
    return msg ? { id: msg.seq, time: msg.time, data: msg.data } : null;
  }

  /** The id of the user's newest notification, 0 when there is none. */
  async lastId(user: string): Promise<number> {
    this.counted.last.inc();
    const msg = await this.get(this.notifyStream, { last_by_subj: this.subjects.notify(user) });
    return msg?.seq ?? 0;
  }

  /** A user's state, or the empty state at revision 0 (a record that is not valid counts as empty). */
  async state(user: string): Promise<StoredState> {
    this.counted.state.inc();
    const msg = await this.get(stateStream(this.bucket), { last_by_subj: stateSubject(this.bucket, user) });
    if (!msg) return { state: EMPTY_STATE, revision: 0 };
    return { state: decodeState(msg.data) ?? EMPTY_STATE, revision: msg.seq };
  }

  /**
   * Stores a user's new state if its record is still at `revision`; resolves with the new revision.
   * Rejects with WrongRevisionError when another write came first.
   */
  async writeState(user: string, state: InboxState, revision: number): Promise<number> {
    const ack = await this.publisher
      .publish(stateSubject(this.bucket, user), encodeState(state), {
        // One id for every attempt of this write, unique to it: a retry whose first attempt was
        // stored is answered as a duplicate, not as a conflict.
        msgId: nuid.next(),
        expectRevision: revision,
        timeout: WRITE_TIMEOUT_MS,
      })
      .catch((err: Error) => {
        if (err instanceof WrongRevisionError) {
          this.metrics.stateWrites.inc({ result: "conflict" });
          throw err;
        }
        throw new InboxUnavailable(`the inbox state could not be stored: ${err.message}`);
      });
    this.metrics.stateWrites.inc({ result: "stored" });
    return ack.seq;
  }

  /**
   * Every notification of the user with an id up to `upTo`, oldest first, without payloads: one
   * consumer that delivers headers only (the stream sequence and time ride in each delivery's reply
   * subject), at most `--inbox-max-per-user` of them, removed once read.
   */
  async index(user: string, upTo: number): Promise<NotificationRef[]> {
    if (upTo <= 0) return [];
    this.counted.index.inc();
    let created: Awaited<ReturnType<JetStreamManager["consumers"]["add"]>>;
    try {
      created = await this.jsm.consumers.add(this.notifyStream, {
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.All,
        filter_subject: this.subjects.notify(user),
        headers_only: true,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: 30_000_000_000,
      });
    } catch (err) {
      throw new InboxUnavailable(`the inbox index could not be read: ${(err as Error).message}`);
    }
    const refs: NotificationRef[] = [];
    try {
      const consumer = await this.js.consumers.get(this.notifyStream, created.name);
      let pending = created.num_pending;
      while (pending > 0) {
        const batch = await consumer.fetch({
          max_messages: Math.min(INDEX_BATCH, pending),
          expires: READ_TIMEOUT_MS,
        });
        let got = 0;
        for await (const msg of batch) {
          got++;
          pending = msg.info.pending;
          if (msg.seq <= upTo)
            refs.push({ id: msg.seq, time: Math.floor(msg.info.timestampNanos / 1_000_000) });
          if (pending === 0 || msg.seq >= upTo) {
            pending = 0;
            break;
          }
        }
        if (got === 0) throw new InboxUnavailable("the inbox index read got nothing");
      }
    } catch (err) {
      if (err instanceof InboxUnavailable) throw err;
      throw new InboxUnavailable(`the inbox index could not be read: ${(err as Error).message}`);
    } finally {
      this.jsm.consumers.delete(this.notifyStream, created.name).catch(() => undefined);
    }
    return refs;
  }

  close(): void {
    this.mux.close();
  }

  /**
   * A direct get, answered by any replica of the stream: the message; null when the replica that
   * answered has none (404); undefined when none answered, or the answer is not one to `query`.
   */
  private async directGet(stream: string, query: ReadQuery): Promise<RawMessage | null | undefined> {
    const reply = await this.mux.request(
      `$JS.API.DIRECT.GET.${stream}`,
      encoder.encode(JSON.stringify(query)),
      READ_TIMEOUT_MS,
    );
    if (reply.kind !== "reply") return undefined;
    const headers = reply.msg.headers;
    if (headers?.code === 404) return null;
    // Another status instead of a message.
    if (headers?.code !== 0) return undefined;
    const parsed = v.safeParse(DirectGetHeaders, {
      seq: headers.last("Nats-Sequence"),
      subject: headers.last("Nats-Subject"),
      time: headers.last("Nats-Time-Stamp"),
    });
    if (!parsed.success || !answers(query, parsed.output)) return undefined;
    return { ...parsed.output, data: reply.msg.data };
  }

  /** A read of the stream's leader: a direct get when it is the one replica, else `STREAM.MSG.GET`. */
  private async get(stream: string, query: ReadQuery): Promise<RawMessage | null> {
    if (this.soleReplicas.has(stream)) {
      const found = await this.directGet(stream, query);
      if (found === undefined) throw new InboxUnavailable(`reading ${stream} failed: no answer`);
      return found;
    }
    const reply = await this.mux.request(
      `$JS.API.STREAM.MSG.GET.${stream}`,
      encoder.encode(JSON.stringify(query)),
      READ_TIMEOUT_MS,
    );
    if (reply.kind !== "reply") throw new InboxUnavailable(`reading ${stream} failed: ${reply.kind}`);
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(reply.msg.data));
    } catch {
      throw new InboxUnavailable(`reading ${stream} failed: the answer is not JSON`);
    }
    const parsed = v.safeParse(MsgGetResponse, json);
    if (!parsed.success) throw new InboxUnavailable(`reading ${stream} failed: an unexpected answer`);
    const { message, error } = parsed.output;
    if (error?.err_code === JetStreamErrorCode.NoMessageFound) return null;
    if (error || !message)
      throw new InboxUnavailable(`reading ${stream} failed: ${error?.description ?? "no message"}`);
    return {
      seq: message.seq,
      subject: message.subject,
      time: Date.parse(message.time),
      data: Buffer.from(message.data ?? "", "base64"),
    };
  }
}

function notificationOf(msg: RawMessage): StoredNotification & { readonly user: string } {
  const user = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
  return { id: msg.seq, time: msg.time, data: msg.data, user };
}

/** Whether a message is one the query asked for (a direct get's headers are checked, as any answer). */
function answers(query: ReadQuery, msg: { seq: number; subject: string }): boolean {
  if ("last_by_subj" in query) return msg.subject === query.last_by_subj;
  if (query.next_by_subj === undefined) return msg.seq === query.seq;
  return msg.seq >= query.seq && msg.subject === query.next_by_subj;
}
