import { HeraldClientError } from "./errors.js";

/**
 * How the client reaches a gateway, whatever carries the frames: the client holds one per connection
 * attempt and knows nothing else of it. A WebSocket is the only kind so far.
 */
export interface Transport {
  /** Sends one frame's text; false, and the text is dropped, when the transport is not open. */
  send(text: string): boolean;
  /** Ends the transport; a transport the client closed is not heard from again. */
  close(code: number, reason: string): void;
}

/** What a transport tells its client. */
export interface TransportEvents {
  opened(): void;
  received(data: unknown): void;
  closed(code: number, reason: string): void;
}

/** Opens a transport to `url`; throws when it cannot even start (e.g. a malformed URL). */
export type OpenTransport = (url: string, events: TransportEvents) => Transport;

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
const OPEN = 1;

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

/** Transports over WebSockets made by `Impl`. */
export function webSocketTransport(Impl: WebSocketConstructor): OpenTransport {
  return (url, events) => {
    const socket = new Impl(url);
    let current = true;
    socket.onopen = () => {
      if (current) events.opened();
    };
    socket.onmessage = (event) => {
      if (current) events.received(event.data);
    };
    socket.onclose = (event) => {
      if (current) events.closed(event.code, event.reason);
    };
    // A close event always follows an error event and carries the code; the error itself says less.
    socket.onerror = () => {};
    return {
      send(text) {
        if (socket.readyState !== OPEN) return false;
        socket.send(text);
        return true;
      },
      close(code, reason) {
        current = false;
        try {
          socket.close(code, reason);
        } catch {
          // already closing: nothing left to do
        }
      },
    };
  };
}
