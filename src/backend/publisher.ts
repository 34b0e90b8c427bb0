import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  InvalidArgumentError,
  type NatsConnection,
  TimeoutError,
} from "@nats-io/nats-core";
import type { Subjects } from "../protocol/index.js";
import {
  HeraldBackendError,
  InvalidPayloadError,
  NoStreamError,
  NotConnectedError,
  PublishFailedError,
  PublishTimeoutError,
} from "./errors.js";

/** A user id (its personal channel), or a shared channel by name. */
export type PublishTarget = string | { readonly user: string } | { readonly channel: string };

/** JetStream's acknowledgement of a stored publish. */
export interface StoredMessage {
  readonly subject: string;
  readonly stream: string;
  /** The stream sequence; clients see it as the message frame's `seq`. */
  readonly seq: number;
  /** True when `msgId` was already stored within the stream's duplicate window (nothing new stored). */
  readonly duplicate: boolean;
}

export interface StoredPublishOptions {
  /** Idempotency key (`Nats-Msg-Id`): a retried publish with the same id is stored once. */
  msgId?: string;
  /** ms to wait for the acknowledgement (default 5000). */
  timeout?: number;
}

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
  #js: JetStreamClient | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
  ) {}

  /** The NATS subject of a target; throws UnsafeNameError for a name outside the safe alphabet. */
  subjectOf(target: PublishTarget): string {
    if (typeof target === "string") return this.subjects.user(target);
    return "channel" in target ? this.subjects.channel(target.channel) : this.subjects.user(target.user);
  }

  /** Core NATS publish (fire and forget); returns the subject. */
  publish(target: PublishTarget, data: unknown): string {
    const subject = this.subjectOf(target);
    const payload = encodePayload(data);
    this.ensureOpen();
    try {
      this.nc.publish(subject, payload);
    } catch (error) {
      throw publishError(error, subject);
    }
    return subject;
  }

  /** JetStream publish: resolves once the history stream has stored the message. */
  async publishStored(
    target: PublishTarget,
    data: unknown,
    options: StoredPublishOptions = {},
  ): Promise<StoredMessage> {
    const subject = this.subjectOf(target);
    const payload = encodePayload(data);
    this.ensureOpen();
    this.#js ??= jetstream(this.nc);
    try {
      const ack = await this.#js.publish(subject, payload, {
        timeout: options.timeout ?? 5000,
        ...(options.msgId !== undefined ? { msgID: options.msgId } : {}),
      });
      return { subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (error) {
      throw publishError(error, subject);
    }
  }

  private ensureOpen(): void {
    if (this.nc.isClosed()) throw new NotConnectedError("the NATS connection is closed");
    if (this.nc.isDraining()) throw new NotConnectedError("the NATS connection is draining");
  }
}

function publishError(error: unknown, subject: string): HeraldBackendError {
  if (error instanceof HeraldBackendError) return error;
  // A JetStream publish no stream listens on gets "no responders", reported as JetStreamNotEnabled.
  if (error instanceof Error && error.name === "JetStreamNotEnabled")
    return new NoStreamError(subject, { cause: error });
  if (error instanceof TimeoutError) {
    return new PublishTimeoutError(`no JetStream acknowledgement for ${subject} in time`, { cause: error });
  }
  if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) {
    return new NotConnectedError(`cannot publish to ${subject}: ${error.message}`, { cause: error });
  }
  if (error instanceof InvalidArgumentError) {
    return new PublishFailedError(`cannot publish to ${subject}: ${error.message}`, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new PublishFailedError(`publish to ${subject} failed: ${message}`, { cause: error });
}
