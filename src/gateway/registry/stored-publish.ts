import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type PubAck } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  RequestError,
  TimeoutError,
} from "@nats-io/nats-core";

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
  readonly onRetry?: (error: unknown) => void;
}

/**
 * A JetStream publish that ends stored exactly once or says why not: retried with backoff through
 * a stream-leader election, a NATS reconnect or a lost acknowledgement, with one `Nats-Msg-Id` for
 * every attempt (the server checks it before the expected revision, so a retry of a stored write
 * is answered as a duplicate, not as a conflict).
 */
export async function storedPublish(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array,
  options: StoredPublishOptions,
): Promise<PubAck> {
  const expect =
    options.expectRevision === undefined ? undefined : { lastSubjectSequence: options.expectRevision };
  for (let attempt = 0; ; attempt++) {
    try {
      return await js.publish(subject, data, {
        msgID: options.msgId,
        timeout: ATTEMPT_TIMEOUT_MS,
        ...(expect ? { expect } : {}),
      });
    } catch (error) {
      if (isWrongRevision(error)) throw new WrongRevisionError(`${subject}: ${(error as Error).message}`);
      if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError)
        throw new GaveUpError(`${subject}: the NATS connection is closed`, { cause: error });
      if (!isTransient(error)) throw error;
      options.onRetry?.(error);
    }
    if (!options.keepTrying()) throw new GaveUpError(`${subject}: publishing was abandoned`);
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt)),
    );
    if (!options.keepTrying()) throw new GaveUpError(`${subject}: publishing was abandoned`);
  }
}

function isWrongRevision(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** No answer, no stream leader (an election), a connection moving, or JetStream's "try later". */
function isTransient(error: unknown): boolean {
  if (error instanceof TimeoutError || error instanceof RequestError) return true;
  if (error instanceof Error && error.name === "JetStreamNotEnabled") return true;
  return error instanceof JetStreamApiError && error.status === 503;
}
