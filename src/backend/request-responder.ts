import type { Msg, NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import { formatIssues } from "../protocol/index.js";
import { HeraldBackendError } from "./errors.js";
import { errorMessage, respondServiceError } from "./service-error.js";

/** A running responder to one kind of gateway request. */
export interface Responder {
  readonly subject: string;
  readonly queue: string;
  /** Stops taking requests, answers the ones already received, then resolves. */
  stop(): Promise<void>;
}

export type Report = (error: HeraldBackendError) => void;

/** How an application runs a responder: the same for auth, subscribe and rpc. */
export interface ResponderOptions {
  /** Queue group: instances sharing it split the requests between them. Each kind has a default. */
  queue?: string;
  /** Told about every request that could not be answered normally. Never receives a token. */
  onError?: Report;
}

/** ResponderOptions with the defaults filled in. */
export interface ResponderSettings {
  readonly queue: string;
  readonly onError: Report;
}

/** Where a responder serves: its connection, its subject, and its queue group and error report. */
export interface ServeOptions {
  readonly nc: NatsConnection;
  readonly subject: string;
  readonly settings: ResponderSettings;
}

export interface ServeRequestsOptions extends ServeOptions {
  /** What the requests are, for messages (`auth`, `rpc <method>`). */
  readonly what: string;
  /** Answers one request; must never throw. */
  readonly answer: (msg: Msg, report: Report) => Promise<void>;
}

/**
 * Answers the requests on `subject` in a queue group, each with `answer`, which must never throw.
 * Tracks the answers under way so `stop()` can wait for them after draining the subscription.
 */
export function serveRequests({ nc, subject, settings, what, answer }: ServeRequestsOptions): Responder {
  const inFlight = new Set<Promise<void>>();
  const report: Report = (error) => {
    try {
      settings.onError(error);
    } catch {
      // A failing error callback must not take the responder down.
    }
  };

  const subscription = nc.subscribe(subject, {
    queue: settings.queue,
    callback: (err, msg) => {
      if (err) {
        report(
          new HeraldBackendError("SUBSCRIPTION_FAILED", `${what} subscription failed: ${err.message}`, {
            cause: err,
          }),
        );
        return;
      }
      const answering = answer(msg, report);
      inFlight.add(answering);
      void answering.finally(() => inFlight.delete(answering));
    },
  });

  let stopping: Promise<void> | undefined;
  return {
    subject,
    queue: settings.queue,
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

/** One kind of gateway request, as a responder answers it. */
export interface RequestKind<S extends v.GenericSchema<unknown, { readonly connection: string }>> {
  /** For messages: `auth`, `subscribe`. */
  readonly what: string;
  readonly schema: S;
  /** The application's decision on a valid request; may throw or reject. */
  decide(request: v.InferOutput<S>): unknown;
  /** The decision as the reply to send; undefined for no valid decision (a service error is sent). */
  check(decision: unknown, request: v.InferOutput<S>, report: Report): unknown;
}

/** Answers the requests of one kind on `subject`, each with `answerRequest`. */
export function serveKind<S extends v.GenericSchema<unknown, { readonly connection: string }>>(
  where: ServeOptions,
  kind: RequestKind<S>,
): Responder {
  const answer = (msg: Msg, report: Report) => answerRequest(msg, kind, report);
  return serveRequests({ ...where, what: kind.what, answer });
}

/**
 * Answers one request. Every path ends in exactly one reply: the checked decision, or an empty
 * body with NATS service-error headers (which the gateway treats like a temporary refusal: the
 * client retries later). Nothing a request contains can make it throw.
 */
export async function answerRequest<S extends v.GenericSchema<unknown, { readonly connection: string }>>(
  msg: Msg,
  kind: RequestKind<S>,
  report: Report,
): Promise<void> {
  const { what } = kind;
  if (!msg.reply) {
    report(new HeraldBackendError("INVALID_REQUEST", `${what} message without a reply subject was ignored`));
    return;
  }
  const request = parseRequest(kind.schema, msg.data);
  if (!request.success) {
    report(new HeraldBackendError("INVALID_REQUEST", `invalid ${what} request: ${request.reason}`));
    respondServiceError(msg, "invalidRequest", `invalid ${what} request: ${request.reason}`, report);
    return;
  }
  let decision: unknown;
  try {
    decision = await kind.decide(request.output);
  } catch (error) {
    report(
      new HeraldBackendError(
        "HANDLER_FAILED",
        `${what} handler failed for connection ${request.output.connection}: ${errorMessage(error)}`,
        { cause: error },
      ),
    );
    respondServiceError(msg, "handlerFailed", `${what} handler failed`, report);
    return;
  }
  const reply = kind.check(decision, request.output, report);
  if (reply === undefined) {
    respondServiceError(msg, "handlerFailed", `${what} handler returned an invalid decision`, report);
    return;
  }
  respondJson(msg, reply, what, report);
}

export type ParsedRequest<T> = { success: true; output: T } | { success: false; reason: string };

/** A request body read with its schema; the reason quotes the input only briefly. */
export function parseRequest<S extends v.GenericSchema>(
  schema: S,
  data: Uint8Array,
): ParsedRequest<v.InferOutput<S>> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { success: false, reason: "not JSON" };
  }
  const parsed = v.safeParse(schema, json);
  return parsed.success
    ? { success: true, output: parsed.output }
    : { success: false, reason: formatIssues(parsed.issues) };
}

/** Sends a JSON reply, reporting a failure to send. */
export function respondJson(msg: Msg, reply: unknown, what: string, report: Report): void {
  try {
    msg.respond(JSON.stringify(reply));
  } catch (error) {
    report(
      new HeraldBackendError("REPLY_FAILED", `cannot send ${what} reply: ${errorMessage(error)}`, {
        cause: error,
      }),
    );
  }
}
