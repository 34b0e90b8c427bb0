import type { Msg, NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import { RequestMux } from "../../nats/request-mux.js";
import {
  clip,
  formatIssues,
  quote,
  type RpcErrorCodeName,
  type RpcFrame,
  RpcReply,
  type RpcRequest,
  type Subjects,
} from "../../protocol/index.js";
import { OutboundFrame } from "../delivery/outbound-frame.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";

/** Who calls: an authenticated connection. */
export interface RpcCaller {
  readonly user: string;
  readonly connection: string;
}

export interface RpcRelayOptions {
  readonly nc: NatsConnection;
  /** False while NATS is away: then the call fails at once instead of waiting out its timeout. */
  readonly isConnected: () => boolean;
  readonly subjects: Subjects;
  readonly logger: Logger;
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
  private readonly mux: RequestMux;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private readonly nc: NatsConnection;
  private readonly isConnected: () => boolean;
  private readonly subjects: Subjects;
  private readonly logger: Logger;
  private readonly metrics: GatewayMetrics;

  constructor(private readonly options: RpcRelayOptions) {
    ({
      nc: this.nc,
      isConnected: this.isConnected,
      subjects: this.subjects,
      logger: this.logger,
      metrics: this.metrics,
    } = options);
    this.mux = new RequestMux(this.nc);
  }

  /** The frame that answers `frame`: resolves once the backend answered or the call failed. */
  async answer(caller: RpcCaller, frame: RpcFrame): Promise<OutboundFrame> {
    const started = performance.now();
    const outcome = await this.ask(caller, frame);
    this.metrics.rpcResults.inc({ result: outcome.code ?? "result" });
    this.metrics.rpcLatency.observe((performance.now() - started) / 1000);
    return outcome.frame;
  }

  /** An `rpc_error` for a call refused before it was sent (a connection's own limits), counted. */
  refusal(
    id: number,
    code: "TOO_MANY_IN_FLIGHT" | "TOO_MANY_FROM_ADDRESS" | "DUPLICATE_ID",
    message: string,
  ): OutboundFrame {
    this.metrics.rpcResults.inc({ result: code });
    return rpcErrorFrame(id, code, message);
  }

  /** Pending calls are answered with `UNAVAILABLE` (the gateway is stopping). */
  close(): void {
    this.mux.close();
  }

  private async ask(caller: RpcCaller, frame: RpcFrame): Promise<Outcome> {
    const { id, method } = frame;
    if (!this.isConnected()) return failure(id, "UNAVAILABLE", "NATS is not connected; try again later");
    const request: RpcRequest = {
      user: caller.user,
      connection: caller.connection,
      gateway: this.options.gatewayId,
      method,
      data: frame.data ?? null,
    };
    let body: Uint8Array;
    try {
      body = this.encoder.encode(JSON.stringify(request));
    } catch {
      // JSON.parse takes nesting that JSON.stringify cannot give back (a stack overflow)
      return failure(id, "PAYLOAD_TOO_LARGE", "data is nested too deeply to forward");
    }
    const maxPayload = this.nc.info?.max_payload;
    if (maxPayload !== undefined && body.length > maxPayload)
      return failure(
        id,
        "PAYLOAD_TOO_LARGE",
        `the request is over the NATS max_payload of ${maxPayload} bytes`,
      );
    const timeoutMs = Math.min(frame.timeout ?? Number.POSITIVE_INFINITY, this.options.timeoutMs);
    const answer = await this.mux.request(this.subjects.rpc(method), body, timeoutMs);
    switch (answer.kind) {
      case "reply":
        return this.read(caller, frame, answer.msg);
      case "no_responders":
        return failure(id, "NO_RESPONDERS", `nothing answers the method ${quote(method)}`);
      case "timeout":
        this.logger.warn({ connection: caller.connection, method, timeoutMs }, "rpc not answered in time");
        return failure(id, "TIMEOUT", `no answer within ${timeoutMs} ms`);
      case "failed":
        this.logger.warn(
          { connection: caller.connection, method, err: clip(answer.message) },
          "rpc request not sent",
        );
        return failure(id, "UNAVAILABLE", "the request could not be sent; try again later");
    }
  }

  /** The backend's reply, checked against the schema and the size bound, as a frame for the caller. */
  private read(caller: RpcCaller, frame: RpcFrame, reply: Msg): Outcome {
    const { id, method } = frame;
    const log = { connection: caller.connection, method };
    const serviceError = reply.headers?.get("Nats-Service-Error");
    if (reply.headers?.hasError || serviceError) {
      // The NATS service convention for "could not answer".
      const code = reply.headers?.get("Nats-Service-Error-Code") || String(reply.headers?.code ?? "");
      const description = serviceError || reply.headers?.description || "";
      this.logger.warn({ ...log, code: clip(code), description: clip(description) }, "rpc service error");
      return failure(
        id,
        "BACKEND_ERROR",
        `the backend could not answer${code ? ` (${quote(code, 8)})` : ""}${description ? `: ${quote(description)}` : ""}`,
      );
    }
    if (reply.data.length > this.options.maxReplyBytes) {
      this.logger.warn({ ...log, bytes: reply.data.length }, "rpc reply over --max-rpc-reply-bytes");
      return failure(
        id,
        "BACKEND_INVALID_REPLY",
        `the backend's answer is over ${this.options.maxReplyBytes} bytes`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(this.decoder.decode(reply.data));
    } catch {
      this.logger.warn({ ...log, bytes: reply.data.length }, "rpc reply is not JSON");
      return failure(id, "BACKEND_INVALID_REPLY", "the backend's answer is not JSON");
    }
    const parsed = v.safeParse(RpcReply, json);
    if (!parsed.success) {
      const issues = formatIssues(parsed.issues);
      this.logger.warn({ ...log, issues }, "rpc reply is invalid");
      return failure(id, "BACKEND_INVALID_REPLY", `the backend's answer is invalid: ${issues}`);
    }
    const decision = parsed.output;
    if (!decision.ok) {
      const { code, message } = decision.error;
      return failure(id, "REFUSED", clip(message), code);
    }
    try {
      return { frame: OutboundFrame.of({ type: "rpc_result", id, data: decision.data ?? null }) };
    } catch {
      this.logger.warn(log, "rpc reply is nested too deeply");
      return failure(id, "BACKEND_INVALID_REPLY", "the backend's answer is nested too deeply");
    }
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
