import { newStreamId } from "./stream-table.js";

interface Waiting {
  /** The `auth` frame the ticket stands for, as the client sent it. */
  readonly frame: Buffer;
  /** performance.now() past which the ticket is worth nothing. */
  readonly expires: number;
}

/** Auth frames waiting for their GET, all tickets together, at most: 16 MiB. */
export const MAX_TICKET_BYTES = 16 * 1024 * 1024;

/**
 * One-time tickets for server-sent events: `EventSource` can only GET, and a token in a URL ends up
 * in proxy logs, so the client POSTs its `auth` frame, gets a ticket for it, and opens the stream
 * with the ticket. A ticket is 128 random bits, is taken by the first GET that names it, and
 * expires after `ttlMs`. It is never logged: nothing here or in the request handling writes it.
 */
export class SseTickets {
  private readonly waiting = new Map<string, Waiting>();
  private bytes = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly gatewayId: string,
    readonly ttlMs: number,
    private readonly maxBytes = MAX_TICKET_BYTES,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(100, ttlMs));
    this.sweeper.unref();
  }

  get size(): number {
    return this.waiting.size;
  }

  /** A ticket for `frame`, or undefined when the tickets already waiting hold too many bytes. */
  issue(frame: Buffer): string | undefined {
    if (this.bytes + frame.length > this.maxBytes) this.sweep();
    if (this.bytes + frame.length > this.maxBytes) return undefined;
    const ticket = newStreamId(this.gatewayId);
    this.waiting.set(ticket, { frame, expires: performance.now() + this.ttlMs });
    this.bytes += frame.length;
    return ticket;
  }

  /** The frame a ticket stands for, once: undefined when it is unknown, taken or expired. */
  take(ticket: string): Buffer | undefined {
    const found = this.waiting.get(ticket);
    if (!found) return undefined;
    this.remove(ticket, found);
    return found.expires > performance.now() ? found.frame : undefined;
  }

  close(): void {
    clearInterval(this.sweeper);
    this.waiting.clear();
    this.bytes = 0;
  }

  private sweep(): void {
    const now = performance.now();
    for (const [ticket, found] of this.waiting) if (found.expires <= now) this.remove(ticket, found);
  }

  private remove(ticket: string, found: Waiting): void {
    this.waiting.delete(ticket);
    this.bytes -= found.frame.length;
  }
}
