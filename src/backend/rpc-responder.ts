import type { Msg } from "@nats-io/nats-core";
import * as v from "valibot";
import { formatIssues, type RpcReply, RpcRequest } from "../protocol/index.js";
import { HeraldBackendError } from "./errors.js";
import { type Report, type ResponderOptions, type ServeOptions, serveRequests } from "./request-responder.js";
import { errorMessage, respondServiceError } from "./service-error.js";

/** Who called: the authenticated user and their connection (the client's `data` comes separately). */
export type RpcContext = Readonly<Omit<RpcRequest, "data">>;

/**
 * Answers one method. What it returns (or resolves to) is sent to the client as the result's
 * `data` (`undefined` as `null`); throwing an `RpcRefusal` refuses the call with its code; throwing
 * anything else answers "backend error" (and is reported to `onError`). `data` is whatever JSON the
 * client sent (`null` when none): check it like any input from a browser.
 */
export type RpcHandler = (data: unknown, context: RpcContext) => unknown;

/**
 * Thrown by an RPC handler to refuse the call: the client's promise rejects with code `REFUSED`,
 * `reason` = `code` and this message (cut to 64 characters by the gateway).
 */
export class RpcRefusal extends Error {
  override readonly name = "RpcRefusal";
  readonly code: string;
  constructor(code: string, message: string) {
    super(message.slice(0, 512));
    this.code = code.slice(0, 64) || "refused";
  }
}

/** How an rpc responder runs (queue default `herald-rpc`). */
export type ServeRpcOptions = ResponderOptions;

export interface RpcResponder {
  readonly method: string;
  readonly subject: string;
  readonly queue: string;
  /** Stops taking calls, answers the ones already received, then resolves. */
  stop(): Promise<void>;
}

/**
 * Answers the calls of one method on `subject` (`<prefix>.rpc.<method>`). Every call gets exactly
 * one reply: an RpcReply, or an empty body with NATS service-error headers. Nothing a request
 * contains can make it throw.
 */
export function serveRpc(where: ServeOptions, method: string, handler: RpcHandler): RpcResponder {
  const responder = serveRequests({
    ...where,
    what: `rpc ${method}`,
    answer: (msg, report) => answer(msg, method, handler, report),
  });
  return { method, ...responder };
}

async function answer(msg: Msg, method: string, handler: RpcHandler, report: Report): Promise<void> {
  if (!msg.reply) {
    report(new HeraldBackendError("INVALID_REQUEST", `rpc ${method} without a reply subject was ignored`));
    return;
  }
  const request = parseRequest(msg.data);
  if (typeof request === "string") {
    report(new HeraldBackendError("INVALID_REQUEST", `invalid rpc request for ${method}: ${request}`));
    respondServiceError(msg, "invalidRequest", `invalid rpc request: ${request}`, report);
    return;
  }
  const { data, ...context } = request;
  let reply: RpcReply;
  try {
    const result = await handler(data, context);
    reply = result === undefined ? { ok: true } : { ok: true, data: result };
  } catch (error) {
    if (!(error instanceof RpcRefusal)) {
      report(
        new HeraldBackendError(
          "HANDLER_FAILED",
          `rpc handler ${method} failed for connection ${context.connection}: ${errorMessage(error)}`,
          { cause: error },
        ),
      );
      respondServiceError(msg, "handlerFailed", "rpc handler failed", report);
      return;
    }
    reply = { ok: false, error: { code: error.code, message: error.message } };
  }
  let body: string;
  try {
    body = JSON.stringify(reply);
  } catch (error) {
    report(
      new HeraldBackendError(
        "INVALID_RESULT",
        `rpc handler ${method} returned a value JSON cannot encode: ${errorMessage(error)}`,
        { cause: error },
      ),
    );
    respondServiceError(msg, "handlerFailed", "rpc handler returned a value JSON cannot encode", report);
    return;
  }
  try {
    msg.respond(body);
  } catch (error) {
    // e.g. over the server's max_payload: the caller still gets an answer, not a timeout
    report(
      new HeraldBackendError("REPLY_FAILED", `cannot send the ${method} reply: ${errorMessage(error)}`, {
        cause: error,
      }),
    );
    respondServiceError(msg, "handlerFailed", "the reply could not be sent", report);
  }
}

/** The request, or why it is not one. */
function parseRequest(data: Uint8Array): RpcRequest | string {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return "not JSON";
  }
  const parsed = v.safeParse(RpcRequest, json);
  return parsed.success ? parsed.output : formatIssues(parsed.issues);
}
