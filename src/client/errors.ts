import type { ErrorCodeName } from "../protocol/error-codes.js";
import type { SubscribeErrorCode } from "../protocol/subscribe-errors.js";

/**
 * A failure's code: the gateway's (docs/protocol.md: error frames, and `subscribe_error` on a
 * subscription), the client's own, or, from a newer gateway, a code this client does not know yet
 * (still a string, so it reaches the application).
 */
export type HeraldErrorCode = ErrorCodeName | SubscribeErrorCode | ClientErrorCode | (string & {});

/**
 * Every failure the client reports, on the `error` event or thrown by `connect()`.
 *
 * `code` is the gateway's error-frame code (e.g. `AUTH_REFUSED`, see docs/protocol.md) when the
 * gateway sent one, otherwise one of the client's own codes below. `closeCode` is the WebSocket close
 * code when the failure ended a connection. `retryable` says whether the client reconnects by itself:
 * when false the client has stopped (state `closed`) until the application calls `connect()` again.
 */
export class HeraldClientError extends Error {
  override readonly name: string = "HeraldClientError";
  readonly code: HeraldErrorCode;
  readonly closeCode: number | undefined;
  readonly retryable: boolean;
  /** The backend's own refusal code, when the backend refused a token or a subscribe. */
  readonly reason: string | undefined;

  constructor(
    code: HeraldErrorCode,
    message: string,
    details: { closeCode?: number; retryable?: boolean; reason?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.closeCode = details.closeCode;
    this.retryable = details.retryable ?? true;
    this.reason = details.reason;
  }
}

/** Codes the client itself uses, next to the gateway's error-frame codes. */
export type ClientErrorCode =
  /** No WebSocket implementation: pass one as the `WebSocket` option (thrown by `connect`). */
  | "NO_WEBSOCKET"
  /** `connect` was called with a missing `url` or `getToken` (thrown by `connect`). */
  | "INVALID_OPTIONS"
  /** The WebSocket constructor threw, e.g. on a malformed URL. Not retried. */
  | "CONNECT_FAILED"
  /** The connection dropped or could not be opened (close code 1006 or none). */
  | "CONNECTION_LOST"
  /** The gateway closed the connection without an error frame; see `closeCode`. */
  | "CONNECTION_CLOSED"
  /** No `ready` within the connect timeout. */
  | "CONNECT_TIMEOUT"
  /** No frame from the gateway within two heartbeat intervals: the connection is dead. */
  | "GATEWAY_SILENT"
  /** `getToken` threw, rejected or returned something other than a non-empty string. */
  | "TOKEN_UNAVAILABLE"
  /** The gateway sent a frame the client does not understand; it was ignored. */
  | "INVALID_SERVER_FRAME"
  /** A request (`presence`) made while the client is not `ready`. */
  | "NOT_READY";
