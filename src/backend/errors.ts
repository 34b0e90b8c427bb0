import { UnsafeNameError } from "../protocol/index.js";

/**
 * Stable codes of every error the backend SDK throws or reports. Code against `error.code`, never
 * against messages: messages may be reworded, codes are part of the API.
 */
export type HeraldBackendErrorCode =
  /** A user id, channel name or prefix outside the safe alphabet (see UnsafeNameError). */
  | "UNSAFE_NAME"
  /** Options given to HeraldBackend are invalid. */
  | "INVALID_OPTIONS"
  /** A channel that is not `channel.<name>` with a safe name, where one is needed. */
  | "INVALID_CHANNEL"
  /** NATS could not be reached, or the connection is closed or draining. */
  | "NOT_CONNECTED"
  /**
   * No JetStream stream stored an acknowledged publish: none captures the subject (gateways run with
   * history off, or none has started yet), or none answered before the timeout.
   */
  | "NO_STREAM"
  /** The payload cannot be encoded (undefined, a function, circular, a BigInt). */
  | "INVALID_PAYLOAD"
  /** NATS or JetStream rejected the publish (payload over max_payload, stream limits, permissions). */
  | "PUBLISH_FAILED"
  /** JetStream did not acknowledge in time, retries included; publishing again with the same msgId is safe. */
  | "TIMEOUT"
  /** Reported to `onError`: a gateway request (auth, subscribe, rpc) that is not valid JSON or breaks its schema. */
  | "INVALID_REQUEST"
  /** Reported to `onError`: a handler returned a decision that is not a valid reply. */
  | "INVALID_DECISION"
  /** Reported to `onError`: a handler (auth, subscribe, rpc) threw or rejected. */
  | "HANDLER_FAILED"
  /** Reported to `onError`: an rpc handler returned a value JSON cannot encode (a BigInt, a cycle). */
  | "INVALID_RESULT"
  /** Reported to `onError`: the reply could not be sent. */
  | "REPLY_FAILED"
  /** Reported to `onError`: the server ended a responder's subscription (e.g. a permissions violation), or an events pull failed. */
  | "SUBSCRIPTION_FAILED"
  /** presence() or online(): no gateway with `--presence true` answered, or its answer was invalid. */
  | "PRESENCE_UNAVAILABLE"
  /** unread() or mark(): no gateway with `--inbox true` answered, it could not reach JetStream, or its answer was invalid. */
  | "INBOX_UNAVAILABLE";

export class HeraldBackendError extends Error {
  override readonly name: string = "HeraldBackendError";
  constructor(
    readonly code: HeraldBackendErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class NotConnectedError extends HeraldBackendError {
  override readonly name = "NotConnectedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("NOT_CONNECTED", message, options);
  }
}

export class NoStreamError extends HeraldBackendError {
  override readonly name = "NoStreamError";
  /** More about what happened (e.g. that live subscribers may have received it), or undefined. */
  readonly detail: string | undefined;
  constructor(
    readonly subject: string,
    options?: { cause?: unknown; detail?: string },
  ) {
    super(
      "NO_STREAM",
      `no JetStream stream captures ${subject}${options?.detail ? ` (${options.detail})` : ""}: an ` +
        "acknowledged publish needs the gateways' history stream, which a gateway with history on " +
        "creates; for gateways run with --history false, create the backend with { history: false }",
      options,
    );
    this.detail = options?.detail;
  }
}

export class PublishFailedError extends HeraldBackendError {
  override readonly name = "PublishFailedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("PUBLISH_FAILED", message, options);
  }
}

export class PublishTimeoutError extends HeraldBackendError {
  override readonly name = "PublishTimeoutError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("TIMEOUT", message, options);
  }
}

export class InvalidPayloadError extends HeraldBackendError {
  override readonly name = "InvalidPayloadError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_PAYLOAD", message, options);
  }
}

/**
 * Unsafe names are refused with the protocol's own UnsafeNameError (code `UNSAFE_NAME`), the same
 * class the gateway uses, so one `instanceof` check works everywhere.
 */
export { UnsafeNameError };

/** True for every error the SDK throws on purpose; each has a stable `code`. */
export function isHeraldBackendError(error: unknown): error is HeraldBackendError | UnsafeNameError {
  return error instanceof HeraldBackendError || error instanceof UnsafeNameError;
}
