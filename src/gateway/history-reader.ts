import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  type JetStreamClient,
  JetStreamError,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";

export interface StoredMessage {
  readonly seq: number;
  readonly data: Uint8Array;
}

/** How long a fetch waits for messages the consumer said were pending (they were dropped meanwhile). */
const FETCH_EXPIRES_MS = 5000;

/**
 * Reads one subject of the history stream in order from a sequence on, a page at a time, with an
 * ephemeral pull consumer (JetStream 2.9 has no batched direct get): one request to create it, one
 * pull per page however many messages it holds, one to delete it. Nothing is read ahead of the
 * caller, so a slow reader holds one page at most.
 */
export class HistoryReader {
  /** Messages at or after `from` still to read, as the server last counted them (live ones included). */
  pending: number;
  private closed = false;

  private constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly name: string,
    private readonly consumer: Consumer,
    pending: number,
  ) {
    this.pending = pending;
  }

  static async open(
    jsm: JetStreamManager,
    js: JetStreamClient,
    stream: string,
    subject: string,
    from: number,
    inactiveMs: number,
  ): Promise<HistoryReader> {
    const info = await jsm.consumers.add(stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, from),
      filter_subject: subject,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(inactiveMs),
    });
    const consumer = js.consumers.getConsumerFromInfo(info);
    return new HistoryReader(jsm, stream, info.name, consumer, info.num_pending);
  }

  /**
   * The next messages, together at most `maxBytes` (which must fit the largest message), and none
   * after `upTo`. Empty when nothing is left up to `upTo`.
   */
  async page(maxBytes: number, upTo: number): Promise<StoredMessage[]> {
    const messages: StoredMessage[] = [];
    if (this.closed || this.pending <= 0) return messages;
    const fetched = await this.consumer.fetch({ max_bytes: maxBytes, expires: FETCH_EXPIRES_MS });
    try {
      for await (const msg of fetched) {
        this.pending = msg.info.pending;
        if (msg.seq > upTo) {
          this.pending = 0; // the rest arrives live
          break;
        }
        messages.push({ seq: msg.seq, data: msg.data });
        if (msg.seq === upTo) this.pending = 0;
        if (this.pending === 0) break;
      }
    } catch (err) {
      if (!isPageFull(err)) throw err;
    }
    if (messages.length === 0) this.pending = 0; // expired: what was pending is gone
    return messages;
  }

  /** Deletes the consumer (not awaited: the server also drops it after `inactiveMs`). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = 0;
    this.jsm.consumers.delete(this.stream, this.name).catch(() => undefined);
  }
}

/** The pull ended because the next message would pass `max_bytes`: a full page, not a failure. */
function isPageFull(err: unknown): boolean {
  return (
    err instanceof JetStreamError &&
    (err as JetStreamError & { code?: unknown }).code === 409 &&
    err.message === "message size exceeds maxbytes"
  );
}
