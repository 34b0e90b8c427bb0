import * as v from "valibot";
import type { Requester } from "../../nats/requester.js";
import { type AuthRefused, clip, formatIssues, readServiceError } from "../../protocol/index.js";
import type { Logger } from "../logger.js";

/** What every request to the backend goes through: one request mux, one view of NATS, one log. */
export interface BackendLine {
  /** The one request mux of auth, subscribe and rpc requests. */
  readonly requests: Requester;
  /** False while NATS is away: then no request waits for a reply. */
  readonly isConnected: () => boolean;
  /** The NATS server's `max_payload`, once it is known. */
  readonly maxPayload: () => number | undefined;
  readonly logger: Logger;
}

/** One kind of request to the backend: what its replies must be, and how it is timed. */
export interface BackendRequestKind<S extends v.GenericSchema> {
  /** For log lines: `auth`, `subscribe`, `rpc`. */
  readonly what: string;
  readonly reply: S;
  /** A reply with a larger body is invalid (`--max-rpc-reply-bytes`); none: no bound but NATS's. */
  readonly maxReplyBytes?: number;
  /** Observes each request's round trip in seconds, answered or not. */
  readonly latency?: { observe(seconds: number): void };
  /**
   * The client names the subject and writes the body (rpc): no responders and a request too large
   * to send are its own doing, told to it and not logged, so one client cannot fill the log.
   */
  readonly clientShaped?: boolean;
}

/** One request: where it goes, how long its reply may take, what it says. */
export interface BackendCall {
  readonly subject: string;
  readonly timeoutMs: number;
  readonly request: { readonly connection: string };
  /** More for the log lines about it (rpc: the method). */
  readonly log?: Readonly<Record<string, unknown>>;
}

/**
 * What a request to the backend came to. All but `reply` are failures, each told apart so a caller
 * can give its client the right code: auth and subscribe make every one but `invalid_reply` "try
 * again later"; rpc has a code for most.
 */
export type BackendAnswer<T> =
  | { readonly kind: "reply"; readonly reply: T }
  /** NATS is away: nothing was sent. */
  | { readonly kind: "not_connected" }
  /** The request cannot go out as it is. */
  | { readonly kind: "unsendable"; readonly reason: "too_deep" }
  | { readonly kind: "unsendable"; readonly reason: "over_max_payload"; readonly maxPayload: number }
  /** Publishing failed, or the gateway is closing its requests. */
  | { readonly kind: "not_sent"; readonly message: string }
  | { readonly kind: "no_responders" }
  | { readonly kind: "timeout"; readonly timeoutMs: number }
  /** The backend is up but could not answer: NATS service-error headers (see protocol). */
  | { readonly kind: "service_error"; readonly code: string; readonly description: string }
  /** Over `maxReplyBytes`, not JSON, or breaking the schema: `problem` finishes "the reply …". */
  | { readonly kind: "invalid_reply"; readonly problem: string };

/** Every answer but a reply. */
export type BackendFailure = Exclude<BackendAnswer<unknown>, { kind: "reply" }>;

const decoder = new TextDecoder();

/**
 * Sends one request to the backend and classifies what comes back, the one place that does: NATS
 * away, a request that cannot be sent, no responders, no reply in time, a service error, a reply
 * too large, not JSON or breaking the schema, or the reply read with the schema. Logs each failure
 * once with the connection id, quoting the backend only briefly; never throws.
 */
export async function askBackend<S extends v.GenericSchema>(
  line: BackendLine,
  kind: BackendRequestKind<S>,
  call: BackendCall,
): Promise<BackendAnswer<v.InferOutput<S>>> {
  const started = performance.now();
  try {
    return await ask(line, kind, call);
  } finally {
    kind.latency?.observe((performance.now() - started) / 1000);
  }
}

async function ask<S extends v.GenericSchema>(
  line: BackendLine,
  kind: BackendRequestKind<S>,
  call: BackendCall,
): Promise<BackendAnswer<v.InferOutput<S>>> {
  const { what } = kind;
  const { logger } = line;
  const log = { connection: call.request.connection, ...call.log };
  if (!line.isConnected()) return { kind: "not_connected" };
  let body: Buffer;
  try {
    // Buffer.from takes a small body from Node's shared pool, where TextEncoder allocates one of its own.
    body = Buffer.from(JSON.stringify(call.request));
  } catch {
    // JSON.parse takes nesting that JSON.stringify cannot give back (a stack overflow)
    if (!kind.clientShaped) logger.warn(log, `${what} request is nested too deeply to send`);
    return { kind: "unsendable", reason: "too_deep" };
  }
  const maxPayload = line.maxPayload();
  if (maxPayload !== undefined && body.length > maxPayload) {
    if (!kind.clientShaped)
      logger.warn({ ...log, bytes: body.length, maxPayload }, `${what} request is over the NATS max_payload`);
    return { kind: "unsendable", reason: "over_max_payload", maxPayload };
  }
  const answer = await line.requests.request(call.subject, body, call.timeoutMs);
  switch (answer.kind) {
    case "no_responders":
      if (!kind.clientShaped) logger.warn(log, `no backend is answering ${what} requests`);
      return answer;
    case "timeout":
      logger.warn({ ...log, timeoutMs: call.timeoutMs }, `${what} request not answered in time`);
      return { kind: "timeout", timeoutMs: call.timeoutMs };
    case "failed":
      logger.warn({ ...log, err: clip(answer.message) }, `${what} request not sent`);
      return { kind: "not_sent", message: answer.message };
    case "reply":
      break;
  }
  const msg = answer.msg;
  const serviceError = readServiceError(msg.headers);
  if (serviceError) {
    const { code, description } = serviceError;
    logger.warn(
      { ...log, code: clip(code), description: clip(description) },
      `${what} request answered with a service error; the client may try again`,
    );
    return { kind: "service_error", code, description };
  }
  if (kind.maxReplyBytes !== undefined && msg.data.length > kind.maxReplyBytes) {
    logger.warn(
      { ...log, bytes: msg.data.length },
      `backend ${what} reply is over ${kind.maxReplyBytes} bytes`,
    );
    return { kind: "invalid_reply", problem: `is over ${kind.maxReplyBytes} bytes` };
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(msg.data));
  } catch {
    logger.error({ ...log, bytes: msg.data.length }, `backend ${what} reply is not JSON`);
    return { kind: "invalid_reply", problem: "is not JSON" };
  }
  const parsed = v.safeParse(kind.reply, json);
  if (!parsed.success) {
    const issues = formatIssues(parsed.issues);
    logger.error({ ...log, issues }, `backend ${what} reply is invalid`);
    return { kind: "invalid_reply", problem: `is invalid: ${issues}` };
  }
  return { kind: "reply", reply: parsed.output };
}

/** What auth and subscribe tell their client for a failure: try again later, or the backend is broken. */
export type NoDecision =
  | { readonly kind: "unavailable"; readonly message: string }
  | { readonly kind: "invalid_reply"; readonly message: string };

/** A failed auth or subscribe request as its client hears it: all but an invalid reply is temporary. */
export function noDecision(failure: BackendFailure, what: string): NoDecision {
  switch (failure.kind) {
    case "not_connected":
      return { kind: "unavailable", message: "NATS is not connected" };
    case "unsendable":
      return {
        kind: "unavailable",
        message:
          failure.reason === "too_deep"
            ? `${what} request is nested too deeply to send`
            : `${what} request is over the NATS max_payload of ${failure.maxPayload} bytes`,
      };
    case "not_sent":
      return { kind: "unavailable", message: `${what} request failed: ${failure.message}` };
    case "no_responders":
      return { kind: "unavailable", message: `no backend is answering ${what} requests` };
    case "timeout":
      return { kind: "unavailable", message: `the backend did not answer within ${failure.timeoutMs} ms` };
    case "service_error":
      return { kind: "unavailable", message: "the backend could not answer" };
    case "invalid_reply":
      return { kind: "invalid_reply", message: `the backend's ${what} reply ${failure.problem}` };
  }
}

/** What a backend's refusal comes to: final, or, with `temporary`, "cannot decide now" (retry later). */
export type RefusalOutcome =
  | { readonly kind: "refused"; readonly code: string; readonly message: string }
  | { readonly kind: "unavailable"; readonly message: string };

export function readRefusal(
  error: AuthRefused["error"],
  kind: { readonly what: string },
  request: { readonly connection: string },
  logger: Logger,
): RefusalOutcome {
  if (error.temporary !== true) return { kind: "refused", code: error.code, message: error.message };
  logger.warn(
    { connection: request.connection, code: error.code.slice(0, 64) },
    `backend cannot decide this ${kind.what} request now (temporary refusal); the client will retry`,
  );
  return { kind: "unavailable", message: "the backend cannot decide now" };
}
