/**
 * Every `rpc_error` code the gateway sends. An RPC failure answers that one call and never closes
 * the connection. This table drives the `rpc_error` frame's schema, the client's typed RPC errors
 * and the table in docs/protocol.md (`npm run docs:tables`; a test checks it is current).
 */
interface RpcErrorEntry {
  readonly meaning: string;
  /** Whether calling again can succeed, and when. */
  readonly advice: string;
}

export const RPC_ERROR_CATALOGUE = {
  REFUSED: {
    meaning:
      'the backend answered with a refusal (`{"ok":false,"error":{…}}`): `reason` holds its code, `message` its message (cut to 64 characters)',
    advice: "as the backend's code says",
  },
  NO_RESPONDERS: {
    meaning: "nothing answers `<prefix>.rpc.<method>`: no backend serves this method, or none is running",
    advice: "later, if the method exists",
  },
  TIMEOUT: {
    meaning:
      "no answer within the call's `timeout` or `--rpc-timeout`, whichever is shorter; the backend may still have run it",
    advice: "yes, if the method is safe to run twice",
  },
  BACKEND_ERROR: {
    meaning:
      "the backend could not answer: a reply with `Nats-Service-Error` headers (the SDK sends one when a handler throws)",
    advice: "yes, with backoff",
  },
  BACKEND_INVALID_REPLY: {
    meaning:
      "the backend's reply broke the schema (not JSON, no `ok`, a refusal code outside the safe alphabet), or is over `--max-rpc-reply-bytes`",
    advice: "no (backend bug)",
  },
  TOO_MANY_IN_FLIGHT: {
    meaning:
      "the connection already has `--max-rpc-in-flight` calls waiting for an answer; this one was not sent",
    advice: "yes, once one of them is answered",
  },
  TOO_MANY_FROM_ADDRESS: {
    meaning:
      "the client's address already has `--max-in-flight-per-ip` calls and subscribes waiting for the backend, from all its connections, those closed while their calls wait included; this one was not sent",
    advice: "yes, with backoff",
  },
  DUPLICATE_ID: {
    meaning: "the connection already has a call with this `id` waiting; this one was not sent",
    advice: "no (client bug): ids must be unique among calls in flight",
  },
  PAYLOAD_TOO_LARGE: {
    meaning:
      "the request is over the NATS server's `max_payload`, or its `data` is nested too deeply to forward",
    advice: "no",
  },
  UNAVAILABLE: {
    meaning: "the gateway's NATS connection is down, or the request could not be sent",
    advice: "yes, with backoff",
  },
} as const satisfies Record<string, RpcErrorEntry>;

export type RpcErrorCodeName = keyof typeof RPC_ERROR_CATALOGUE;

export const RPC_ERROR_CODE_NAMES = Object.keys(RPC_ERROR_CATALOGUE) as RpcErrorCodeName[];
