import * as v from "valibot";
import { DEFAULT_PREFIX, formatIssues, SubjectPrefix } from "../protocol/index.js";
import { HeraldBackendError } from "./errors.js";

/** The backend SDK's options, as an application passes them, and their schemas. */

export interface HeraldBackendOptions {
  /** Subject prefix, the same as the gateway's `--prefix` (default `herald`). */
  prefix?: string;
  /**
   * Whether the gateways keep history (their `--history`, on by default). On: publish() waits for
   * the history stream's acknowledgement, retrying through failovers. Off: there is no stream to
   * acknowledge, and publish() is fire and forget (at-most-once, as delivery is then anyway).
   */
  history?: boolean;
  /** Default for every responder's `onError`; without one, problems are written to stderr. */
  onError?: (error: HeraldBackendError) => void;
}

export interface HeraldConnectOptions extends HeraldBackendOptions {
  /** NATS server URLs, e.g. `nats://127.0.0.1:4222`. */
  servers: string | readonly string[];
  /** A NATS user, with `pass`. */
  user?: string;
  pass?: string;
  token?: string;
  /** A NATS credentials file (JWT and nkey seed). */
  credsFile?: string;
  /** TLS: the CA that signed the server's certificate, and a client certificate and key if it asks for one. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Connection name shown in NATS monitoring. */
  name?: string;
  /** ms to wait for the first connection (default 5000). */
  timeout?: number;
}

export const BackendOptionsSchema = v.object({
  prefix: v.optional(SubjectPrefix, DEFAULT_PREFIX),
  history: v.optional(v.boolean(), true),
});

export const PublishOptionsSchema = v.object({
  ack: v.optional(v.boolean()),
  // A header value: no line breaks, or it could inject other headers.
  msgId: v.optional(
    v.pipe(v.string(), v.regex(/^[^\r\n]{1,256}$/, "must be 1 to 256 characters, no line breaks")),
  ),
  timeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(600_000))),
});

// Servers, credentials and TLS as the gateway and `herald publish` take them.
export const ConnectOptionsSchema = v.object({
  name: v.optional(v.string()),
  timeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 5000),
});

export function parseOptions<const TSchema extends v.GenericSchema>(
  schema: TSchema,
  input: unknown,
): v.InferOutput<TSchema> {
  const parsed = v.safeParse(schema, input);
  if (!parsed.success) {
    throw new HeraldBackendError(
      "INVALID_OPTIONS",
      `invalid backend options: ${formatIssues(parsed.issues)}`,
    );
  }
  return parsed.output;
}
