import { type SubscribeGranted, SubscribeReply, SubscribeRequest } from "../protocol/index.js";
import { refuse } from "./auth-responder.js";
import { readDecision } from "./decision-check.js";
import { HeraldBackendError } from "./errors.js";
import {
  type Report,
  type RequestKind,
  type Responder,
  type ResponderOptions,
  type ServeOptions,
  serveKind,
} from "./request-responder.js";

/** Who asks for the channel: the user the connection is authenticated as, the connection and its gateway. */
export type SubscribeContext = Readonly<Omit<SubscribeRequest, "channel">>;

/** What a subscribe handler returns: build it with grant() or refuse(). */
export type SubscribeDecision = SubscribeReply;

/** Decides whether `context.user` may receive `channel` (`channel.<name>`, as the client named it). */
export type SubscribeHandler = (
  channel: string,
  context: SubscribeContext,
) => SubscribeDecision | Promise<SubscribeDecision>;

export interface GrantOptions {
  /**
   * When the grant ends: ms since the epoch, or a Date. The gateway then takes the channel away
   * (the client gets `unsubscribed` with reason `expired`); one not in the future is a refusal.
   */
  expiresAt?: number | Date;
  /**
   * The connection takes part in the channel's presence (gateways with `--presence true`): members
   * see it join and leave, and it may ask who is there.
   */
  presence?: boolean;
}

/** A granting decision. Nothing is checked here; the responder validates before replying. */
export function grant(options: GrantOptions = {}): SubscribeGranted {
  const decision: SubscribeGranted = { ok: true };
  if (options.expiresAt !== undefined) {
    decision.expiresAt = options.expiresAt instanceof Date ? options.expiresAt.getTime() : options.expiresAt;
  }
  if (options.presence === true) decision.presence = true;
  return decision;
}

/** How the subscribe responder runs (queue default `herald-subscribe`). */
export type OnSubscribeOptions = ResponderOptions;

export type SubscribeResponder = Responder;

/**
 * Answers the gateway's subscribe requests on `subject` with the handler's decision, validated
 * first: a grant that breaks the schema becomes a refusal (never grant on a broken decision), and
 * anything that is no decision at all becomes a service error (the client retries later).
 */
export function serveSubscribe(where: ServeOptions, handler: SubscribeHandler): SubscribeResponder {
  const kind: RequestKind<typeof SubscribeRequest> = {
    what: "subscribe",
    schema: SubscribeRequest,
    decide: ({ channel, ...context }) => handler(channel, context),
    check: (decision, request, report) => checkDecision(decision, request, report),
  };
  return serveKind(where, kind);
}

function checkDecision(
  decision: unknown,
  request: SubscribeRequest,
  report: Report,
): SubscribeReply | undefined {
  const about = `${request.channel} for connection ${request.connection}`;
  const read = readDecision(SubscribeReply, decision);
  if (read.valid) {
    const reply = read.reply;
    if (read.secondsLike && reply.ok) {
      report(
        new HeraldBackendError(
          "INVALID_DECISION",
          `subscribe handler granted ${about} with expiresAt ${reply.expiresAt}, which looks like seconds; it must be ms since the epoch (the gateway treats the grant as expired and refuses it with expired)`,
        ),
      );
    }
    return reply;
  }
  report(
    new HeraldBackendError(
      "INVALID_DECISION",
      read.granting
        ? `subscribe handler returned an invalid grant of ${about}; refused instead: ${read.issues}`
        : `subscribe handler returned an invalid decision on ${about}: ${read.issues}`,
    ),
  );
  return read.granting ? refuse("invalid_decision", "the backend returned an invalid decision") : undefined;
}
