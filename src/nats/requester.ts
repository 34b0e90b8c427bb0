import { type Msg, type MsgHdrs, type NatsConnection, RequestError, TimeoutError } from "@nats-io/nats-core";

/** The one answer to a request, told apart as its callers act on it. */
export type RequestReply =
  | { readonly kind: "reply"; readonly msg: Msg }
  | { readonly kind: "no_responders" }
  | { readonly kind: "timeout" }
  | { readonly kind: "failed"; readonly message: string; readonly cause?: unknown };

/** Sends a request and waits for its one answer. */
export interface Requester {
  request(subject: string, payload: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<RequestReply>;
}

/** Requests through the client library's own `request`, which builds an Error with a stack for each. */
export function clientRequester(nc: NatsConnection): Requester {
  return {
    async request(subject, payload, timeoutMs, headers) {
      try {
        return { kind: "reply", msg: await nc.request(subject, payload, { timeout: timeoutMs, headers }) };
      } catch (error) {
        if (error instanceof TimeoutError) return { kind: "timeout" };
        if (error instanceof RequestError && error.isNoResponders()) return { kind: "no_responders" };
        const message = error instanceof Error ? error.message : String(error);
        return { kind: "failed", message, cause: error };
      }
    },
  };
}
