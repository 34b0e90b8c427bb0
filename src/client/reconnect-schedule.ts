import { CloseCode } from "../protocol/close-codes.js";
import { Backoff, type BackoffOptions } from "./backoff.js";

/**
 * When the client tries again: the backoff after failures, a short random pause when a draining
 * gateway asks its clients to go elsewhere, at once after a first sequence gap (backing off when
 * gaps repeat), and the one timer that waits.
 */
export class ReconnectSchedule {
  private readonly backoff: Backoff;
  /** Gap reconnects in a row; the first is immediate, further ones back off. */
  private gapStreak = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: BackoffOptions | undefined) {
    this.backoff = new Backoff(options);
  }

  /** A connection got ready, or the application asked to connect: the next failure waits least. */
  reset(): void {
    this.backoff.reset();
  }

  /** The delay after an attempt or connection failed in a way retrying can fix. */
  afterFailure(): number {
    return this.backoff.next();
  }

  /** The delay after a retryable close with `code`. */
  afterClose(code: number): number {
    // A draining gateway spreads its clients itself; a short random pause avoids landing all at once.
    return code === CloseCode.ServiceRestart || code === CloseCode.ReconnectRequested
      ? Math.floor(this.backoff.random() * this.backoff.initialMs)
      : this.backoff.next();
  }

  /** The delay after a sequence gap: reconnecting with `recover` makes the gateway replay it. */
  afterGap(): number {
    return ++this.gapStreak > 1 ? this.backoff.next() : 0;
  }

  /** A message followed its predecessor: gaps no longer count as in a row. */
  inSequence(): void {
    this.gapStreak = 0;
  }

  /** Runs `attempt` after `delayMs`, replacing any wait under way. */
  wait(delayMs: number, attempt: () => void): void {
    this.cancel();
    this.timer = setTimeout(attempt, delayMs);
  }

  cancel(): void {
    clearTimeout(this.timer);
  }
}
