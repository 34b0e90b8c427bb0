import { HeraldClientError } from "./errors.js";

/**
 * Handler types are declared through a method so that their parameter is checked bivariantly: both
 * the DOM's WebSocket and the `ws` package's event types then fit, though each is richer than what
 * the client reads.
 */
type Handler<E> = { bivariance(event: E): void }["bivariance"];

/** The part of the WebSocket API the client uses; the browser's WebSocket and `ws` both provide it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** WebSocket.OPEN, spelled out because `ws` and the DOM expose it in different places. */
export const OPEN = 1;

/** The injected constructor, else the platform's; a clear error when there is neither (Node < 22). */
export function resolveWebSocket(injected: WebSocketConstructor | undefined): WebSocketConstructor {
  const found = injected ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof found !== "function") {
    throw new HeraldClientError(
      "NO_WEBSOCKET",
      'no WebSocket implementation: this runtime has no global WebSocket; pass one as the `WebSocket` option, e.g. `import WebSocket from "ws"; connect({ url, getToken, WebSocket })`',
      { retryable: false },
    );
  }
  return found;
}

/** What a socket tells its client. */
export interface SocketEvents {
  opened(): void;
  received(data: unknown): void;
  closed(code: number, reason: string): void;
}

/**
 * Opens a WebSocket whose events reach `events` only while `isCurrent(socket)`: a socket the client
 * has moved on from (a new attempt, a close) is not heard from again. Throws what the constructor
 * throws (e.g. on a malformed URL).
 */
export function openSocket(
  Impl: WebSocketConstructor,
  url: string,
  isCurrent: (socket: WebSocketLike) => boolean,
  events: SocketEvents,
): WebSocketLike {
  const socket = new Impl(url);
  socket.onopen = () => {
    if (isCurrent(socket)) events.opened();
  };
  socket.onmessage = (event) => {
    if (isCurrent(socket)) events.received(event.data);
  };
  socket.onclose = (event) => {
    if (isCurrent(socket)) events.closed(event.code, event.reason);
  };
  // A close event always follows an error event and carries the code; the error itself says less.
  socket.onerror = () => {};
  return socket;
}
