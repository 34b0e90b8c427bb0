import { SAFE_NAME_PATTERN } from "../protocol/name-pattern.js";
import type { RpcErrorCodeName } from "../protocol/rpc-error-codes.js";
import type { RpcResultFrame } from "../protocol/server-frames.js";
import { HeraldClientError } from "./errors.js";
import type { Transport } from "./websocket.js";

export interface RpcOptions {
  /** ms to wait for the answer, waiting for a connection included. Default 10 000. */
  timeout?: number;
}

/**
 * Why a call failed: the gateway's `rpc_error` code (docs/protocol.md), or one of the client's own:
 * - `RPC_INTERRUPTED`: the connection ended after the call was sent: the backend may or may not have
 *   run it;
 * - `NOT_CONNECTED`: the client closed (`close()`, or stopped after a failure) before the call was sent;
 * - `INVALID_METHOD`: the method is not a safe name (1 to 128 of A-Z a-z 0-9 _ - : @ = +);
 * - `INVALID_DATA`: `data` cannot be sent as JSON (a BigInt, a cycle);
 * - `TIMEOUT` and `PAYLOAD_TOO_LARGE` (over the gateway's frame limit) may also come from the client.
 */
export type RpcErrorCode =
  | RpcErrorCodeName
  | "RPC_INTERRUPTED"
  | "NOT_CONNECTED"
  | "INVALID_METHOD"
  | "INVALID_DATA"
  | (string & {});

/** Calling again cannot help after these (`retryable: false`). */
const FINAL = new Set<string>([
  "REFUSED",
  "BACKEND_INVALID_REPLY",
  "DUPLICATE_ID",
  "PAYLOAD_TOO_LARGE",
  "INVALID_METHOD",
  "INVALID_DATA",
]);

/**
 * How `client.rpc()` rejects. `retryable` says whether calling again can succeed; `reason` is the
 * backend's own code when it refused (`REFUSED`).
 */
export class HeraldRpcError extends HeraldClientError {
  override readonly name = "HeraldRpcError";
  declare readonly code: RpcErrorCode;

  constructor(
    readonly method: string,
    code: RpcErrorCode,
    message: string,
    reason?: string,
  ) {
    super(code, message, { retryable: !FINAL.has(code), ...(reason === undefined ? {} : { reason }) });
  }
}

/** The gateway's rpc_error, as the client checks it (any code: a newer gateway may have more). */
export type GatewayRpcErrorFrame = {
  type: "rpc_error";
  id: number;
  code: string;
  message: string;
  reason?: string;
};

interface Call {
  readonly method: string;
  readonly data: unknown;
  readonly deadline: number;
  readonly resolve: (data: unknown) => void;
  readonly reject: (error: HeraldRpcError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  /** Sent on the current connection: its end interrupts it. */
  sent: boolean;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The client's calls by id. A call waits for a ready connection (within its timeout), is sent once,
 * and is never sent again: when its connection ends before the answer it fails with
 * `RPC_INTERRUPTED`, since the backend may already have run it.
 */
export class PendingCalls {
  private nextId = 1;
  private readonly calls = new Map<number, Call>();
  /** The ready connection calls go out on; undefined while there is none. */
  private transport: Transport | undefined;
  /** Its gateway's `--max-frame-bytes`, from `ready`. */
  private maxFrameBytes: number | undefined;

  call(method: string, data: unknown, options: RpcOptions = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (typeof method !== "string" || !SAFE_NAME_PATTERN.test(method))
        return reject(new HeraldRpcError(String(method), "INVALID_METHOD", "not a safe method name"));
      const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
      const id = this.nextId++;
      const timer = setTimeout(
        () => this.finish(id, new HeraldRpcError(method, "TIMEOUT", `no answer within ${timeout} ms`)),
        timeout,
      );
      this.calls.set(id, {
        method,
        data,
        deadline: Date.now() + timeout,
        resolve,
        reject,
        timer,
        sent: false,
      });
      this.send(id);
    });
  }

  /** A ready connection: calls that waited for one go out on it, in order. */
  ready(transport: Transport, maxFrameBytes: number | undefined): void {
    this.transport = transport;
    this.maxFrameBytes = maxFrameBytes;
    for (const [id, call] of this.calls) if (!call.sent) this.send(id);
  }

  settle(frame: RpcResultFrame | GatewayRpcErrorFrame): void {
    const call = this.calls.get(frame.id);
    if (!call?.sent) return; // late, after a timeout or an interruption
    if (frame.type === "rpc_result") this.finish(frame.id, undefined, frame.data);
    else this.finish(frame.id, new HeraldRpcError(call.method, frame.code, frame.message, frame.reason));
  }

  /** The connection ended: what was sent on it will not be answered; the rest waits for the next. */
  interrupt(): void {
    this.transport = undefined;
    for (const [id, call] of this.calls)
      if (call.sent)
        this.finish(
          id,
          new HeraldRpcError(call.method, "RPC_INTERRUPTED", "the connection ended before the answer"),
        );
  }

  /** The client stopped: every call fails. */
  stop(): void {
    for (const [id, call] of this.calls)
      this.finish(id, new HeraldRpcError(call.method, "NOT_CONNECTED", "the client is closed"));
  }

  private send(id: number): void {
    const { transport, maxFrameBytes } = this;
    const call = this.calls.get(id);
    if (!transport || !call) return;
    let text: string;
    try {
      const timeout = Math.max(1, call.deadline - Date.now());
      text = JSON.stringify({ type: "rpc", id, method: call.method, data: call.data, timeout });
    } catch (err) {
      return this.finish(id, new HeraldRpcError(call.method, "INVALID_DATA", `data is not JSON: ${err}`));
    }
    // Over the gateway's limit the whole connection would close (1009): refuse the call instead.
    if (maxFrameBytes !== undefined && new TextEncoder().encode(text).length > maxFrameBytes)
      return this.finish(
        id,
        new HeraldRpcError(call.method, "PAYLOAD_TOO_LARGE", `over the gateway's ${maxFrameBytes} bytes`),
      );
    // Not sent on a transport already closing: the call waits for the next ready connection.
    call.sent = transport.send(text);
  }

  private finish(id: number, error: HeraldRpcError | undefined, data?: unknown): void {
    const call = this.calls.get(id);
    if (!call) return;
    this.calls.delete(id);
    clearTimeout(call.timer);
    if (error) call.reject(error);
    else call.resolve(data);
  }
}
