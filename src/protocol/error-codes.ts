import { CLOSE_CATALOGUE, type CloseCodeName } from "./close-codes.js";

/**
 * Every `error` frame code: the close that follows it, what it means, and what a client should do.
 * An error frame is always sent before the close when the socket can still carry it. This table
 * drives `ErrorCode`, the error frame's schema, the client's typed `error.code` and the table in
 * docs/protocol.md (`npm run docs:tables`; a test checks it is current).
 */
interface ErrorEntry {
  readonly close: CloseCodeName;
  readonly meaning: string;
  /** How to retry, when the close code allows it; why not, when it does not. */
  readonly advice: string;
}

export const ERROR_CATALOGUE = {
  INVALID_JSON: { close: "InvalidFrame", meaning: "the frame is not JSON", advice: "no (client bug)" },
  INVALID_FRAME: {
    close: "InvalidFrame",
    meaning: "not an object with a string `type`, or fields of the wrong type or out of range",
    advice: "no",
  },
  UNKNOWN_TYPE: { close: "InvalidFrame", meaning: "a `type` the protocol does not have", advice: "no" },
  BINARY_FRAME: { close: "InvalidFrame", meaning: "a binary frame", advice: "no" },
  NOT_AUTHENTICATED: {
    close: "NotAuthenticated",
    meaning: "a frame other than `auth` before `ready`",
    advice: "no",
  },
  ALREADY_AUTHENTICATED: { close: "AlreadyAuthenticated", meaning: "a second `auth`", advice: "no" },
  AUTH_TIMEOUT: { close: "AuthTimeout", meaning: "no `auth` within `--auth-timeout`", advice: "yes" },
  AUTH_REFUSED: {
    close: "AuthRefused",
    meaning:
      "the backend refused the token (`reason` holds its code), or accepted it with an `expiresAt` that is not in the future (`reason: token_expired`)",
    advice: "no: get a new token first",
  },
  REFRESH_REFUSED: {
    close: "AuthRefused",
    meaning:
      "the backend refused a refresh token, it names another user (`reason: user_changed`), or its `expiresAt` is not in the future (`reason: token_expired`)",
    advice: "no",
  },
  BACKEND_UNAVAILABLE: {
    close: "TryAgainLater",
    meaning:
      "no backend answered (no responders, or no reply within `--auth-request-timeout`), the backend cannot decide now (a refusal with `temporary: true`, or `Nats-Service-Error` headers), or NATS is down",
    advice: "yes, with backoff",
  },
  BACKEND_INVALID_REPLY: {
    close: "TryAgainLater",
    meaning: "the backend's reply broke the schema (bad JSON, missing fields, unsafe user id)",
    advice: "yes, with backoff",
  },
  OVERLOADED: {
    close: "TryAgainLater",
    meaning: "more auth requests waiting than `--auth-queue`",
    advice: "yes, with backoff",
  },
  TOKEN_EXPIRED: {
    close: "TokenExpired",
    meaning: "`expiresAt` passed without a successful refresh",
    advice: "yes, with a new token",
  },
  HEARTBEAT_TIMEOUT: {
    close: "HeartbeatTimeout",
    meaning: "nothing from the client within `--heartbeat-timeout`",
    advice: "yes",
  },
  RATE_LIMITED: {
    close: "PolicyViolation",
    meaning:
      "the client passed its frame rate (`--client-frame-rate`, `--client-frame-burst`; WebSocket pings and pongs count like JSON frames), or sent a `refresh` that no `token_expiring` asked for, or a second one while one is being checked",
    advice: "yes, with backoff",
  },
  SLOW_CONSUMER: {
    close: "SlowConsumer",
    meaning:
      "the socket's outbound buffer passed `--max-buffered-bytes`, or during a replay more than that of live messages waited or the socket took nothing for `--heartbeat-timeout` (see [Recovery](#recovery)); the error and close frames queue behind that backlog, so a client that has stopped reading usually sees 1006 instead",
    advice: "yes, and recover",
  },
  DRAINING: {
    close: "ServiceRestart",
    meaning: "the gateway is shutting down (SIGTERM); closes are spread over `--drain-window`",
    advice: "yes, soon",
  },
  INTERRUPTED: {
    close: "ServiceRestart",
    meaning:
      "the gateway's NATS connection was interrupted while a message of one of the connection's channels was stored: it may have missed it live (see [Recovery](#recovery)); or, with connection events or presence on, for longer than `--liveness-timeout`, so that the other gateways declared it dead (see [Presence](#presence-and-connection-events))",
    advice: "yes, at once, and recover",
  },
  DISCONNECTED: {
    close: "Disconnected",
    meaning:
      "the backend disconnected every connection of this user (`<prefix>.control.disconnect`: sign out everywhere, a ban); `message` quotes its `reason`",
    advice: "no: sign in again first",
  },
  RECONNECT_REQUESTED: {
    close: "ReconnectRequested",
    meaning:
      "the backend disconnected every connection of this user with `reconnect: true` (to pick up a new token or new rights); `message` quotes its `reason`",
    advice: "yes, at once, with a fresh token",
  },
  INTERNAL: {
    close: "InternalError",
    meaning:
      "an unexpected error in the gateway's handling of this connection: only this connection closes, and the gateway logs it with the connection id",
    advice: "yes",
  },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCodeName = keyof typeof ERROR_CATALOGUE;

/** The close code that follows each error code: `ErrorCode.AUTH_REFUSED` is 4401. */
export const ErrorCode = Object.fromEntries(
  Object.entries(ERROR_CATALOGUE).map(([name, entry]) => [name, CLOSE_CATALOGUE[entry.close].code]),
) as {
  readonly [K in ErrorCodeName]: (typeof CLOSE_CATALOGUE)[(typeof ERROR_CATALOGUE)[K]["close"]]["code"];
};

export const ERROR_CODE_NAMES = Object.keys(ERROR_CATALOGUE) as ErrorCodeName[];
