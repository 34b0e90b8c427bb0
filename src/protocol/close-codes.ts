/**
 * Every WebSocket close code a client of Herald can see, with whether reconnecting can help. One
 * entry per code drives `CloseCode`, the client's retry decision and the table in docs/protocol.md.
 * Standard codes where one fits, 4xxx (HTTP-like) for Herald's own.
 */
interface CloseEntry {
  readonly code: number;
  /** Whether reconnecting (with the same or a fresh token) is expected to succeed. */
  readonly retry: boolean;
}

export const CLOSE_CATALOGUE = {
  Normal: { code: 1000, retry: false },
  GoingAway: { code: 1001, retry: true },
  ConnectionLost: { code: 1006, retry: true },
  PolicyViolation: { code: 1008, retry: true },
  MessageTooBig: { code: 1009, retry: false },
  InternalError: { code: 1011, retry: true },
  ServiceRestart: { code: 1012, retry: true },
  TryAgainLater: { code: 1013, retry: true },
  InvalidFrame: { code: 4400, retry: false },
  AuthRefused: { code: 4401, retry: false },
  NotAuthenticated: { code: 4403, retry: false },
  AuthTimeout: { code: 4408, retry: true },
  AlreadyAuthenticated: { code: 4409, retry: false },
  TokenExpired: { code: 4410, retry: true },
  HeartbeatTimeout: { code: 4411, retry: true },
  SlowConsumer: { code: 4429, retry: true },
  Disconnected: { code: 4430, retry: false },
  ReconnectRequested: { code: 4431, retry: true },
} as const satisfies Record<string, CloseEntry>;

export type CloseCodeName = keyof typeof CLOSE_CATALOGUE;
export type CloseCodeValue = (typeof CLOSE_CATALOGUE)[CloseCodeName]["code"];

/**
 * For the docs: what the closes that come without an error frame mean. Apart from the codes, so the
 * browser client carries only those.
 */
export const CLOSE_MEANINGS: Readonly<Partial<Record<CloseCodeName, string>>> = {
  Normal: "a normal close (the client closed, or the client SDK's `close()`)",
  GoingAway: "the gateway closed without a drain",
  ConnectionLost: "the connection dropped (no close frame)",
  MessageTooBig: "a frame over `--max-frame-bytes` (closed by the WebSocket layer, no error frame)",
};

/** Close codes by name: `CloseCode.AuthRefused` is 4401. */
export const CloseCode = Object.fromEntries(
  Object.entries(CLOSE_CATALOGUE).map(([name, entry]) => [name, entry.code]),
) as { readonly [K in CloseCodeName]: (typeof CLOSE_CATALOGUE)[K]["code"] };

const RETRYABLE = new Set<number>(
  Object.values(CLOSE_CATALOGUE as Record<string, CloseEntry>)
    .filter((entry) => entry.retry)
    .map((entry) => entry.code),
);

/** Whether reconnecting after this close code can succeed; unknown codes are not retried. */
export function isRetryableClose(code: number): boolean {
  return RETRYABLE.has(code);
}
