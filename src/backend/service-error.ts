import { headers, type Msg } from "@nats-io/nats-core";
import { HeraldBackendError } from "./errors.js";

const SERVICE_ERROR = "Nats-Service-Error";
const SERVICE_ERROR_CODE = "Nats-Service-Error-Code";

/**
 * Answers a request with an empty body and the NATS service-error headers: "could not answer". The
 * gateway tells its client the backend is unavailable, without the description.
 */
export function respondServiceError(
  msg: Msg,
  code: 400 | 500,
  description: string,
  report: (error: HeraldBackendError) => void,
): void {
  const h = headers();
  // Header values are one line; issue texts may quote request input.
  h.set(SERVICE_ERROR, description.replace(/\p{Cc}+/gu, " ").slice(0, 256));
  h.set(SERVICE_ERROR_CODE, String(code));
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
