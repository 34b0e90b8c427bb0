import { isRetryableClose } from "../protocol/close-codes.js";
import { HeraldClientError } from "./errors.js";

/**
 * The error to report for a close: the gateway's error frame that came just before it, when there
 * was one, with the close code and whether reconnecting can help.
 */
export function closeError(
  code: number,
  reason: string,
  pending: HeraldClientError | undefined,
): HeraldClientError {
  const details = { closeCode: code, retryable: isRetryableClose(code) };
  if (pending)
    return new HeraldClientError(pending.code, pending.message, { ...details, reason: pending.reason });
  if (code === 1006)
    return new HeraldClientError("CONNECTION_LOST", "the connection to the gateway was lost", details);
  return new HeraldClientError(
    "CONNECTION_CLOSED",
    `the gateway closed the connection with code ${code}${reason ? `: ${reason}` : ""}`,
    details,
  );
}

/** The WebSocket constructor threw (e.g. on a malformed URL): retrying the same URL cannot help. */
export function openError(url: string, cause: unknown): HeraldClientError {
  return new HeraldClientError("CONNECT_FAILED", `cannot open a WebSocket to ${url}: ${cause}`, {
    retryable: false,
    cause,
  });
}
