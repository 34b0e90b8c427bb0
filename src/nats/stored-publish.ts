import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  headers,
  InvalidArgumentError,
  InvalidSubjectError,
  type MsgHdrs,
  type NatsConnection,
  RequestError,
} from "@nats-io/nats-core";
import * as v from "valibot";
import { isWrongLastSequence } from "./jetstream-errors.js";
import { clientRequester, type Requester } from "./requester.js";

/** One attempt waits at most this long for the stream's acknowledgement before it is sent again. */
const ATTEMPT_TIMEOUT_MS = 2000;
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 1000;

/** Why a publish ended unstored; the message is `<subject>: <reason>`. */
export class StoredPublishError extends Error {
  constructor(
    readonly subject: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${subject}: ${reason}`, options);
  }
}

/** The subject's last revision was not the one expected: another writer got there first. */
export class WrongRevisionError extends StoredPublishError {
  override readonly name = "WrongRevisionError";
}

/** Publishing gave up: `keepTrying` said stop, or (`closed`) the connection closed or is draining. */
export class GaveUpError extends StoredPublishError {
  override readonly name = "GaveUpError";
  constructor(
    subject: string,
    reason: string,
    readonly closed: boolean,
    options?: { cause?: unknown },
  ) {
    super(subject, reason, options);
  }
}

/** No stream captures the subject, as JetStream itself says (or the server has no JetStream). */
export class NoStreamCapturesError extends StoredPublishError {
  override readonly name = "NoStreamCapturesError";
  constructor(
    subject: string,
    /** A plain subscriber received the publish without answering it. */
    readonly receivedUnstored: boolean,
  ) {
    super(subject, "no JetStream stream captures it");
  }
}

/** Not stored within the `timeout`; `lastFailure` says what the last attempt met. */
export class NotStoredInTimeError extends StoredPublishError {
  override readonly name = "NotStoredInTimeError";
  constructor(
    subject: string,
    readonly timeoutMs: number,
    /** "no_leader": nobody answered (a stream electing a leader, or none); "unavailable": NATS or JetStream was. */
    readonly lastFailure: RetryReason | undefined,
    options?: { cause?: unknown },
  ) {
    super(subject, `not stored within ${timeoutMs} ms`, options);
  }
}

/** NATS or the stream refused the publish, and sending it again cannot help (limits, a bad payload). */
export class PublishRefusedError extends StoredPublishError {
  override readonly name = "PublishRefusedError";
}

export interface StoredPublishOptions {
  /** The `Nats-Msg-Id`, the same on every attempt, so a retry whose first attempt was stored is not. */
  readonly msgId: string;
  /** Store only if the subject's last message has this sequence (0: the subject holds none). */
  readonly expectRevision?: number;
  /** A KV delete: an empty message with `KV-Operation: DEL`. */
  readonly kvDelete?: boolean;
  /** ms to keep trying, retries included, before NotStoredInTimeError. Unset: until `keepTrying` says stop. */
  readonly timeout?: number;
  /** Asked before each retry: false ends the attempts with GaveUpError. */
  readonly keepTrying?: () => boolean;
  /** Told about each failed attempt that will be retried (for counting and logging). */
  readonly onRetry?: (why: string) => void;
  /**
   * When nobody answers, ask JetStream whether any stream captures the subject, and end with
   * NoStreamCapturesError when none does. Off: keep trying (a stream the caller ensures itself).
   */
  readonly checkStream?: boolean;
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
  v.object({
    stream: v.pipe(v.string(), v.minLength(1)),
    seq: v.number(),
    duplicate: v.optional(v.boolean()),
  }),
]);

/** The stream's acknowledgement: stored as `seq`, or (`duplicate`) already stored under the msgId. */
export interface StoredAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/** A failed attempt worth another: what it met, in words for `onRetry`, and the error if there was one. */
type Retry = { readonly retry: RetryReason; readonly why: string; readonly cause?: unknown };
type RetryReason = "timeout" | "no_leader" | "unavailable";
type Attempt = { readonly ack: StoredAck } | Retry | { readonly fail: Error };

/** What one attempt (or one stream check) may wait: up to the deadline, at most ATTEMPT_TIMEOUT_MS. */
const timeLeft = (deadline: number) => Math.max(1, Math.min(deadline - Date.now(), ATTEMPT_TIMEOUT_MS));

const decoder = new TextDecoder();

/**
 * JetStream publishes that end stored exactly once or say why not: retried with backoff through a
 * stream-leader election, a NATS reconnect or a lost acknowledgement, with one `Nats-Msg-Id` for
 * every attempt (the server checks it before an expected revision, so a retry of a stored write is
 * answered as a duplicate, not as a conflict). The gateway sends through its request mux, which
 * builds no Error per request; the backend SDK through the client library's `request`.
 */
export class StoredPublisher {
  #jsm: Promise<JetStreamManager> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly requester: Requester = clientRequester(nc),
  ) {}

  async publish(subject: string, data: Uint8Array, options: StoredPublishOptions): Promise<StoredAck> {
    const h = headers();
    h.set("Nats-Msg-Id", options.msgId);
    if (options.expectRevision !== undefined)
      h.set("Nats-Expected-Last-Subject-Sequence", String(options.expectRevision));
    if (options.kvDelete) h.set("KV-Operation", "DEL");
    const deadline = options.timeout === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeout;
    let last: Retry | undefined;
    for (let attempt = 0; ; attempt++) {
      if (Date.now() >= deadline) break;
      const outcome = await this.attempt(subject, data, h, deadline, options.checkStream ?? false);
      if ("ack" in outcome) return outcome.ack;
      if ("fail" in outcome) throw outcome.fail;
      last = outcome;
      options.onRetry?.(outcome.why);
      if (options.keepTrying?.() === false)
        throw new GaveUpError(subject, `publishing was abandoned (${outcome.why})`, false);
      const pause = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt, deadline - Date.now());
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      if (options.keepTrying?.() === false) throw new GaveUpError(subject, "publishing was abandoned", false);
    }
    throw new NotStoredInTimeError(subject, options.timeout ?? 0, last?.retry, { cause: last?.cause });
  }

  private async attempt(
    subject: string,
    data: Uint8Array,
    h: MsgHdrs,
    deadline: number,
    checkStream: boolean,
  ): Promise<Attempt> {
    if (this.nc.isClosed()) return { fail: new GaveUpError(subject, "the NATS connection is closed", true) };
    const reply = await this.requester.request(subject, data, timeLeft(deadline), h);
    if (reply.kind === "no_responders" || reply.kind === "timeout") {
      // Nobody answered: the subject's stream elects a leader, an acknowledgement was lost, or no
      // stream captures the subject (a plain subscriber receives it without answering). Only the last is final.
      if (checkStream && (await this.noStreamCaptures(subject, deadline)))
        return { fail: new NoStreamCapturesError(subject, reply.kind === "timeout") };
      return reply.kind === "timeout"
        ? { retry: "timeout", why: "timeout" }
        : { retry: "no_leader", why: "no_responders" };
    }
    if (reply.kind === "failed") {
      const { message, cause } = reply;
      if (
        this.nc.isClosed() ||
        cause instanceof ClosedConnectionError ||
        cause instanceof DrainingConnectionError
      )
        return { fail: new GaveUpError(subject, message, true, { cause }) };
      // Sending it again cannot help: a payload over max_payload, a subject NATS refuses.
      if (cause instanceof InvalidArgumentError || cause instanceof InvalidSubjectError)
        return { fail: new PublishRefusedError(subject, message, { cause }) };
      // The connection dropped under the request; the client is reconnecting.
      return { retry: "unavailable", why: message, cause };
    }
    let answer: v.InferOutput<typeof PubAnswer>;
    try {
      answer = v.parse(PubAnswer, JSON.parse(decoder.decode(reply.msg.data)));
    } catch {
      return { fail: new PublishRefusedError(subject, "the stream's answer is not an acknowledgement") };
    }
    if (!("error" in answer)) return { ack: { ...answer, duplicate: answer.duplicate ?? false } };
    const { code, err_code: errCode, description = "" } = answer.error;
    if (isWrongLastSequence(errCode)) return { fail: new WrongRevisionError(subject, description) };
    // JetStream's own "temporarily unavailable" answers.
    if (code === 503) return { retry: "unavailable", why: description || "unavailable" };
    return { fail: new PublishRefusedError(subject, description || `JetStream error ${code}`) };
  }

  /**
   * Asks JetStream (its meta leader, which stays up while one stream elects a leader) whether any
   * stream captures the subject. Unknown — no answer in time, or no permission to ask — counts as
   * "maybe".
   */
  private async noStreamCaptures(subject: string, deadline: number): Promise<boolean> {
    this.#jsm ??= jetstreamManager(this.nc, { timeout: ATTEMPT_TIMEOUT_MS, checkAPI: false });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), timeLeft(deadline));
    });
    try {
      // Found, or no answer in time: either way a stream may capture it.
      await Promise.race([this.#jsm.then((jsm) => jsm.streams.find(subject)), late]);
      return false;
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return true;
      // No JetStream on the server at all.
      if (error instanceof Error && error.name === "JetStreamNotEnabled") return true;
      return error instanceof RequestError && error.isNoResponders();
    } finally {
      clearTimeout(timer);
    }
  }
}
