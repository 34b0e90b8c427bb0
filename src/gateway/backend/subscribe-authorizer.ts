import { checkExpiry, SubscribeReply, type SubscribeRequest } from "../../protocol/index.js";
import {
  askBackend,
  type BackendLine,
  type BackendRequestKind,
  type NoDecision,
  noDecision,
  readRefusal,
} from "./backend-request.js";

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
  | NoDecision;

export interface SubscribeAuthorizerOptions {
  readonly line: BackendLine;
  /** `<prefix>.subscribe`. */
  readonly subject: string;
  /** How long to wait for the backend's reply (`--subscribe-request-timeout`). */
  readonly timeoutMs: number;
}

/** Asks the backend over NATS request/reply on `<prefix>.subscribe` whether a user may have a channel. */
export class SubscribeAuthorizer {
  private readonly kind: BackendRequestKind<typeof SubscribeReply> = {
    what: "subscribe",
    reply: SubscribeReply,
  };

  constructor(private readonly options: SubscribeAuthorizerOptions) {}

  async authorize(request: SubscribeRequest): Promise<SubscribeOutcome> {
    const { line, subject, timeoutMs } = this.options;
    const answer = await askBackend(line, this.kind, { subject, timeoutMs, request });
    if (answer.kind !== "reply") return noDecision(answer, this.kind.what);
    const reply = answer.reply;
    if (!reply.ok) return readRefusal(reply.error, this.kind, request, line.logger);
    const expiry = checkExpiry(reply.expiresAt, Date.now());
    if (expiry === "valid")
      return { kind: "granted", expiresAt: reply.expiresAt, presence: reply.presence === true };
    line.logger.warn(
      { connection: request.connection, expiresAt: reply.expiresAt },
      expiry === "looks_like_seconds"
        ? "backend granted a channel with an expiresAt that looks like seconds since the epoch; it must be milliseconds (refused as expired)"
        : "backend granted a channel whose expiresAt is not in the future (refused as expired)",
    );
    return { kind: "refused", code: "expired", message: "the grant has already expired" };
  }
}
