import { type AuthAccepted, AuthReply, type AuthRequest, checkExpiry } from "../../protocol/index.js";
import type { GatewayMetrics } from "../metrics.js";
import {
  askBackend,
  type BackendLine,
  type BackendRequestKind,
  type NoDecision,
  noDecision,
  readRefusal,
} from "./backend-request.js";

/**
 * What asking the backend can come to; `unavailable` and `overloaded` mean "try again later". An
 * acceptance whose token is already expired is `refused` with code `token_expired`.
 */
export type AuthOutcome =
  | { readonly kind: "accepted"; readonly reply: AuthAccepted }
  | { readonly kind: "refused"; readonly code: string; readonly message: string }
  | NoDecision
  | { readonly kind: "overloaded" };

interface Waiter {
  readonly run: () => void;
}

export interface AuthClientOptions {
  readonly line: BackendLine;
  /** `<prefix>.auth`. */
  readonly subject: string;
  /** How long to wait for the backend's reply (`--auth-request-timeout`). */
  readonly timeoutMs: number;
  /** Requests in flight at once (`--auth-concurrency`). */
  readonly concurrency: number;
  /** Requests waiting beyond that before more are answered `overloaded` (`--auth-queue`). */
  readonly queueLimit: number;
  readonly metrics: GatewayMetrics;
}

/**
 * Asks the backend over NATS request/reply who a token is. At most `concurrency` requests are in
 * flight; up to `queueLimit` more wait their turn, and past that the answer is `overloaded` at once,
 * so a connection storm cannot bury the backend.
 */
export class AuthClient {
  private inFlight = 0;
  /** A FIFO read from `waitingHead`; taken slots are cleared so their promises can be collected. */
  private readonly waiting: (Waiter | undefined)[] = [];
  private waitingHead = 0;
  private readonly metrics: GatewayMetrics;
  private readonly kind: BackendRequestKind<typeof AuthReply>;

  constructor(private readonly options: AuthClientOptions) {
    this.metrics = options.metrics;
    this.kind = { what: "auth", reply: AuthReply, latency: options.metrics.authLatency };
  }

  authenticate(request: AuthRequest): Promise<AuthOutcome> {
    if (this.inFlight < this.options.concurrency) return this.send(request);
    if (this.waiting.length - this.waitingHead >= this.options.queueLimit) {
      this.metrics.authResults.inc({ result: "overloaded" });
      return Promise.resolve({ kind: "overloaded" });
    }
    return new Promise((resolve) => {
      this.waiting.push({ run: () => resolve(this.send(request)) });
    });
  }

  private async send(request: AuthRequest): Promise<AuthOutcome> {
    this.inFlight++;
    try {
      const outcome = await this.ask(request);
      this.metrics.authResults.inc({ result: outcome.kind });
      return outcome;
    } finally {
      this.inFlight--;
      this.next();
    }
  }

  private next(): void {
    const waiter = this.waiting[this.waitingHead];
    if (!waiter) return;
    this.waiting[this.waitingHead++] = undefined;
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
    waiter.run();
  }

  private async ask(request: AuthRequest): Promise<AuthOutcome> {
    const { line, subject, timeoutMs } = this.options;
    const answer = await askBackend(line, this.kind, { subject, timeoutMs, request });
    if (answer.kind !== "reply") return noDecision(answer, this.kind.what);
    const reply = answer.reply;
    const { logger } = line;
    if (!reply.ok) return readRefusal(reply.error, this.kind, request, logger);
    if (request.kind === "refresh" && request.user !== undefined && reply.user !== request.user) {
      logger.error({ connection: request.connection }, "backend refreshed a token for a different user");
      return {
        kind: "refused",
        code: "user_changed",
        message: "a refreshed token must belong to the same user",
      };
    }
    const expiry = checkExpiry(reply.expiresAt, Date.now());
    if (expiry !== "valid") {
      logger.warn(
        { connection: request.connection, kind: request.kind, expiresAt: reply.expiresAt },
        expiry === "looks_like_seconds"
          ? "backend accepted a token with an expiresAt that looks like seconds since the epoch; it must be milliseconds (refused as token_expired)"
          : "backend accepted a token whose expiresAt is not in the future (refused as token_expired)",
      );
      return { kind: "refused", code: "token_expired", message: "the token has expired" };
    }
    return { kind: "accepted", reply };
  }
}
