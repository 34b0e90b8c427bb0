import type { NatsConnection } from "@nats-io/nats-core";
import { RequestMux } from "../../nats/request-mux.js";
import { checkExpiry, SubscribeReply, type SubscribeRequest } from "../../protocol/index.js";
import type { Logger } from "../logger.js";
import { askBackend, type BackendRequestKind, readRefusal } from "./backend-request.js";

/**
 * What asking the backend about one channel can come to; `unavailable` means "try again later". A
 * grant whose `expiresAt` is not in the future is `refused` with code `expired`.
 */
export type SubscribeOutcome =
  | {
      readonly kind: "granted";
      readonly expiresAt: number | undefined;
      /** The connection takes part in the channel's presence. */
      readonly presence: boolean;
    }
  | { readonly kind: "refused"; readonly code: string; readonly message: string }
  | { readonly kind: "unavailable"; readonly message: string }
  | { readonly kind: "invalid_reply"; readonly message: string };

export interface SubscribeAuthorizerOptions {
  readonly nc: NatsConnection;
  /** False while NATS is away: then there is no point waiting for a reply. */
  readonly isConnected: () => boolean;
  /** `<prefix>.subscribe`. */
  readonly subject: string;
  /** How long to wait for the backend's reply (`--subscribe-request-timeout`). */
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/** Asks the backend over NATS request/reply on `<prefix>.subscribe` whether a user may have a channel. */
export class SubscribeAuthorizer {
  private readonly mux: RequestMux;
  private readonly kind: BackendRequestKind<typeof SubscribeReply>;
  private readonly isConnected: () => boolean;
  private readonly logger: Logger;

  constructor({ nc, isConnected, subject, timeoutMs, logger }: SubscribeAuthorizerOptions) {
    this.mux = new RequestMux(nc);
    this.kind = { what: "subscribe", subject, reply: SubscribeReply, timeoutMs };
    this.isConnected = isConnected;
    this.logger = logger;
  }

  async authorize(request: SubscribeRequest): Promise<SubscribeOutcome> {
    const answer = await askBackend(this.mux, this.isConnected, this.kind, request, this.logger);
    if (answer.kind !== "reply") return answer;
    const reply = answer.reply;
    if (!reply.ok) return readRefusal(reply.error, this.kind, request, this.logger);
    const expiry = checkExpiry(reply.expiresAt, Date.now());
    if (expiry === "valid")
      return { kind: "granted", expiresAt: reply.expiresAt, presence: reply.presence === true };
    this.logger.warn(
      { connection: request.connection, expiresAt: reply.expiresAt },
      expiry === "looks_like_seconds"
        ? "backend granted a channel with an expiresAt that looks like seconds since the epoch; it must be milliseconds (refused as expired)"
        : "backend granted a channel whose expiresAt is not in the future (refused as expired)",
    );
    return { kind: "refused", code: "expired", message: "the grant has already expired" };
  }

  close(): void {
    this.mux.close();
  }
}
