import type { ConnectOptions } from "./connect-options.js";
import type { OpenTransport } from "./websocket.js";

/** The ways to reach a gateway: a WebSocket, or where WebSockets are blocked, HTTP-streaming or SSE. */
export type TransportName = "websocket" | "http-stream" | "sse";

/** Which transport each connection attempt uses, learning from how attempts end. */
export interface TransportPicker {
  /** The transport of the current (or next) attempt. */
  readonly current: TransportName;
  open: OpenTransport;
  /** The attempt got `ready`. */
  ready(): void;
  /** The attempt ended before `ready`; `heard`: a frame came from the gateway on it. */
  failed(heard: boolean): void;
  /** The client closed. */
  stop(): void;
}

export interface PickerContext {
  /** `url`, `transports`, `EventSource`, `retryFirstMs`. */
  readonly options: ConnectOptions;
  readonly webSocket: OpenTransport;
  /** The first transport can be used again: end the current connection and reconnect over it. */
  switchBack(): void;
}

let withFallbacks: ((context: PickerContext) => TransportPicker) | undefined;

/**
 * Lets clients created from now on fall back to HTTP-streaming and SSE. The `herald/client` module
 * does this itself; the `<script>` bundle leaves it to the fallbacks bundle, which calls it.
 */
export function useFallbacks(make: (context: PickerContext) => TransportPicker): void {
  withFallbacks = make;
}

/** The picker for a new client: WebSocket alone unless the fallbacks are loaded. */
export function pickTransport(context: PickerContext): TransportPicker {
  return (
    withFallbacks?.(context) ?? {
      current: "websocket",
      open: context.webSocket,
      ready() {},
      failed() {},
      stop() {},
    }
  );
}
