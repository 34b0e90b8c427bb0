import { headers, type Msg } from "@nats-io/nats-core";
import {
  SERVICE_ERROR_CODE_HEADER,
  SERVICE_ERROR_CODES,
  SERVICE_ERROR_HEADER,
  type ServiceErrorCode,
} from "../protocol/index.js";
import { HeraldBackendError } from "./errors.js";

/** Why a request gets no decision, as the NATS service-error code says it. */
export type ServiceFailure = keyof typeof SERVICE_ERROR_CODES;

/**
 * Answers a request with an empty body and the NATS service-error headers: "could not answer". The
 * gateway tells its client the backend is unavailable, without the description.
 */
export function respondServiceError(
  msg: Msg,
  failure: ServiceFailure,
  description: string,
  report: (error: HeraldBackendError) => void,
): void {
  const code: ServiceErrorCode = SERVICE_ERROR_CODES[failure];
  const h = headers();
  // Header values are one line; issue texts may quote request input.
  h.set(SERVICE_ERROR_HEADER, description.replace(/\p{Cc}+/gu, " ").slice(0, 256));
  h.set(SERVICE_ERROR_CODE_HEADER, String(code));
  try {
    msg.respond(undefined, { headers: h });
  } catch (error) {
    report(
      new HeraldBackendError("REPLY_FAILED", `cannot send an error reply: ${errorMessage(error)}`, {
        cause: error,
      }),
    );
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
