import { ClosedConnectionError, DrainingConnectionError, type NatsConnection } from "@nats-io/nats-core";
import type { Subjects } from "../protocol/index.js";
import { AcknowledgedPublisher } from "./acknowledged-publish.js";
import { HeraldBackendError, InvalidPayloadError, NotConnectedError, PublishFailedError } from "./errors.js";

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
  readonly #acknowledged: AcknowledgedPublisher;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    /** Whether publishes are acknowledged unless a call says `ack: false`. */
    private readonly acknowledgedByDefault: boolean,
  ) {
    this.#acknowledged = new AcknowledgedPublisher(nc);
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
    const subject = this.subjectOf(target);
    const payload = encodePayload(data);
    this.ensureOpen();
    const ack = await this.#acknowledged.publish(subject, payload, options.msgId, options.timeout);
    return { stored: true, subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
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
