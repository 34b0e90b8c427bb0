import * as v from "valibot";
import WebSocket from "ws";
import {
  CLOSE_CATALOGUE,
  type MessageFrame,
  type ReadyFrame,
  ServerFrame,
} from "../../src/protocol/index.js";
import { monotonicNs } from "../lib/payload.js";
import { shortError } from "./herald.js";

/** The payload of a numbered, acknowledged publish: `{"r":run,"u":user,"i":index,"t":ns,"p":"…"}`. */
const Numbered = v.object({ u: v.number(), i: v.number() });
/** Every publisher's payload carries its run and publish time (bench/lib/payload.ts). */
const Stamped = v.object({ r: v.number(), t: v.number() });
/**
 * The client SDK's default `connectTimeoutMs`: an attempt without `ready` by then is given up, and
 * after a drop tried again (a connection can hang unanswered: a gateway worker that dies while the
 * cluster's primary hands it a new connection takes that connection with it).
 */
const CONNECT_TIMEOUT_MS = 15_000;
/** Attempts to reconnect after a drop, the first included (the SDK tries on; a bound ends the run). */
const RECONNECT_ATTEMPTS = 5;
const RETRYABLE_CLOSES = new Set<number>(
  Object.values(CLOSE_CATALOGUE)
    .filter((close) => close.retry)
    .map((close) => close.code),
);

/** Whether the SDK reconnects after this close code (the protocol's catalogue says). */
function retryableClose(code: number): boolean {
  return RETRYABLE_CLOSES.has(code);
}

/** What one recovering client saw; the load generator sums these up. */
export interface RecoveringTally {
  /** Distinct indices of its user's numbered messages received. */
  readonly indices: Set<number>;
  /** Numbered messages received again (same index), and by the stream's own count (seq at or below the last). */
  duplicated: number;
  duplicatedBySeq: number;
  /** Messages whose `prev` was after the last sequence seen on the channel. */
  gapsByPrev: number;
  /** Numbered messages of another user (must be 0). */
  misrouted: number;
}

export interface RecoveringEvents {
  /** First `ready` (from the gateway that will die). */
  onFirstReady(): void;
  /** The socket dropped after the first `ready`: the client is reconnecting with `recover`. */
  onDropped(): void;
  /** `ready` after reconnecting with `recover`, with whether the gateway could recover. */
  onRecoveredReady(recovered: boolean): void;
  /** A stamped notification: its run and publish time, for the latency histogram. */
  onNotification(run: number, sentNs: number): void;
  /** The connection failed or closed when it was not expected to; `reason` is short and groupable. */
  onFailure(reason: string): void;
}

/**
 * A Herald client that remembers `epoch` and the last `seq` per channel (starting from `ready`'s
 * `positions`), and when its socket drops, reconnects at once to `reconnectUrl` with `recover`
 * (and, as the SDK does, again after a backoff when an attempt fails in a way retrying can help:
 * `BACKEND_UNAVAILABLE`, a socket error, no `ready` within the connect timeout).
 * It counts its user's numbered messages by index (lost, duplicated) and notes when the last
 * replayed message arrived: a message at or below the new `ready`'s position was stored before the
 * reconnect, so it can only come from the replay.
 */
export class RecoveringClient {
  readonly tally: RecoveringTally = {
    indices: new Set(),
    duplicated: 0,
    duplicatedBySeq: 0,
    gapsByPrev: 0,
    misrouted: 0,
  };
  epoch: string | undefined;
  private readonly last = new Map<string, number>();
  /** After the reconnect: positions of the new `ready`, its time, and the last replayed message's. */
  private target: Record<string, number> | undefined;
  readyNs = 0;
  recoveredNs = 0;
  replayed = 0;
  recovered: boolean | undefined;
  /** Attempts to reconnect after the drop (more than 1: one failed and was tried again). */
  reconnectAttempts = 0;
  private ws: WebSocket;
  private connectTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The code of the error frame the current socket got, reported with its close. */
  private lastError: string | undefined;
  private reconnecting = false;
  private closing = false;

  constructor(
    private readonly user: string,
    private readonly userIndex: number,
    private readonly reconnectUrl: string,
    private readonly localAddress: string,
    url: string,
    private readonly events: RecoveringEvents,
  ) {
    this.ws = this.open(url);
  }

  terminate(): void {
    this.closing = true;
    clearTimeout(this.connectTimer);
    clearTimeout(this.retryTimer);
    this.ws.terminate();
  }

  private open(url: string): WebSocket {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      localAddress: this.localAddress,
    });
    ws.on("open", () => {
      const recover = this.reconnecting
        ? { epoch: this.epoch, since: Object.fromEntries(this.last) }
        : undefined;
      ws.send(JSON.stringify({ type: "auth", token: this.user, ...(recover ? { recover } : {}) }));
    });
    ws.on("message", (data: Buffer) => this.onFrame(data));
    ws.on("close", (code) =>
      this.onGone(ws, this.lastError ? `error ${this.lastError}` : `close ${code}`, retryableClose(code)),
    );
    // A socket that could not connect or broke: a browser sees 1006, which is retried.
    ws.on("error", (err) => this.onGone(ws, shortError(err), true));
    this.lastError = undefined;
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => this.onConnectTimeout(ws), CONNECT_TIMEOUT_MS);
    return ws;
  }

  private onConnectTimeout(ws: WebSocket): void {
    if (ws !== this.ws || this.closing || this.retryTimer) return;
    this.onGone(ws, "connect timeout", true);
    ws.terminate();
  }

  /**
   * The socket closed or failed. The first time after `ready`: straight back with `recover`. While
   * reconnecting: tried again after the SDK's backoff if retrying can help (a retryable close code,
   * a socket error, the connect timeout); otherwise, or after the last attempt, a failure.
   */
  private onGone(ws: WebSocket, reason: string, retryable: boolean): void {
    if (ws !== this.ws || this.closing || this.retryTimer) return;
    clearTimeout(this.connectTimer);
    if (!this.reconnecting && this.epoch !== undefined) {
      this.reconnecting = true;
      this.reconnectAttempts = 1;
      this.ws = this.open(this.reconnectUrl);
      this.events.onDropped();
      return;
    }
    if (this.reconnecting && this.readyNs === 0 && retryable && this.reconnectAttempts < RECONNECT_ATTEMPTS) {
      // The SDK's backoff with full jitter: random(0, 500 ms x 2^n) before attempt n + 1.
      const delayMs = Math.random() * 500 * 2 ** this.reconnectAttempts;
      this.reconnectAttempts++;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (!this.closing) this.ws = this.open(this.reconnectUrl);
      }, delayMs);
      return;
    }
    this.closing = true;
    this.events.onFailure(this.reconnecting ? `after reconnect: ${reason}` : reason);
  }

  private onFrame(data: Buffer): void {
    let frame: ServerFrame;
    try {
      frame = v.parse(ServerFrame, JSON.parse(data.toString()));
    } catch {
      this.closing = true;
      this.ws.terminate();
      this.events.onFailure("invalid frame from server");
      return;
    }
    switch (frame.type) {
      case "ready":
        return this.onReady(frame);
      case "message":
        return this.onMessage(frame);
      case "ping":
        this.ws.send('{"type":"pong"}');
        return;
      case "error":
        // The close follows; it tells whether to try again.
        this.lastError = frame.code;
        return;
      default:
        return;
    }
  }

  private onReady(frame: ReadyFrame): void {
    clearTimeout(this.connectTimer);
    if (!this.reconnecting) {
      this.epoch = frame.epoch;
      for (const [channel, seq] of Object.entries(frame.positions ?? {})) this.last.set(channel, seq);
      this.events.onFirstReady();
      return;
    }
    this.readyNs = monotonicNs();
    this.recovered = frame.recovered === true;
    this.target = frame.positions ?? {};
    if (!this.recovered) {
      // Nothing is replayed: the missed messages show up as lost.
      this.last.clear();
      for (const [channel, seq] of Object.entries(this.target)) this.last.set(channel, seq);
    }
    this.recoveredNs = this.readyNs;
    this.events.onRecoveredReady(this.recovered);
  }

  private onMessage(frame: MessageFrame): void {
    const { seq, prev, channel } = frame;
    const last = this.last.get(channel) ?? 0;
    if (seq !== undefined) {
      if (seq <= last) this.tally.duplicatedBySeq++;
      else {
        if (prev !== undefined && prev > last) this.tally.gapsByPrev++;
        this.last.set(channel, seq);
      }
      const position = this.target?.[channel];
      if (position !== undefined && seq <= position) {
        this.replayed++;
        this.recoveredNs = monotonicNs();
      }
    }
    const stamped = v.safeParse(Stamped, frame.data);
    if (stamped.success) this.events.onNotification(stamped.output.r, stamped.output.t);
    const numbered = v.safeParse(Numbered, frame.data);
    if (!numbered.success) return;
    if (numbered.output.u !== this.userIndex) {
      this.tally.misrouted++;
      return;
    }
    if (this.tally.indices.has(numbered.output.i)) this.tally.duplicated++;
    else this.tally.indices.add(numbered.output.i);
  }
}
