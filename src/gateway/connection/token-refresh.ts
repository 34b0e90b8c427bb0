import type { AuthRequest, ErrorCodeName } from "../../protocol/index.js";
import { OutboundFrame } from "../delivery/outbound-frame.js";
import type { GatewayContext } from "../gateway-context.js";
import { TokenExpiry, type TokenExpiryEvents } from "./token-expiry.js";

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
 * A ready connection's token from `ready` on: `token_expiring` ahead of expiry (the clock in
 * token-expiry.ts), the `refresh` exchange with the backend, and the end of the connection at
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
