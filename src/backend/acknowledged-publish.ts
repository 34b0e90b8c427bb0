import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
} from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  InvalidArgumentError,
  type NatsConnection,
  nuid,
  RequestError,
  TimeoutError,
} from "@nats-io/nats-core";
import {
  type HeraldBackendError,
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
/** One attempt waits at most this long for its acknowledgement before it is sent again. */
const ATTEMPT_TIMEOUT_MS = 2000;
const FIRST_RETRY_DELAY_MS = 50;
const MAX_RETRY_DELAY_MS = 500;

/** Why one attempt failed, and whether another attempt (same Nats-Msg-Id) can succeed. */
type Failure =
  | { readonly retry: true; readonly kind: "timeout" | "no_leader" | "unavailable"; readonly error: unknown }
  | { readonly retry: false; readonly error: HeraldBackendError };

/**
 * A JetStream publish that either ends stored exactly once or rejects. Every attempt carries the same
 * `Nats-Msg-Id`, so an attempt whose acknowledgement was lost cannot store the message twice; an
 * attempt that nobody answered (the stream has no leader while it elects one, or the connection is
 * moving to another server) is sent again with backoff until `timeout` ms have passed.
 */
export class AcknowledgedPublisher {
  readonly #js: JetStreamClient;
  #jsm: Promise<JetStreamManager> | undefined;

  constructor(private readonly nc: NatsConnection) {
    this.#js = jetstream(nc);
  }

  async publish(
    subject: string,
    payload: Uint8Array,
    msgId = nuid.next(),
    timeout = DEFAULT_PUBLISH_TIMEOUT_MS,
  ): Promise<PubAck> {
    const deadline = Date.now() + timeout;
    let last: Failure | undefined;
    for (let attempt = 0; ; attempt++) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        return await this.#js.publish(subject, payload, {
          msgID: msgId,
          timeout: Math.min(left, ATTEMPT_TIMEOUT_MS),
        });
      } catch (error) {
        last = await this.classify(error, subject, deadline);
        if (!last.retry) throw last.error;
      }
      const pause = Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** attempt, deadline - Date.now());
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
    }
    throw this.gaveUp(last, subject, timeout);
  }

  private async classify(error: unknown, subject: string, deadline: number): Promise<Failure> {
    if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) {
      return {
        retry: false,
        error: new NotConnectedError(`cannot publish to ${subject}: ${error.message}`, { cause: error }),
      };
    }
    if (error instanceof TimeoutError) {
      // A plain subscriber (a gateway with history off) receives the publish without answering it.
      return (await this.noStreamCaptures(subject, deadline))
        ? {
            retry: false,
            error: new NoStreamError(subject, {
              cause: error,
              detail: "live subscribers may have received it all the same, unacknowledged",
            }),
          }
        : { retry: true, kind: "timeout", error };
    }
    // Nobody answered the publish: either no stream captures the subject, or its stream has no
    // leader right now (an election). Only the first is final.
    if (isNoResponders(error)) {
      return (await this.noStreamCaptures(subject, deadline))
        ? { retry: false, error: new NoStreamError(subject, { cause: error }) }
        : { retry: true, kind: "no_leader", error };
    }
    // The connection dropped under the request; the client is reconnecting.
    if (error instanceof RequestError) return { retry: true, kind: "unavailable", error };
    // JetStream's own "temporarily unavailable" answers.
    if (isStatus(error, 503)) return { retry: true, kind: "unavailable", error };
    if (error instanceof InvalidArgumentError) {
      return {
        retry: false,
        error: new PublishFailedError(`cannot publish to ${subject}: ${error.message}`, { cause: error }),
      };
    }
    const message = error instanceof Error ? error.message : String(error);
    return {
      retry: false,
      error: new PublishFailedError(`publish to ${subject} failed: ${message}`, { cause: error }),
    };
  }

  /**
   * Asks JetStream (its meta leader, which stays up while one stream elects a leader) whether any
   * stream captures the subject. Unknown — no answer by the deadline, or no permission to ask —
   * counts as "maybe".
   */
  private async noStreamCaptures(subject: string, deadline: number): Promise<boolean> {
    this.#jsm ??= jetstreamManager(this.nc, { timeout: ATTEMPT_TIMEOUT_MS, checkAPI: false });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), Math.max(0, deadline - Date.now()));
    });
    try {
      // Found, or no answer in time: either way a stream may capture it.
      await Promise.race([this.#jsm.then((jsm) => jsm.streams.find(subject)), late]);
      return false;
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return true;
      return isNoResponders(error); // no JetStream on the server at all
    } finally {
      clearTimeout(timer);
    }
  }

  private gaveUp(last: Failure | undefined, subject: string, timeout: number): HeraldBackendError {
    if (last?.retry && last.kind === "no_leader") {
      return new NoStreamError(subject, {
        cause: last.error,
        detail: `or none answered within ${timeout} ms, as in a stream-leader election that long`,
      });
    }
    const why =
      last?.retry && last.kind === "unavailable" ? "NATS or JetStream was unavailable" : "no acknowledgement";
    return new PublishTimeoutError(
      `${why}: ${subject} was not stored within ${timeout} ms; publishing again with the same msgId is safe`,
      { cause: last?.error },
    );
  }
}

function isNoResponders(error: unknown): boolean {
  if (error instanceof Error && error.name === "JetStreamNotEnabled") return true;
  return error instanceof RequestError && error.isNoResponders();
}

function isStatus(error: unknown, status: number): boolean {
  return error instanceof Error && "status" in error && (error as { status: unknown }).status === status;
}
