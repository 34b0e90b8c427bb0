import type { AuthRequest, ErrorCodeName } from "../../protocol/index.js";
import { OutboundFrame } from "../delivery/outbound-frame.js";
import type { GatewayContext } from "../gateway-context.js";

/** The connection whose token is refreshed (the session). */
export interface RefreshingConnection {
  readonly id: string;
  /** `ready` went out: frames may be sent. */
  readonly isReady: boolean;
  authRequest(kind: AuthRequest["kind"], token: string): AuthRequest;
  send(frame: OutboundFrame): void;
  fail(code: ErrorCodeName, message: string, reason?: string): void;
  internalError(err: unknown, during: string): void;
}

/**
 * A ready connection's token from `ready` on: `token_expiring` ahead of expiry (the `TokenExpiry` clock
 * below), the `refresh` exchange with the backend, and the end of the connection at
 * expiry when no refresh came.
 */
export class TokenRefresh implements TokenExpiryEvents {
  private readonly clock: TokenExpiry;

  constructor(
    private readonly connection: RefreshingConnection,
    private readonly ctx: Pick<GatewayContext, "auth" | "config" | "logger">,
  ) {
    this.clock = new TokenExpiry(ctx.config.refreshBefore, this);
  }

  /** Starts the clock for the token `ready` carried. */
  start(expiresAt: number | undefined): void {
    this.clock.start(expiresAt);
  }

  stop(): void {
    this.clock.stop();
  }

  /** A `refresh` frame: only one answering a `token_expiring`, one at a time. */
  onRefresh(token: string): void {
    if (!this.clock.takeRefresh())
      return this.connection.fail(
        "RATE_LIMITED",
        "refresh is only expected after token_expiring, one at a time",
      );
    this.refresh(token).catch((err: unknown) => this.connection.internalError(err, "refreshing"));
  }

  private async refresh(token: string): Promise<void> {
    const { connection } = this;
    const outcome = await this.ctx.auth.authenticate(connection.authRequest("refresh", token));
    if (!connection.isReady) return;
    if (outcome.kind === "refused") return connection.fail("REFRESH_REFUSED", outcome.message, outcome.code);
    if (outcome.kind !== "accepted") {
      // The connection lives on until expiry; the client may send another refresh meanwhile.
      this.clock.refreshFailed();
      this.ctx.logger.warn(
        { connection: connection.id, outcome: outcome.kind },
        "token refresh not answered",
      );
      return;
    }
    const { expiresAt } = outcome.reply;
    this.clock.refreshed(expiresAt);
    if (connection.isReady)
      connection.send(
        OutboundFrame.of(expiresAt === undefined ? { type: "refreshed" } : { type: "refreshed", expiresAt }),
      );
  }

  askRefresh(expiresAt: number): void {
    if (this.connection.isReady)
      this.connection.send(OutboundFrame.of({ type: "token_expiring", expiresAt }));
  }

  expired(): void {
    this.connection.fail("TOKEN_EXPIRED", "the token has expired");
  }

  internalError(err: unknown, during: string): void {
    this.connection.internalError(err, during);
  }
}

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
