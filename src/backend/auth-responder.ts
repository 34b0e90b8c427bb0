import {
  type AuthAccepted,
  type AuthRefused,
  AuthReply,
  AuthRequest,
  isSafeName,
} from "../protocol/index.js";
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

/** Everything the gateway knows about the connection asking, except the token itself. */
export type AuthContext = Readonly<Omit<AuthRequest, "token">>;

/** What a handler returns: build it with accept() or refuse(). */
export type AuthDecision = AuthReply;

export type AuthHandler = (token: string, context: AuthContext) => AuthDecision | Promise<AuthDecision>;

export interface Acceptance {
  /** The user the token belongs to; must be from the safe alphabet or the reply becomes a refusal. */
  user: string;
  /** Shared channels this connection receives (`<prefix>.channel.<name>`), at most 64. */
  channels?: readonly string[];
  /**
   * When the token stops being valid: ms since the epoch, or a Date. The gateway refuses a token
   * whose expiry is not in the future (`token_expired`), and so one given in seconds.
   */
  expiresAt?: number | Date;
  /**
   * Shared channels, among `channels`, whose presence this connection takes part in (gateways
   * with `--presence true`): it is listed as a member, sees joins and leaves, and may ask who is there.
   */
  presence?: readonly string[];
  /** What other members see of this connection in presence: a small JSON object (at most 512 bytes). */
  info?: Record<string, unknown>;
}

/** An accepting decision. Nothing is checked here; the responder validates before replying. */
export function accept(acceptance: Acceptance): AuthAccepted {
  const decision: AuthAccepted = { ok: true, user: acceptance.user };
  if (acceptance.channels !== undefined) decision.channels = [...acceptance.channels];
  if (acceptance.presence !== undefined) decision.presence = [...acceptance.presence];
  if (acceptance.info !== undefined) decision.info = acceptance.info;
  if (acceptance.expiresAt !== undefined) {
    decision.expiresAt =
      acceptance.expiresAt instanceof Date ? acceptance.expiresAt.getTime() : acceptance.expiresAt;
  }
  return decision;
}

const MAX_REFUSAL_CODE = 64;
const MAX_REFUSAL_MESSAGE = 512;

export interface RefusalOptions {
  /**
   * "Cannot decide now" rather than "no": the client gets `BACKEND_UNAVAILABLE` (close 1013) and
   * retries with backoff, instead of `AUTH_REFUSED` (4401) and no retry.
   */
  temporary?: boolean;
}

/**
 * A refusal. `code` is passed to the client as the error frame's `reason`; both are cut to the wire
 * limits. With `{ temporary: true }` the client is told to retry later instead.
 */
export function refuse(code: string, message: string, options: RefusalOptions = {}): AuthRefused {
  const error: AuthRefused["error"] = {
    code: code.slice(0, MAX_REFUSAL_CODE),
    message: message.slice(0, MAX_REFUSAL_MESSAGE),
  };
  if (options.temporary === true) error.temporary = true;
  return { ok: false, error };
}

/** How the auth responder runs (queue default `herald-auth`). */
export type ServeAuthOptions = ResponderOptions;

export type AuthResponder = Responder;

/**
 * Answers the gateway's auth requests on `subject`. Every path ends in exactly one reply: a valid
 * AuthReply, or an empty body with NATS service-error headers (which the gateway treats like a
 * temporary refusal: "backend unavailable", so clients retry later). Nothing a request contains can
 * make it throw.
 */
export function serveAuth(where: ServeOptions, handler: AuthHandler): AuthResponder {
  const kind: RequestKind<typeof AuthRequest> = {
    what: "auth",
    schema: AuthRequest,
    decide: ({ token, ...context }) => handler(token, context),
    check: (decision, request, report) => checkDecision(decision, request.connection, report),
  };
  return serveKind(where, kind);
}

/**
 * Validates the handler's decision against the wire schema. An acceptance that fails (unsafe user id,
 * unsafe channel name, bad expiresAt) becomes a refusal: never grant access on a broken decision.
 * Anything else that is not a valid reply yields undefined (answered as a service error).
 */
function checkDecision(decision: unknown, connection: string, report: Report): AuthReply | undefined {
  const read = readDecision(AuthReply, decision);
  if (read.valid) {
    const reply = read.reply;
    if (read.secondsLike && reply.ok) {
      report(
        new HeraldBackendError(
          "INVALID_DECISION",
          `auth handler accepted connection ${connection} with expiresAt ${reply.expiresAt}, which looks like seconds; it must be ms since the epoch (the gateway treats the token as expired and refuses it with token_expired)`,
        ),
      );
    }
    return reply;
  }
  if (!read.granting) {
    report(
      new HeraldBackendError(
        "INVALID_DECISION",
        `auth handler returned an invalid decision for connection ${connection}: ${read.issues}`,
      ),
    );
    return undefined;
  }
  const user =
    typeof decision === "object" && decision !== null && "user" in decision ? decision.user : undefined;
  if (!isSafeName(user)) {
    report(
      new HeraldBackendError(
        "INVALID_DECISION",
        `auth handler accepted an unsafe user id ${JSON.stringify(user)} for connection ${connection}; refused instead`,
      ),
    );
    return refuse("invalid_user", "the backend named an invalid user id");
  }
  report(
    new HeraldBackendError(
      "INVALID_DECISION",
      `auth handler returned an invalid acceptance for connection ${connection}; refused instead: ${read.issues}`,
    ),
  );
  return refuse("invalid_decision", "the backend returned an invalid decision");
}
