import { HeraldClientError } from "./errors.js";

/** Silence allowed on top of two heartbeat intervals before the connection is declared dead. */
const HEARTBEAT_GRACE_MS = 1000;

/**
 * One timer for the current connection attempt: the connect timeout until `ready`, then the silence
 * timeout, re-armed by every frame from the gateway. Either one ends in `onTimeout` with the error
 * to report.
 */
export class Watchdog {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly onTimeout: (error: HeraldClientError) => void) {}

  /** Not `ready` within `ms`. */
  connecting(ms: number): void {
    this.arm(ms, () => new HeraldClientError("CONNECT_TIMEOUT", `not ready within ${ms} ms`));
  }

  /** A frame arrived: the gateway is alive for another two heartbeat intervals. */
  alive(heartbeatMs: number): void {
    const silenceMs = 2 * heartbeatMs + HEARTBEAT_GRACE_MS;
    this.arm(
      silenceMs,
      () => new HeraldClientError("GATEWAY_SILENT", `no frame from the gateway for ${silenceMs} ms`),
    );
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  private arm(ms: number, error: () => HeraldClientError): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimeout(error()), ms);
  }
}
