import * as v from "valibot";
import type { RequestMux } from "../../nats/request-mux.js";
import { type AuthRefused, formatIssues } from "../../protocol/index.js";
import type { Logger } from "../logger.js";

/** What a request to the backend came to, before its meaning is read. */
export type BackendAnswer<T> =
  | { readonly kind: "reply"; readonly reply: T }
  | { readonly kind: "unavailable"; readonly message: string }
  | { readonly kind: "invalid_reply"; readonly message: string };

/** One kind of request/reply with the backend: its subject, what its replies must be, how long to wait. */
export interface BackendRequestKind<S extends v.GenericSchema> {
  /** For messages and logs: `auth`, `subscribe`. */
  readonly what: string;
  readonly subject: string;
  readonly reply: S;
  readonly timeoutMs: number;
}

const decoder = new TextDecoder();

/**
 * Sends one request to the backend over `mux` and reads its reply with the schema. No responders,
 * no reply in time, NATS away, and the NATS service-error convention (the backend is up but cannot
 * answer) are `unavailable`: the client may try again. A reply that is not JSON or breaks the
 * schema is `invalid_reply`. Logged with the connection id, quoting the backend only briefly.
 */
export async function askBackend<S extends v.GenericSchema>(
  mux: RequestMux,
  isConnected: () => boolean,
  kind: BackendRequestKind<S>,
  request: { readonly connection: string },
  logger: Logger,
): Promise<BackendAnswer<v.InferOutput<S>>> {
  if (!isConnected()) return { kind: "unavailable", message: "NATS is not connected" };
  // Buffer.from takes a small body from Node's shared pool, where TextEncoder allocates one of its own.
  const body = Buffer.from(JSON.stringify(request));
  const answer = await mux.request(kind.subject, body, kind.timeoutMs);
  if (answer.kind !== "reply") {
    const message =
      answer.kind === "no_responders"
        ? `no backend is answering ${kind.what} requests`
        : answer.kind === "timeout"
          ? `the backend did not answer within ${kind.timeoutMs} ms`
          : `${kind.what} request failed: ${answer.message}`;
    logger.warn({ connection: request.connection }, message);
    return { kind: "unavailable", message };
  }
  const msg = answer.msg;
  const serviceError = msg.headers?.get("Nats-Service-Error");
  if (msg.headers?.hasError || serviceError) {
    // The NATS service convention for "could not answer": the backend is up but cannot decide now.
    const code = msg.headers?.get("Nats-Service-Error-Code") || String(msg.headers?.code ?? "");
    const description = (serviceError || msg.headers?.description || "").slice(0, 64);
    logger.warn(
      { connection: request.connection, code, description },
      `backend answered a ${kind.what} request with a service error; the client will retry`,
    );
    return { kind: "unavailable", message: "the backend could not answer" };
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(msg.data));
  } catch {
    logger.error(
      { connection: request.connection, bytes: msg.data.length },
      `backend ${kind.what} reply is not JSON`,
    );
    return { kind: "invalid_reply", message: `the backend's ${kind.what} reply is not JSON` };
  }
  const parsed = v.safeParse(kind.reply, json);
  if (!parsed.success) {
    const issues = formatIssues(parsed.issues);
    logger.error({ connection: request.connection, issues }, `backend ${kind.what} reply is invalid`);
    return { kind: "invalid_reply", message: `the backend's ${kind.what} reply is invalid: ${issues}` };
  }
  return { kind: "reply", reply: parsed.output };
}

/** What a backend's refusal comes to: final, or, with `temporary`, "cannot decide now" (retry later). */
export type RefusalOutcome =
  | { readonly kind: "refused"; readonly code: string; readonly message: string }
  | { readonly kind: "unavailable"; readonly message: string };

export function readRefusal(
  error: AuthRefused["error"],
  kind: { readonly what: string },
  request: { readonly connection: string },
  logger: Logger,
): RefusalOutcome {
  if (error.temporary !== true) return { kind: "refused", code: error.code, message: error.message };
  logger.warn(
    { connection: request.connection, code: error.code.slice(0, 64) },
    `backend cannot decide a ${kind.what} request now (temporary refusal); the client will retry`,
  );
  return { kind: "unavailable", message: "the backend cannot decide now" };
}
