/** What the token clock tells its session. */
export interface TokenExpiryEvents {
  /** `refreshBefore` ms ahead of expiry (or at once when less is left): send `token_expiring`. */
  askRefresh(expiresAt: number): void;
  /** The token expired without a refresh. */
  expired(): void;
  /** An exception in one of the callbacks above. */
  internalError(err: unknown, during: string): void;
}

/** setTimeout's limit; a longer wait is taken in steps. */
const MAX_TIMER_MS = 2_000_000_000;

/**
 * One connection's token clock: asks for a refresh ahead of expiry and ends the connection at it.
 * It also owns the refresh rule: a `refresh` answers a `token_expiring`, one at a time, so a client
 * cannot make the backend check tokens it never asked for.
 */
export class TokenExpiry {
  private timer: NodeJS.Timeout | undefined;
  private expiresAt: number | undefined;
  /** `asked` once `token_expiring` went out; one refresh may then be in flight. */
  private refreshing: "no" | "asked" | "in_flight" = "no";

  constructor(
    private readonly refreshBefore: number,
    private readonly events: TokenExpiryEvents,
  ) {}

  /** Starts (or restarts, after a refresh) the clock for a token valid until `expiresAt`. */
  start(expiresAt: number | undefined): void {
    this.stop();
    this.expiresAt = expiresAt;
    if (expiresAt === undefined) return;
    const now = Date.now();
    if (now >= expiresAt) return this.events.expired();
    const askAt = expiresAt - this.refreshBefore;
    if (now < askAt) this.timer = setTimeout(onAskTime, Math.min(askAt - now, MAX_TIMER_MS), this);
    else this.ask();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Whether a `refresh` from the client is one the gateway asked for; if so, it is now in flight. */
  takeRefresh(): boolean {
    if (this.refreshing !== "asked") return false;
    this.refreshing = "in_flight";
    return true;
  }

  /** The in-flight refresh was not accepted: the client may try again until expiry. */
  refreshFailed(): void {
    this.refreshing = "asked";
  }

  /** The in-flight refresh was accepted: the clock starts over for the new token. */
  refreshed(expiresAt: number | undefined): void {
    this.refreshing = "no";
    this.start(expiresAt);
  }

  /** @internal the timer's callback */
  ask(): void {
    const expiresAt = this.expiresAt;
    if (expiresAt === undefined) return;
    const left = expiresAt - Date.now();
    if (left > this.refreshBefore) return this.start(expiresAt); // the timer was capped
    if (this.refreshing === "no") this.refreshing = "asked";
    this.events.askRefresh(expiresAt);
    this.timer = setTimeout(onExpiry, Math.max(0, left), this);
  }

  /** @internal the timer's callback */
  expire(): void {
    this.events.expired();
  }

  /** @internal */
  failed(err: unknown, during: string): void {
    this.events.internalError(err, during);
  }
}

// Timer callbacks take the clock as an argument (no closure per connection), and are guarded.
function onAskTime(clock: TokenExpiry): void {
  try {
    clock.ask();
  } catch (err) {
    clock.failed(err, "asking for a refresh");
  }
}

function onExpiry(clock: TokenExpiry): void {
  try {
    clock.expire();
  } catch (err) {
    clock.failed(err, "expiring the token");
  }
}
