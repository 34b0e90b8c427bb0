import { headers, type NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import { isWrongLastSequence } from "../../nats/jetstream-errors.js";
import { RequestMux } from "../request-mux.js";

/** One attempt waits this long for the stream's acknowledgement before it is sent again. */
const ATTEMPT_TIMEOUT_MS = 2000;
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 1000;

/** The subject's last revision was not the one expected: another writer (a reaper) got there first. */
export class WrongRevisionError extends Error {
  override readonly name = "WrongRevisionError";
}

/** Publishing gave up: `keepTrying` said stop, or the connection closed. */
export class GaveUpError extends Error {
  override readonly name = "GaveUpError";
}

export interface StoredPublishOptions {
  /** The `Nats-Msg-Id`, the same on every attempt, so a retry whose first attempt was stored is not. */
  readonly msgId: string;
  /** Store only if the subject's last message has this sequence (0: the subject holds none). */
  readonly expectRevision?: number;
  /** Asked before each retry: false ends the attempts with GaveUpError. */
  readonly keepTrying: () => boolean;
  /** Told about each failed attempt that will be retried (for counting and logging). */
  readonly onRetry?: (why: string) => void;
  /** A KV delete: an empty message with `KV-Operation: DEL`. */
  readonly kvDelete?: boolean;
}

/**
 * A stream's answer to a publish: an API error, or its acknowledgement. A refusal names the stream
 * too (`{"error": {...}, "stream": "...", "seq": 0}`), so the error is looked for first.
 */
const PubAnswer = v.union([
  v.object({
    error: v.object({
      code: v.number(),
      err_code: v.optional(v.number()),
      description: v.optional(v.string()),
    }),
  }),
  v.object({ stream: v.string(), seq: v.number(), duplicate: v.optional(v.boolean()) }),
]);
export type PubAck = { readonly stream: string; readonly seq: number; readonly duplicate?: boolean };

type Attempt = { ack: PubAck } | { retry: string } | { fail: Error };

const decoder = new TextDecoder();

/**
 * JetStream publishes that end stored exactly once or say why not: retried with backoff through a
 * stream-leader election, a NATS reconnect or a lost acknowledgement, with one `Nats-Msg-Id` for
 * every attempt (the server checks it before the expected revision, so a retry of a stored write
 * is answered as a duplicate, not as a conflict). Requests go through one inbox subscription, not
 * the client library's `request`, which builds an Error with a stack trace for every request.
 */
export class StoredPublisher {
  private readonly mux: RequestMux;

  constructor(private readonly nc: NatsConnection) {
    this.mux = new RequestMux(nc);
  }

  async publish(subject: string, data: Uint8Array, options: StoredPublishOptions): Promise<PubAck> {
    const h = headers();
    h.set("Nats-Msg-Id", options.msgId);
    if (options.expectRevision !== undefined)
      h.set("Nats-Expected-Last-Subject-Sequence", String(options.expectRevision));
    if (options.kvDelete) h.set("KV-Operation", "DEL");
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(subject, data, h);
      if ("ack" in outcome) return outcome.ack;
      if ("fail" in outcome) throw outcome.fail;
      options.onRetry?.(outcome.retry);
      if (!options.keepTrying())
        throw new GaveUpError(`${subject}: publishing was abandoned (${outcome.retry})`);
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt)),
      );
      if (!options.keepTrying()) throw new GaveUpError(`${subject}: publishing was abandoned`);
    }
  }

  close(): void {
    this.mux.close();
  }

  private async attempt(subject: string, data: Uint8Array, h: ReturnType<typeof headers>): Promise<Attempt> {
    if (this.nc.isClosed()) return { fail: new GaveUpError(`${subject}: the NATS connection is closed`) };
    const reply = await this.mux.request(subject, data, ATTEMPT_TIMEOUT_MS, h);
    // No stream leader (an election), no answer, or the connection moving: all worth another try.
    if (reply.kind === "no_responders" || reply.kind === "timeout") return { retry: reply.kind };
    if (reply.kind === "failed") {
      return this.nc.isClosed()
        ? { fail: new GaveUpError(`${subject}: ${reply.message}`) }
        : { retry: reply.message };
    }
    let answer: v.InferOutput<typeof PubAnswer>;
    try {
      answer = v.parse(PubAnswer, JSON.parse(decoder.decode(reply.msg.data)));
    } catch {
      return { fail: new Error(`${subject}: the stream's answer is not an acknowledgement`) };
    }
    if (!("error" in answer)) return { ack: answer };
    const { code, err_code: errCode, description = "" } = answer.error;
    if (isWrongLastSequence(errCode)) return { fail: new WrongRevisionError(`${subject}: ${description}`) };
    if (code === 503) return { retry: description || "unavailable" };
    return { fail: new Error(`${subject}: ${description || `JetStream error ${code}`}`) };
  }
}
