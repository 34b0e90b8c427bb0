/** What the heartbeat needs of a session. */
export interface Beating {
  /** Last time the client sent anything. */
  readonly lastSeen: number;
  readonly isReady: boolean;
  /** The heartbeat slot this session sits in (owned by Heartbeat). */
  heartbeatSlot: number;
  ping(): void;
  fail(code: "HEARTBEAT_TIMEOUT", message: string): void;
}

const TICK_MS = 100;

/**
 * Pings every ready session once per interval and cuts off those silent past the timeout. Sessions
 * are dealt round-robin into slots and one slot is visited per tick, so the pings are spread evenly
 * over the interval: a gateway with 20,000 sockets never stops to write 20,000 pings at once.
 */
export class Heartbeat<T extends Beating> {
  private readonly slots: Set<T>[];
  private cursor = 0;
  private dealt = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly timeoutMs: number,
    intervalMs: number,
  ) {
    const count = Math.max(1, Math.min(1000, Math.round(intervalMs / TICK_MS)));
    this.slots = Array.from({ length: count }, () => new Set<T>());
    this.timer = setInterval(() => this.tick(), intervalMs / count);
    this.timer.unref();
  }

  add(session: T): void {
    session.heartbeatSlot = this.dealt++ % this.slots.length;
    this.slots[session.heartbeatSlot]?.add(session);
  }

  remove(session: T): void {
    this.slots[session.heartbeatSlot]?.delete(session);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const slot = this.slots[this.cursor];
    this.cursor = (this.cursor + 1) % this.slots.length;
    if (!slot || slot.size === 0) return;
    const silentSince = Date.now() - this.timeoutMs;
    for (const session of slot) {
      if (!session.isReady) continue;
      if (session.lastSeen < silentSince)
        session.fail("HEARTBEAT_TIMEOUT", "no frame from the client in time");
      else session.ping();
    }
  }
}
