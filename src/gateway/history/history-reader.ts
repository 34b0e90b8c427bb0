import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import {
  createInbox,
  type Msg,
  type NatsConnection,
  nanos,
  type Subscription,
  TimeoutError,
} from "@nats-io/nats-core";

export interface StoredMessage {
  readonly seq: number;
  readonly data: Uint8Array;
}

export interface HistoryReaderOptions {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  /** The channel's subject in the stream. */
  readonly subject: string;
  /** The first sequence read. */
  readonly from: number;
  /** The server drops the reader's consumer after this long without a read. */
  readonly inactiveMs: number;
}

/** Most messages one pull asks for (the bytes bound usually ends a page first). */
const PAGE_MESSAGES = 256;
/** A pull that brings nothing for this long failed. */
const PULL_TIMEOUT_MS = 5000;
/** Attempts to create the consumer before the recovery fails (and the client tries again later). */
const CREATE_ATTEMPTS = 5;

interface Pull {
  readonly messages: StoredMessage[];
  readonly batch: number;
  readonly upTo: number;
  readonly resolve: (messages: StoredMessage[]) => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Reads one subject of the history stream in order from a sequence on, a page at a time, with an
 * ephemeral pull consumer (nats-server 2.9 has no batched direct get): one request to create it,
 * one pull per page however many messages it holds, one to delete it. Nothing is read ahead of the
 * caller, so a slow reader holds one page at most. Pulls are `no_wait` with a message and a byte
 * bound: the server answers with what it has and says when it stopped short.
 */
export class HistoryReader {
  /**
   * Messages still to read as the server last counted them (live ones included). A page only ends
   * before the server's answer does when nothing is left to read, so answers never cross pages.
   */
  pending: number;
  private closed = false;
  private pull: Pull | undefined;
  private readonly inbox = createInbox();
  private readonly subscription: Subscription;

  private readonly nc: NatsConnection;
  private readonly jsm: JetStreamManager;
  private readonly stream: string;
  /** The consumer's name. */
  private readonly name: string;

  private constructor({ nc, jsm, stream }: HistoryReaderOptions, name: string, pending: number) {
    this.nc = nc;
    this.jsm = jsm;
    this.stream = stream;
    this.name = name;
    this.pending = pending;
    this.subscription = nc.subscribe(this.inbox, {
      callback: (err, msg) => {
        if (!err) this.received(msg);
      },
    });
  }

  static async open(options: HistoryReaderOptions): Promise<HistoryReader> {
    const { jsm, stream, subject, from, inactiveMs } = options;
    const config = {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, from),
      filter_subject: subject,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(inactiveMs),
    };
    // JetStream places a one-replica consumer on one of the stream's servers at random, one that is
    // down included: creating it then times out, and another attempt most likely lands elsewhere
    // (with one of three servers down, a third of the attempts fail).
    for (let attempt = 1; ; attempt++) {
      try {
        const info = await jsm.consumers.add(stream, config);
        return new HistoryReader(options, info.name, info.num_pending);
      } catch (err) {
        // 503: the stream's cluster is electing or catching up, which takes moments
        const transient =
          err instanceof TimeoutError || (err instanceof JetStreamApiError && err.status === 503);
        if (!transient || attempt >= CREATE_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * The next messages, together at most `maxBytes` (which must fit the largest message), and none
   * after `upTo`. Empty when nothing is left up to `upTo`.
   */
  page(maxBytes: number, upTo: number): Promise<StoredMessage[]> {
    if (this.closed || this.pending <= 0) return Promise.resolve([]);
    if (this.pull) return Promise.reject(new Error("one page at a time"));
    const batch = Math.min(this.pending, PAGE_MESSAGES);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.finish(new Error("history read timed out")), PULL_TIMEOUT_MS);
      this.pull = { messages: [], batch, upTo, resolve, reject, timer };
      this.nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.name}`,
        JSON.stringify({ batch, max_bytes: maxBytes, no_wait: true }),
        { reply: this.inbox },
      );
    });
  }

  private received(msg: Msg): void {
    const pull = this.pull;
    if (!pull) return; // the status that ends a page we stopped reading early
    const status = msg.headers?.code ?? 0;
    if (status !== 0 && msg.data.length === 0) {
      // 404 nothing more now, 408 expired, 409 the next message would pass max_bytes: the page ends
      if (status === 404 || status === 408) this.pending = 0;
      const full = status === 409 && pull.messages.length > 0;
      if (status !== 404 && status !== 408 && !full) {
        const description = msg.headers?.description.slice(0, 64) ?? "";
        return this.finish(new Error(`history read failed: ${status} ${description}`));
      }
      return this.finish();
    }
    const delivery = deliveryOf(msg.reply);
    if (!delivery) return this.finish(new Error("history read: a message without its stream sequence"));
    this.pending = delivery.pending;
    if (delivery.seq > pull.upTo) {
      this.pending = 0; // the rest arrives live
      return this.finish();
    }
    pull.messages.push({ seq: delivery.seq, data: msg.data });
    if (delivery.seq === pull.upTo) this.pending = 0;
    if (this.pending === 0 || pull.messages.length === pull.batch) this.finish();
  }

  private finish(err?: Error): void {
    const pull = this.pull;
    if (!pull) return;
    this.pull = undefined;
    clearTimeout(pull.timer);
    if (err) pull.reject(err);
    else pull.resolve(pull.messages);
  }

  /** Deletes the consumer (not awaited: the server also drops it after `inactiveMs`). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = 0;
    this.finish();
    if (!this.nc.isClosed()) this.subscription.unsubscribe();
    this.jsm.consumers.delete(this.stream, this.name).catch(() => undefined);
  }
}

/**
 * The stream sequence and the count still pending, from a consumer message's reply subject:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`, or with
 * `<domain>.<account hash>` after `ACK` and a random token at the end.
 */
function deliveryOf(reply: string | undefined): { seq: number; pending: number } | undefined {
  const tokens = reply?.split(".") ?? [];
  if (tokens[0] !== "$JS" || tokens[1] !== "ACK") return undefined;
  const at = tokens.length === 9 ? 5 : 7;
  const seq = Number(tokens[at]);
  const pending = Number(tokens[at + 3]);
  if (!Number.isSafeInteger(seq) || seq <= 0 || !Number.isSafeInteger(pending)) return undefined;
  return { seq, pending };
}
