import type { NatsConnection } from "@nats-io/nats-core";
import { RequestMux } from "../../nats/request-mux.js";
import { type AuthAccepted, AuthReply, type AuthRequest, checkExpiry } from "../../protocol/index.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { askBackend, type BackendRequestKind, readRefusal } from "./backend-request.js";

/**
 * What asking the backend can come to; `unavailable` and `overloaded` mean "try again later". An
 * acceptance whose token is already expired is `refused` with code `token_expired`.
 */
export type AuthOutcome =
  | { readonly kind: "accepted"; readonly reply: AuthAccepted }
  | { readonly kind: "refused"; readonly code: string; readonly message: string }
  | { readonly kind: "unavailable"; readonly message: string }
  | { readonly kind: "invalid_reply"; readonly message: string }
  | { readonly kind: "overloaded" };

interface Waiter {
  readonly run: () => void;
}

export interface AuthClientOptions {
  readonly nc: NatsConnection;
  /** False while NATS is away: then there is no point waiting for a reply. */
  readonly isConnected: () => boolean;
  /** `<prefix>.auth`. */
  readonly subject: string;
  /** How long to wait for the backend's reply (`--auth-request-timeout`). */
  readonly timeoutMs: number;
  /** Requests in flight at once (`--auth-concurrency`). */
  readonly concurrency: number;
  /** Requests waiting beyond that before more are answered `overloaded` (`--auth-queue`). */
  readonly queueLimit: number;
  readonly logger: Logger;
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
  private readonly mux: RequestMux;
  private readonly logger: Logger;
  private readonly metrics: GatewayMetrics;
  private readonly kind: BackendRequestKind<typeof AuthReply>;

  constructor(private readonly options: AuthClientOptions) {
    this.mux = new RequestMux(options.nc);
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.kind = { what: "auth", subject: options.subject, reply: AuthReply, timeoutMs: options.timeoutMs };
  }

  close(): void {
    this.mux.close();
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
    const started = performance.now();
    try {
      const outcome = await this.ask(request);
      this.metrics.authResults.inc({ result: outcome.kind });
      return outcome;
    } finally {
      this.metrics.authLatency.observe((performance.now() - started) / 1000);
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
    const answer = await askBackend(this.mux, this.options.isConnected, this.kind, request, this.logger);
    if (answer.kind !== "reply") return answer;
    const reply = answer.reply;
    if (!reply.ok) return readRefusal(reply.error, this.kind, request, this.logger);
    if (request.kind === "refresh" && request.user !== undefined && reply.user !== request.user) {
      this.logger.error({ connection: request.connection }, "backend refreshed a token for a different user");
      return {
        kind: "refused",
        code: "user_changed",
        message: "a refreshed token must belong to the same user",
      };
    }
    const expiry = checkExpiry(reply.expiresAt, Date.now());
    if (expiry !== "valid") {
      this.logger.warn(
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
