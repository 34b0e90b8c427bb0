import WebSocket from "ws";
import { monotonicNs } from "../lib/payload.js";
import { shortError } from "./herald.js";

/**
 * The fastest a churning client starts a cycle (subscribe, then unsubscribe): two frames per cycle
 * at most 8 times a second stay below the gateway's default frame rate (20/s), pongs included.
 */
export const CYCLE_MIN_MS = 125;

/** Channels each client cycles through: no other client holds them, so each join is a new NATS subscription. */
export const CHANNELS_PER_CLIENT = 4;

export interface ChurningEvents {
  onReady(): void;
  /** A cycle is complete: `subscribed` came `subscribeUs` after the subscribe, then `unsubscribed`. */
  onCycle(subscribeUs: number): void;
  /** A `subscribe_error` with its code; the client goes on with its next cycle. */
  onRefused(code: string): void;
  /** The connection failed or closed; `reason` is short and groupable. */
  onGone(reason: string): void;
}

type Step = "connecting" | "idle" | "subscribing" | "unsubscribing" | "gone";

/**
 * A Herald client that, once started, subscribes to a channel, waits for `subscribed`, unsubscribes,
 * waits for `unsubscribed`, and starts over with its next channel, at most every `CYCLE_MIN_MS`.
 */
export class ChurningClient {
  private readonly ws: WebSocket;
  private step: Step = "connecting";
  private running = false;
  private cycle = 0;
  private channel = "";
  private subscribeNs = 0;
  private subscribeUs = 0;
  private cycleStartMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly user: string,
    url: string,
    localAddress: string,
    private readonly events: ChurningEvents,
  ) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
    this.ws.on("open", () => this.ws.send(JSON.stringify({ type: "auth", token: user })));
    this.ws.on("message", (data: Buffer) => this.receive(data));
    this.ws.on("close", (code) => this.gone(`close ${code}`));
    this.ws.on("error", (err) => this.gone(shortError(err)));
  }

  /** Cycles from now on. */
  start(): void {
    this.running = true;
    if (this.step === "idle") this.schedule();
  }

  /** No new cycle: the one under way ends with its unsubscribe, so nothing stays subscribed. */
  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  /** Neither subscribing nor subscribed. */
  get settled(): boolean {
    return this.step === "idle" || this.step === "gone" || this.step === "connecting";
  }

  terminate(): void {
    this.stop();
    this.step = "gone";
    this.ws.terminate();
  }

  private receive(data: Buffer): void {
    let frame: { type?: unknown; code?: unknown; channel?: unknown; reason?: unknown };
    try {
      frame = JSON.parse(data.toString()) as typeof frame;
    } catch {
      return this.fail("invalid JSON from server");
    }
    switch (frame.type) {
      case "ready":
        if (this.step !== "connecting") return;
        this.step = "idle";
        this.events.onReady();
        if (this.running) this.schedule();
        return;
      case "ping":
        this.ws.send('{"type":"pong"}');
        return;
      case "subscribed":
        if (this.step !== "subscribing" || frame.channel !== this.channel) return;
        this.subscribeUs = Math.max(1, Math.round((monotonicNs() - this.subscribeNs) / 1000));
        this.step = "unsubscribing";
        this.ws.send(JSON.stringify({ type: "unsubscribe", channel: this.channel }));
        return;
      case "unsubscribed":
        if (this.step !== "unsubscribing" || frame.reason !== undefined) return;
        this.step = "idle";
        this.events.onCycle(this.subscribeUs);
        if (this.running) this.schedule();
        return;
      case "subscribe_error":
        if (this.step !== "subscribing") return;
        this.step = "idle";
        this.events.onRefused(String(frame.code));
        if (this.running) this.schedule();
        return;
      case "error":
        this.gone(`error ${String(frame.code)}`); // the close that follows adds nothing
        return;
      default:
        return;
    }
  }

  /** The next cycle, no sooner than `CYCLE_MIN_MS` after the last one began. */
  private schedule(): void {
    const wait = this.cycleStartMs + CYCLE_MIN_MS - Date.now();
    if (wait > 0) this.timer = setTimeout(() => this.subscribe(), wait);
    else this.subscribe();
  }

  private subscribe(): void {
    if (!this.running || this.step !== "idle") return;
    this.cycleStartMs = Date.now();
    this.channel = `channel.${this.user}-${this.cycle++ % CHANNELS_PER_CLIENT}`;
    this.step = "subscribing";
    this.subscribeNs = monotonicNs();
    this.ws.send(JSON.stringify({ type: "subscribe", channel: this.channel }));
  }

  private fail(reason: string): void {
    this.gone(reason);
    this.ws.terminate();
  }

  private gone(reason: string): void {
    if (this.step === "gone") return;
    this.step = "gone";
    this.stop();
    this.events.onGone(reason);
  }
}
