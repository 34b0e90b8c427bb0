import type { ConnectResult } from "./commands.js";
import { monotonicNs } from "./payload.js";

/**
 * Counts one connect command's clients as each becomes ready or fails, and resolves `result` once
 * all of them have, or when `timeoutMs` is up (the rest then count as failed with "timeout").
 * `failures` is shared with whoever counts failures after the connect, too.
 */
export class ConnectTally {
  readonly result: Promise<ConnectResult>;
  private ready = 0;
  private failed = 0;
  private lastReadyNs = 0;
  private done = false;
  private resolve!: (result: ConnectResult) => void;
  private readonly timer: NodeJS.Timeout;
  private readonly startedNs = monotonicNs();

  constructor(
    private readonly count: number,
    timeoutMs: number,
    private readonly failures: Map<string, number>,
  ) {
    this.result = new Promise((resolve) => {
      this.resolve = resolve;
    });
    this.timer = setTimeout(() => this.finish(), timeoutMs);
    if (count === 0) this.finish();
  }

  /** Whether every client has been counted (or the time is up). */
  get finished(): boolean {
    return this.done;
  }

  markReady(): void {
    this.ready++;
    this.lastReadyNs = monotonicNs();
    this.settle();
  }

  markFailed(reason: string): void {
    this.failed++;
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
    this.settle();
  }

  private settle(): void {
    if (this.ready + this.failed === this.count) this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    const pending = this.count - this.ready - this.failed;
    if (pending > 0) this.failures.set("timeout", (this.failures.get("timeout") ?? 0) + pending);
    this.resolve({
      ready: this.ready,
      failed: this.failed + pending,
      failures: Object.fromEntries(this.failures),
      startedNs: this.startedNs,
      lastReadyNs: this.lastReadyNs,
    });
  }
}
