import type { JoinFrame, LeaveFrame, MessageFrame, ReadyFrame } from "../protocol/server-frames.js";
import type { BackoffOptions } from "./backoff.js";
import { HeraldClientError } from "./errors.js";
import type { EventSourceConstructor } from "./http-transports.js";
import type { ClientState } from "./state.js";
import type { TransportName } from "./transport-picker.js";
import type { WebSocketConstructor } from "./websocket.js";

export interface ConnectOptions {
  /** The gateway's WebSocket URL, e.g. `wss://notify.example.com/ws`. */
  url: string;
  /** Returns a token for the `auth` frame; called before every (re)connect and on every refresh. */
  getToken: () => string | Promise<string>;
  /** WebSocket implementation; the global `WebSocket` by default (pass `ws`'s in Node 20). */
  WebSocket?: WebSocketConstructor;
  /**
   * How to reach the gateway, in order of preference; default `["websocket", "http-stream", "sse"]`.
   * When a WebSocket cannot open (a proxy blocks it), the client falls back to the next, remembers
   * what worked for the page's life, and tries the WebSocket again later. The `<script>` bundle has
   * the HTTP transports only with its fallbacks bundle loaded.
   */
  transports?: TransportName[];
  /** EventSource implementation for `sse`; the global `EventSource` by default. */
  EventSource?: EventSourceConstructor;
  /** ms a fallback serves before the WebSocket is tried again (default 5 minutes). */
  retryFirstMs?: number;
  /** Reconnect delays: exponential with full jitter. */
  backoff?: BackoffOptions;
  /** Ask the gateway to replay missed messages on reconnect (when history is on). Default true. */
  recover?: boolean;
  /** Give up on an attempt that is not `ready` after this many ms (token, open and auth). Default 15 000. */
  connectTimeoutMs?: number;
}

export type HeraldEvents = {
  state: ClientState;
  /** The gateway's `ready` frame: user, channels, heartbeat, epoch, recovered. */
  ready: ReadyFrame;
  /** Every message, on every channel, in order, without duplicates. */
  message: MessageFrame;
  error: HeraldClientError;
  /** After a reconnect, messages may have been missed (recovery incomplete or history off): refetch. */
  resync: ReadyFrame;
  /** A user's first connection arrived in a channel this connection has presence on (`ready.presence`). */
  join: JoinFrame;
  /** A user's last connection left such a channel. */
  leave: LeaveFrame;
};

/** Throws on options that cannot make a connection (a JavaScript caller may pass anything). */
export function checkOptions(options: ConnectOptions): void {
  if (typeof options?.url !== "string" || typeof options.getToken !== "function") {
    throw new HeraldClientError(
      "INVALID_OPTIONS",
      "connect needs { url: string, getToken: () => string | Promise<string> }",
      { retryable: false },
    );
  }
}
