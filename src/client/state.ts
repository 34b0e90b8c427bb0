/**
 * Where a client is:
 * - `connecting`: getting a token and opening the WebSocket;
 * - `authenticating`: the `auth` frame is sent, waiting for `ready`;
 * - `ready`: authenticated, messages flow;
 * - `reconnecting`: the connection ended; waiting for the backoff delay before the next attempt;
 * - `closed`: stopped, by `close()` or after a failure that retrying cannot fix (e.g. a refused token).
 */
export type ClientState = "connecting" | "authenticating" | "ready" | "reconnecting" | "closed";
