/**
 * The NATS services convention for "could not answer": a reply with an empty body and these headers,
 * the description in the first and a status code in the second. The backend SDK answers so when it
 * cannot give a decision; a backend in another language (or a NATS micro service) may do the same.
 */
export const SERVICE_ERROR_HEADER = "Nats-Service-Error";
export const SERVICE_ERROR_CODE_HEADER = "Nats-Service-Error-Code";

/** The codes the backend SDK sends. */
export const SERVICE_ERROR_CODES = {
  /** The request is not JSON or breaks its schema (a gateway and an SDK of different versions). */
  invalidRequest: 400,
  /** The handler threw, returned no valid decision, or its reply could not be sent. */
  handlerFailed: 500,
} as const;

export type ServiceErrorCode = (typeof SERVICE_ERROR_CODES)[keyof typeof SERVICE_ERROR_CODES];

/** A reply's headers as a NATS client gives them (nats.js's `MsgHdrs` has this shape). */
export interface ReplyHeaders {
  get(name: string): string;
  /** A status message with an error code (NATS/1.0 4xx or 5xx). */
  readonly hasError: boolean;
  readonly code: number;
  readonly description: string;
}

/** What a service-error reply says; both texts come from the backend, unchecked and uncut. */
export interface ServiceError {
  /** The `Nats-Service-Error-Code`, else the status code; empty when neither is set. */
  readonly code: string;
  readonly description: string;
}

/**
 * The service error a reply carries, or undefined when it is an answer to read. Every code means the
 * same to the gateway — the SDK's 400 and 500, a micro service's own, a status with an error code:
 * the backend is up but could not answer this request now, so the client may try again (auth and
 * subscribe: `BACKEND_UNAVAILABLE`; rpc: `BACKEND_ERROR`). A refusal is a JSON body, never this.
 */
export function readServiceError(headers: ReplyHeaders | undefined): ServiceError | undefined {
  if (!headers) return undefined;
  const description = headers.get(SERVICE_ERROR_HEADER);
  if (!description && !headers.hasError) return undefined;
  return {
    code: headers.get(SERVICE_ERROR_CODE_HEADER) || (headers.code ? String(headers.code) : ""),
    description: description || headers.description || "",
  };
}
