import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import type { OutboundFrame } from "../delivery/outbound-frame.js";
import type { ClientSocket, ClientSocketEvents } from "./client-socket.js";
import { closeReason } from "./close-reason.js";

/** A peer that never answers the close handshake is not waited for longer. */
const CLOSE_GRACE_MS = 5000;
const EVENTS = Symbol("herald.events");
type Carrier = WebSocket & { [EVENTS]?: ClientSocketEvents };

/**
 * A client connection over `ws`. A frame's shared, pre-framed bytes go straight to the TCP socket
 * under `ws` — one write per socket for a fan-out — and `ws`, which writes only control frames
 * here, writes whole frames synchronously, so the two never interleave. To a socket that
 * negotiated permessage-deflate (`--compression true`) they go deflated, as the frame deflated them
 * once for every such socket: no socket keeps a deflate stream, and none waits in a deflate queue.
 */
export class WsClientSocket implements ClientSocket {
  /** The client took permessage-deflate, which the gateway offers without server context takeover. */
  private readonly deflate: boolean;

  constructor(
    private readonly ws: WebSocket,
    /** The upgraded TCP socket under `ws`. */
    private readonly tcp: Duplex,
  ) {
    this.deflate = ws.extensions.includes("permessage-deflate");
  }

  /**
   * Hands the socket's events to `events`, through module-level listeners that find it on the
   * socket (no closure per connection) and that no exception passes.
   */
  listen(events: ClientSocketEvents): void {
    (this.ws as Carrier)[EVENTS] = events;
    this.ws.on("message", onMessage);
    this.ws.on("ping", onPing);
    this.ws.on("pong", onPong);
    this.ws.on("close", onClose);
    this.ws.on("error", ignoreError);
  }

  /** What the TCP socket holds unsent to the peer: every frame written for it and not yet taken. */
  get bufferedBytes(): number {
    return this.tcp.writableLength;
  }

  send(frame: OutboundFrame, taken?: () => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return taken?.();
    this.tcp.write(this.deflate ? frame.deflatedWire : frame.wire, taken && (() => taken()));
  }

  batch(write: () => void): void {
    this.tcp.cork();
    try {
      write();
    } finally {
      this.tcp.uncork();
    }
  }

  close(code: number, reason: string): void {
    this.ws.close(code, closeReason(reason));
    setTimeout(terminate, CLOSE_GRACE_MS, this.ws).unref();
  }
}

function onMessage(this: Carrier, data: Buffer, isBinary: boolean): void {
  const events = this[EVENTS];
  try {
    events?.onFrame(data, isBinary);
  } catch (err) {
    events?.internalError(err, "handling a frame");
  }
}

/** Answered here, not by `ws` (autoPong is off): only while the client is within its frame budget. */
function onPing(this: Carrier, data: Buffer): void {
  const events = this[EVENTS];
  try {
    if (events?.onControlFrame() && this.readyState === this.OPEN) this.pong(data);
  } catch (err) {
    events?.internalError(err, "answering a ping");
  }
}

function onPong(this: Carrier): void {
  const events = this[EVENTS];
  try {
    events?.onControlFrame();
  } catch (err) {
    events?.internalError(err, "handling a pong");
  }
}

function onClose(this: Carrier, code: number): void {
  const events = this[EVENTS];
  try {
    events?.onClose(code);
  } catch (err) {
    events?.internalError(err, "closing");
  }
}

/** A socket error ends in `close`, which is what the session acts on. */
function ignoreError(): void {}

function terminate(ws: WebSocket): void {
  ws.terminate();
}
