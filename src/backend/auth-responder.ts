import type { Msg, NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import {
  type AuthAccepted,
  type AuthRefused,
  AuthReply,
  AuthRequest,
  checkExpiry,
  formatIssues,
  isSafeName,
} from "../protocol/index.js";
import { HeraldBackendError } from "./errors.js";
import { errorMessage, respondServiceError } from "./service-error.js";

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

export interface ServeAuthOptions {
  /** Queue group: instances sharing it split the requests between them. */
  queue?: string;
  /** Told about every request that could not be answered normally. Never receives the token. */
  onError?: (error: HeraldBackendError) => void;
}

export interface AuthResponder {
  readonly subject: string;
  readonly queue: string;
  /** Stops taking requests, answers the ones already received, then resolves. */
  stop(): Promise<void>;
}

/**
 * Answers the gateway's auth requests on `subject`. Every path ends in exactly one reply: a valid
 * AuthReply, or an empty body with NATS service-error headers (which the gateway treats like a
 * temporary refusal: "backend unavailable", so clients retry later). Nothing a request contains can
 * make it throw.
 */
export function serveAuth(
  nc: NatsConnection,
  subject: string,
  handler: AuthHandler,
  options: ServeAuthOptions & { queue: string; onError: (error: HeraldBackendError) => void },
): AuthResponder {
  const inFlight = new Set<Promise<void>>();
  const report = (error: HeraldBackendError) => {
    try {
      options.onError(error);
    } catch {
      // A failing error callback must not take the responder down.
    }
  };

  const subscription = nc.subscribe(subject, {
    queue: options.queue,
    callback: (err, msg) => {
      if (err) {
        report(
          new HeraldBackendError("SUBSCRIPTION_FAILED", `auth subscription failed: ${err.message}`, {
            cause: err,
          }),
        );
        return;
      }
      const answering = answer(msg, handler, report);
      inFlight.add(answering);
      void answering.finally(() => inFlight.delete(answering));
    },
  });

  let stopping: Promise<void> | undefined;
  return {
    subject,
    queue: options.queue,
    stop() {
      stopping ??= (async () => {
        try {
          await subscription.drain();
        } catch {
          // Already closed with the connection: nothing left to drain.
        }
        await Promise.allSettled([...inFlight]);
      })();
      return stopping;
    },
  };
}

async function answer(
  msg: Msg,
  handler: AuthHandler,
  report: (error: HeraldBackendError) => void,
): Promise<void> {
  if (!msg.reply) {
    report(new HeraldBackendError("INVALID_REQUEST", "auth message without a reply subject was ignored"));
    return;
  }
  const request = parseRequest(msg.data);
  if (!request.success) {
    report(new HeraldBackendError("INVALID_REQUEST", `invalid auth request: ${request.reason}`));
    respondServiceError(msg, 400, `invalid auth request: ${request.reason}`, report);
    return;
  }
  const { token, ...context } = request.output;

  let decision: unknown;
  try {
    decision = await handler(token, context);
  } catch (error) {
    report(
      new HeraldBackendError(
        "HANDLER_FAILED",
        `auth handler failed for connection ${context.connection}: ${errorMessage(error)}`,
        { cause: error },
      ),
    );
    respondServiceError(msg, 500, "auth handler failed", report);
    return;
  }

  const reply = checkDecision(decision, context.connection, report);
  if (reply === undefined) {
    respondServiceError(msg, 500, "auth handler returned an invalid decision", report);
    return;
  }
  try {
    msg.respond(JSON.stringify(reply));
  } catch (error) {
    report(
      new HeraldBackendError("REPLY_FAILED", `cannot send auth reply: ${errorMessage(error)}`, {
        cause: error,
      }),
    );
  }
}

type ParsedRequest = { success: true; output: AuthRequest } | { success: false; reason: string };

function parseRequest(data: Uint8Array): ParsedRequest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { success: false, reason: "not JSON" };
  }
  const parsed = v.safeParse(AuthRequest, json);
  return parsed.success
    ? { success: true, output: parsed.output }
    : { success: false, reason: formatIssues(parsed.issues) };
}

/**
 * Validates the handler's decision against the wire schema. An acceptance that fails (unsafe user id,
 * unsafe channel name, bad expiresAt) becomes a refusal: never grant access on a broken decision.
 * Anything else that is not a valid reply yields undefined (answered as a service error).
 */
function checkDecision(
  decision: unknown,
  connection: string,
  report: (error: HeraldBackendError) => void,
): AuthReply | undefined {
  const parsed = v.safeParse(AuthReply, decision);
  if (parsed.success) {
    const reply = parsed.output;
    if (reply.ok && checkExpiry(reply.expiresAt, Date.now()) === "looks_like_seconds") {
      report(
        new HeraldBackendError(
          "INVALID_DECISION",
          `auth handler accepted connection ${connection} with expiresAt ${reply.expiresAt}, which looks like seconds; it must be ms since the epoch (the gateway refuses it as token_expired)`,
        ),
      );
    }
    return reply;
  }

  const issues = formatIssues(parsed.issues);
  const isAcceptance =
    typeof decision === "object" && decision !== null && "ok" in decision && decision.ok === true;
  if (!isAcceptance) {
    report(
      new HeraldBackendError(
        "INVALID_DECISION",
        `auth handler returned an invalid decision for connection ${connection}: ${issues}`,
      ),
    );
    return undefined;
  }
  const user = "user" in decision ? decision.user : undefined;
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
      `auth handler returned an invalid acceptance for connection ${connection}; refused instead: ${issues}`,
    ),
  );
  return refuse("invalid_decision", "the backend returned an invalid decision");
}
