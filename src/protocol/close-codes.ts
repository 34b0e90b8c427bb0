/**
 * WebSocket close codes the gateway uses. Standard codes where one fits, 4xxx (HTTP-like) for
 * Herald's own. `retry` tells a client whether reconnecting can help; docs/protocol.md lists them.
 */
export const CloseCode = {
  /** The client or the gateway closed the session normally. */
  Normal: 1000,
  /** The gateway is shutting down without a drain window. */
  GoingAway: 1001,
  /** A frame was larger than the gateway's max frame size (closed by the WebSocket layer). */
  MessageTooBig: 1009,
  /** The client broke a per-connection limit: too many frames, or a refresh nobody asked for. */
  PolicyViolation: 1008,
  /** An unexpected gateway error. */
  InternalError: 1011,
  /** The gateway is draining (deploy, scale-in): reconnect, to another gateway if there is one. */
  ServiceRestart: 1012,
  /** No backend answered the auth request, or the gateway is overloaded: retry with backoff. */
  TryAgainLater: 1013,
  /** Malformed JSON, unknown frame type, wrong field types, or a binary frame. */
  InvalidFrame: 4400,
  /** The backend refused the token (or a refreshed one). Do not retry with the same token. */
  AuthRefused: 4401,
  /** A frame other than `auth` arrived before authentication. */
  NotAuthenticated: 4403,
  /** No `auth` frame within the auth timeout. */
  AuthTimeout: 4408,
  /** A second `auth` frame on an authenticated connection. */
  AlreadyAuthenticated: 4409,
  /** The token expired and was not refreshed in time. Reconnect with a new token. */
  TokenExpired: 4410,
  /** The client sent nothing (not even `pong`) within the heartbeat timeout. */
  HeartbeatTimeout: 4411,
  /** The client read too slowly: its outbound buffer passed the limit. Reconnect and recover. */
  SlowConsumer: 4429,
} as const;

export type CloseCodeName = keyof typeof CloseCode;
export type CloseCodeValue = (typeof CloseCode)[CloseCodeName];

/** Close codes after which reconnecting (with the same or a fresh token) is expected to succeed. */
const RETRYABLE = new Set<number>([
  CloseCode.GoingAway,
  CloseCode.PolicyViolation,
  CloseCode.InternalError,
  CloseCode.ServiceRestart,
  CloseCode.TryAgainLater,
  CloseCode.AuthTimeout,
  CloseCode.TokenExpired,
  CloseCode.HeartbeatTimeout,
  CloseCode.SlowConsumer,
  1006, // abnormal closure: the network dropped
]);

export function isRetryableClose(code: number): boolean {
  return RETRYABLE.has(code);
}
