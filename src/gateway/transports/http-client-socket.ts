import type { ServerResponse } from "node:http";
import type { ClientSocket, ClientSocketEvents } from "../connection/client-socket.js";
import { closeReason } from "../connection/close-reason.js";
import type { OutboundFrame } from "../delivery/outbound-frame.js";
import type { StreamEncoding } from "./stream-encoding.js";

/** A client that does not take the stream's last bytes is not waited for longer. */
const CLOSE_GRACE_MS = 5000;
const SOCKET = Symbol("herald.httpSocket");
type Carrier = ServerResponse & { [SOCKET]?: HttpClientSocket };

/** Where a stream reports that it ended: the table of streams, which forgets it. */
export interface StreamOwner {
  forget(socket: HttpClientSocket): void;
}

/**
 * A client connection over one HTTP response (HTTP-streaming or server-sent events): frames go down
 * the response, frames from the client arrive in POSTs naming `id` and reach `events` through the
 * table of streams. The response's `writableLength` is what the client has not taken yet, so a
 * client that stops reading is cut as on a WebSocket.
 */
export class HttpClientSocket implements ClientSocket {
  private events: ClientSocketEvents | undefined;
  /** The close code the gateway sent; undefined until it closed the stream. */
  private closedWith: number | undefined;

  constructor(
    /** The secret id upstream POSTs name this stream by. */
    readonly id: string,
    private readonly res: ServerResponse,
    readonly encoding: StreamEncoding,
    private readonly owner: StreamOwner,
  ) {}

  /**
   * Hands the stream's events to `events`, through a module-level listener that finds this socket
   * on the response (no closure per connection).
   */
  listen(events: ClientSocketEvents): void {
    this.events = events;
    (this.res as Carrier)[SOCKET] = this;
    this.res.on("close", onResponseClose);
    this.res.on("error", ignoreError);
  }

  get isOpen(): boolean {
    return this.closedWith === undefined && !this.res.destroyed;
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  send(frame: OutboundFrame, taken?: () => void): void {
    if (!this.isOpen) return taken?.();
    this.res.write(this.encoding.frame(frame), taken && (() => taken()));
  }

  /** The response corks its socket for each chunk until the next tick; corked here, for `write` as a whole. */
  batch(write: () => void): void {
    this.res.cork();
    try {
      write();
    } finally {
      this.res.uncork();
    }
  }

  close(code: number, reason: string): void {
    if (!this.isOpen) return;
    this.closedWith = code;
    this.res.end(this.encoding.closing(code, closeReason(reason)));
    setTimeout(destroy, CLOSE_GRACE_MS, this.res).unref();
  }

  /** Frames from an upstream POST, one per line, in order; stops once the session closed. */
  receive(frames: readonly Buffer[], maxFrameBytes: number): void {
    const events = this.events;
    if (!events) return;
    try {
      // A POST without frames still costs its sender a frame of its budget.
      if (frames.length === 0) events.onControlFrame();
      for (const frame of frames) {
        if (!this.isOpen) return;
        // As a WebSocket closes with 1009 on a frame over the limit: no error frame, no reading it.
        if (frame.length > maxFrameBytes) return this.cut(1009, "frame too large");
        events.onFrame(frame, false);
      }
    } catch (err) {
      events.internalError(err, "handling a frame");
    }
  }

  /** The transport itself ends the stream: the session hears of it as of a close from the client. */
  private cut(code: number, reason: string): void {
    this.close(code, reason);
    this.events?.onClose(code);
  }

  /** The response ended or its connection dropped. */
  ended(): void {
    this.owner.forget(this);
    const events = this.events;
    if (!events) return;
    try {
      events.onClose(this.closedWith ?? 1006);
    } catch (err) {
      events.internalError(err, "closing");
    }
  }
}

function onResponseClose(this: Carrier): void {
  this[SOCKET]?.ended();
}

/** A response error ends in `close`, which is what the session acts on. */
function ignoreError(): void {}

function destroy(res: ServerResponse): void {
  res.destroy();
}
