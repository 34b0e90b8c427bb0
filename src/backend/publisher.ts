import {
  ClosedConnectionError,
  DrainingConnectionError,
  type NatsConnection,
  nuid,
} from "@nats-io/nats-core";
import {
  GaveUpError,
  NoStreamCapturesError,
  NotStoredInTimeError,
  StoredPublishError,
  StoredPublisher,
} from "../nats/stored-publish.js";
import type { Subjects } from "../protocol/index.js";
import {
  HeraldBackendError,
  InvalidPayloadError,
  NoStreamError,
  NotConnectedError,
  PublishFailedError,
  PublishTimeoutError,
} from "./errors.js";

/**
 * Long enough to ride out a stream-leader election: 4.1 to 8.7 s after a leader dies, measured on
 * nats-server 2.9 (its election timeout is randomized), plus a retry.
 */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 15_000;

/** A user id (its personal channel), or a shared channel by name. */
export type PublishTarget = string | { readonly user: string } | { readonly channel: string };

/** A message the history stream acknowledged: stored once, and recoverable by clients. */
export interface StoredMessage {
  readonly stored: true;
  readonly subject: string;
  readonly stream: string;
  /** The stream sequence; clients see it as the message frame's `seq`. */
  readonly seq: number;
  /**
   * True when `msgId` was already stored within the stream's duplicate window (2 minutes by
   * default), by an earlier publish with the same id or by an earlier attempt of this one whose
   * acknowledgement was lost: nothing new was stored.
   */
  readonly duplicate: boolean;
}

/**
 * A message handed to NATS with no acknowledgement (`ack: false`, or a backend with history off):
 * nobody confirmed it was stored or delivered, and it can be lost without any error.
 */
export interface SentMessage {
  readonly stored: false;
  readonly subject: string;
}

export type PublishResult = StoredMessage | SentMessage;

export interface PublishOptions {
  /**
   * `false`: fire and forget. One plain NATS publish, no acknowledgement, no retry: the message is
   * lost silently when no stream stores it at that moment (a stream-leader election, a NATS node
   * failing over, the publisher's own connection down). Default: acknowledged, unless the backend
   * was created with `history: false`.
   */
  ack?: boolean;
  /** Idempotency key (`Nats-Msg-Id`): a publish repeated with the same id is stored once. Generated when unset. */
  msgId?: string;
  /** ms to keep trying, retries included, before rejecting (default 15000, longer than an election). */
  timeout?: number;
}

/** The options of an acknowledged publish (`publishStored`). */
export type StoredPublishOptions = Omit<PublishOptions, "ack">;

/**
 * The payload as sent: bytes as they are, everything else as JSON. Gateways deliver a JSON payload
 * as JSON and any other bytes as a UTF-8 string.
 */
export function encodePayload(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new InvalidPayloadError(`payload cannot be JSON-encoded: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (json === undefined) throw new InvalidPayloadError(`payload cannot be JSON-encoded: ${typeof data}`);
  return new TextEncoder().encode(json);
}

/** Publishes to users and shared channels; every name is checked before anything is sent. */
export class Publisher {
  readonly #stored: StoredPublisher;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    /** Whether publishes are acknowledged unless a call says `ack: false`. */
    private readonly acknowledgedByDefault: boolean,
  ) {
    this.#stored = new StoredPublisher(nc);
  }

  /** The NATS subject of a target; throws UnsafeNameError for a name outside the safe alphabet. */
  subjectOf(target: PublishTarget): string {
    if (typeof target === "string") return this.subjects.user(target);
    return "channel" in target ? this.subjects.channel(target.channel) : this.subjects.user(target.user);
  }

  async publish(target: PublishTarget, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    if (options.ack ?? this.acknowledgedByDefault) return this.publishStored(target, data, options);
    const subject = this.subjectOf(target);
    const payload = encodePayload(data);
    this.ensureOpen();
    return this.send(subject, payload);
  }

  async publishStored(
    target: PublishTarget,
    data: unknown,
    options: StoredPublishOptions = {},
  ): Promise<StoredMessage> {
    return this.store(this.subjectOf(target), data, options);
  }

  /**
   * An acknowledged publish on a subject built from checked names by the caller (the inbox's
   * `<prefix>.notify.<user>`), with the same retries and errors as `publishStored`.
   */
  async store(subject: string, data: unknown, options: StoredPublishOptions = {}): Promise<StoredMessage> {
    const payload = encodePayload(data);
    this.ensureOpen();
    const timeout = options.timeout ?? DEFAULT_PUBLISH_TIMEOUT_MS;
    try {
      const msgId = options.msgId ?? nuid.next();
      const ack = await this.#stored.publish(subject, payload, { msgId, timeout, checkStream: true });
      return { stored: true, subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (error) {
      throw this.storedPublishError(error, subject, timeout);
    }
  }

  /**
   * The SDK's error for a publish that was not stored. Every attempt carried one `Nats-Msg-Id`, so
   * an attempt whose acknowledgement was lost did not store it twice, and publishing it again is safe.
   */
  private storedPublishError(error: unknown, subject: string, timeout: number): HeraldBackendError {
    if (error instanceof GaveUpError) {
      const state = this.nc.isDraining() ? "draining" : "closed";
      return new NotConnectedError(`cannot publish to ${subject}: the NATS connection is ${state}`, {
        cause: error,
      });
    }
    if (error instanceof NoStreamCapturesError) {
      // A plain subscriber (a gateway with history off) receives the publish without answering it.
      const detail = error.receivedUnstored
        ? "live subscribers may have received it all the same, unacknowledged"
        : undefined;
      return new NoStreamError(subject, { cause: error, detail });
    }
    if (error instanceof NotStoredInTimeError) {
      if (error.lastFailure === "no_leader") {
        return new NoStreamError(subject, {
          cause: error,
          detail: `or none answered within ${timeout} ms, as in a stream-leader election that long`,
        });
      }
      const why =
        error.lastFailure === "unavailable" ? "NATS or JetStream was unavailable" : "no acknowledgement";
      return new PublishTimeoutError(
        `${why}: ${subject} was not stored within ${timeout} ms; publishing again with the same msgId is safe`,
        { cause: error },
      );
    }
    const reason = error instanceof StoredPublishError ? error.reason : String(error);
    return new PublishFailedError(`publish to ${subject} failed: ${reason}`, { cause: error });
  }

  /** One plain NATS publish: written to the connection's buffer, confirmed by nobody. */
  private send(subject: string, payload: Uint8Array): SentMessage {
    try {
      this.nc.publish(subject, payload);
    } catch (error) {
      if (error instanceof HeraldBackendError) throw error;
      if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) {
        throw new NotConnectedError(`cannot publish to ${subject}: ${error.message}`, { cause: error });
      }
      const message = error instanceof Error ? error.message : String(error);
      throw new PublishFailedError(`cannot publish to ${subject}: ${message}`, { cause: error });
    }
    return { stored: false, subject };
  }

  private ensureOpen(): void {
    if (this.nc.isClosed()) throw new NotConnectedError("the NATS connection is closed");
    if (this.nc.isDraining()) throw new NotConnectedError("the NATS connection is draining");
  }
}
