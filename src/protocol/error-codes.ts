import { CloseCode, type CloseCodeValue } from "./close-codes.js";

/**
 * Codes of `error` frames, each with the close code that follows it. An error frame is always sent
 * before the close when the socket can still carry it.
 */
export const ErrorCode = {
  INVALID_JSON: CloseCode.InvalidFrame,
  INVALID_FRAME: CloseCode.InvalidFrame,
  UNKNOWN_TYPE: CloseCode.InvalidFrame,
  BINARY_FRAME: CloseCode.InvalidFrame,
  NOT_AUTHENTICATED: CloseCode.NotAuthenticated,
  ALREADY_AUTHENTICATED: CloseCode.AlreadyAuthenticated,
  AUTH_TIMEOUT: CloseCode.AuthTimeout,
  AUTH_REFUSED: CloseCode.AuthRefused,
  REFRESH_REFUSED: CloseCode.AuthRefused,
  BACKEND_UNAVAILABLE: CloseCode.TryAgainLater,
  BACKEND_INVALID_REPLY: CloseCode.TryAgainLater,
  OVERLOADED: CloseCode.TryAgainLater,
  TOKEN_EXPIRED: CloseCode.TokenExpired,
  HEARTBEAT_TIMEOUT: CloseCode.HeartbeatTimeout,
  SLOW_CONSUMER: CloseCode.SlowConsumer,
  RATE_LIMITED: CloseCode.PolicyViolation,
  DRAINING: CloseCode.ServiceRestart,
  INTERNAL: CloseCode.InternalError,
} as const satisfies Record<string, CloseCodeValue>;

export type ErrorCodeName = keyof typeof ErrorCode;
