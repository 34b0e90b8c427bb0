import type { OutboundFrame } from "../delivery/outbound-frame.js";

/**
 * What a session does to its client's connection, and nothing more: so a session can be driven in
 * a unit test without a network, and the transport (`ws` today) stays behind this seam.
 */
export interface ClientSocket {
  /** Queues a frame; `taken` runs once the network has it, or at once when the socket is closed. */
  send(frame: OutboundFrame, taken?: () => void): void;
  /**
   * Runs `write`, whose frames go to the network together, in one write: a connect's frames cost
   * one system call, not one each. Frames sent later are not held back.
   */
  batch(write: () => void): void;
  /** Bytes written for the client and not yet taken by the network. */
  readonly bufferedBytes: number;
  /** Closes with a code and a short fixed reason; a peer that never answers is cut off later. */
  close(code: number, reason: string): void;
}

/** What a client socket reports to the session it carries. */
export interface ClientSocketEvents {
  onFrame(data: Buffer, isBinary: boolean): void;
  /** A ping or pong control frame: true while the client is within its frame budget (a ping is then answered). */
  onControlFrame(): boolean;
  /** `code`: the close code received, 1006 when the connection dropped without one. */
  onClose(code?: number): void;
  /** An exception escaped the session's handling of an event: that connection ends with 1011. */
  internalError(err: unknown, during: string): void;
}
