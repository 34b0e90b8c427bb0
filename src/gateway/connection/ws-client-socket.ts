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
  /** The turn it was last written to in (see `turn`). */
  private writtenInTurn = -1;
  /** Written to more than once in this turn: the writes after the first wait for the turn's end. */
  private corkedForTurn = false;

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
    const now = currentTurn();
    if (this.writtenInTurn !== now) this.writtenInTurn = now;
    else if (!this.corkedForTurn) {
      this.corkedForTurn = true;
      this.tcp.cork();
      corkedThisTurn.push(this);
    }
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

  /** The end of the turn: what was written in it goes out. */
  uncork(): void {
    this.corkedForTurn = false;
    this.tcp.uncork();
  }
}

/**
 * The messages of one read from NATS are all handled in one turn (the client library parses the
 * whole read at once). When the gateway falls behind, a read holds several: a socket's first frame
 * of the turn leaves at once, as ever, and the ones after it wait for the turn's end to leave
 * together, in one system call instead of one each — as nats-server's own write loop does. A turn
 * with one frame per socket (a unicast, a broadcast that keeps up) writes as before.
 */
let turn = 0;
let turnEndQueued = false;
/** Sockets written to more than once in this turn, corked until its end. */
const corkedThisTurn: WsClientSocket[] = [];

function currentTurn(): number {
  if (!turnEndQueued) {
    turnEndQueued = true;
    queueMicrotask(endTurn);
  }
  return turn;
}

function endTurn(): void {
  turnEndQueued = false;
  turn++;
  // Taken out first: a write during an uncork belongs to the next turn and its list.
  for (const socket of corkedThisTurn.splice(0)) {
    try {
      socket.uncork();
    } catch {
      // a socket torn down meanwhile: its close is handled where it is seen
    }
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
