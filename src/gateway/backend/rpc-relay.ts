import {
  clip,
  quote,
  type RpcErrorCodeName,
  type RpcFrame,
  RpcReply,
  type RpcRequest,
  type Subjects,
} from "../../protocol/index.js";
import { OutboundFrame } from "../delivery/outbound-frame.js";
import type { GatewayMetrics } from "../metrics.js";
import {
  askBackend,
  type BackendFailure,
  type BackendLine,
  type BackendRequestKind,
} from "./backend-request.js";

/** Who calls: an authenticated connection. */
export interface RpcCaller {
  readonly user: string;
  readonly connection: string;
}

export interface RpcRelayOptions {
  readonly line: BackendLine;
  readonly subjects: Subjects;
  readonly metrics: GatewayMetrics;
  readonly gatewayId: string;
  /** --rpc-timeout: the longest wait for an answer; a call's own `timeout` can only shorten it. */
  readonly timeoutMs: number;
  /** --max-rpc-reply-bytes */
  readonly maxReplyBytes: number;
}

/**
 * Forwards client calls to the backend over NATS request/reply on `<prefix>.rpc.<method>`, and turns
 * whatever comes back — an answer, a refusal, a service error, silence, garbage — into exactly one
 * `rpc_result` or `rpc_error` frame for the caller. Never throws, and never closes a connection:
 * what to do with a failed call is the client's decision.
 */
export class RpcRelay {
  private readonly kind: BackendRequestKind<typeof RpcReply>;

  constructor(private readonly options: RpcRelayOptions) {
    this.kind = {
      what: "rpc",
      reply: RpcReply,
      maxReplyBytes: options.maxReplyBytes,
      latency: options.metrics.rpcLatency,
      clientShaped: true,
    };
  }

  /** The frame that answers `frame`: resolves once the backend answered or the call failed. */
  async answer(caller: RpcCaller, frame: RpcFrame): Promise<OutboundFrame> {
    const outcome = await this.ask(caller, frame);
    this.options.metrics.rpcResults.inc({ result: outcome.code ?? "result" });
    return outcome.frame;
  }

  /** An `rpc_error` for a call refused before it was sent (a connection's own limits), counted. */
  refusal(
    id: number,
    code: "TOO_MANY_IN_FLIGHT" | "TOO_MANY_FROM_ADDRESS" | "DUPLICATE_ID",
    message: string,
  ): OutboundFrame {
    this.options.metrics.rpcResults.inc({ result: code });
    return rpcErrorFrame(id, code, message);
  }

  private async ask(caller: RpcCaller, frame: RpcFrame): Promise<Outcome> {
    const { id, method } = frame;
    const { line, subjects, gatewayId } = this.options;
    const request: RpcRequest = {
      user: caller.user,
      connection: caller.connection,
      gateway: gatewayId,
      method,
      data: frame.data ?? null,
    };
    const timeoutMs = Math.min(frame.timeout ?? Number.POSITIVE_INFINITY, this.options.timeoutMs);
    const call = { subject: subjects.rpc(method), timeoutMs, request, log: { method } };
    const answer = await askBackend(line, this.kind, call);
    if (answer.kind !== "reply") return rpcFailure(id, method, answer);
    const decision = answer.reply;
    if (!decision.ok) {
      const { code, message } = decision.error;
      return failure(id, "REFUSED", clip(message), code);
    }
    try {
      return { frame: OutboundFrame.of({ type: "rpc_result", id, data: decision.data ?? null }) };
    } catch {
      line.logger.warn({ connection: caller.connection, method }, "rpc reply is nested too deeply");
      return failure(id, "BACKEND_INVALID_REPLY", "the backend's answer is nested too deeply");
    }
  }
}

/** The `rpc_error` for a call the backend did not answer with a decision. */
function rpcFailure(id: number, method: string, answer: BackendFailure): Outcome {
  switch (answer.kind) {
    case "not_connected":
      return failure(id, "UNAVAILABLE", "NATS is not connected; try again later");
    case "unsendable":
      return answer.reason === "too_deep"
        ? failure(id, "PAYLOAD_TOO_LARGE", "data is nested too deeply to forward")
        : failure(
            id,
            "PAYLOAD_TOO_LARGE",
            `the request is over the NATS max_payload of ${answer.maxPayload} bytes`,
          );
    case "not_sent":
      return failure(id, "UNAVAILABLE", "the request could not be sent; try again later");
    case "no_responders":
      return failure(id, "NO_RESPONDERS", `nothing answers the method ${quote(method)}`);
    case "timeout":
      return failure(id, "TIMEOUT", `no answer within ${answer.timeoutMs} ms`);
    case "service_error": {
      const { code, description } = answer;
      return failure(
        id,
        "BACKEND_ERROR",
        `the backend could not answer${code ? ` (${quote(code, 8)})` : ""}${description ? `: ${quote(description)}` : ""}`,
      );
    }
    case "invalid_reply":
      return failure(id, "BACKEND_INVALID_REPLY", `the backend's answer ${answer.problem}`);
  }
}

/** The frame for the caller, and the error code it carries (for the metrics), if any. */
interface Outcome {
  readonly frame: OutboundFrame;
  readonly code?: RpcErrorCodeName;
}

/** An `rpc_error` frame. Messages quote outside text only briefly; `reason` is the backend's code. */
function rpcErrorFrame(id: number, code: RpcErrorCodeName, message: string, reason?: string): OutboundFrame {
  return OutboundFrame.of(
    reason === undefined
      ? { type: "rpc_error", id, code, message }
      : { type: "rpc_error", id, code, message, reason },
  );
}

function failure(id: number, code: RpcErrorCodeName, message: string, reason?: string): Outcome {
  return { frame: rpcErrorFrame(id, code, message, reason), code };
}
