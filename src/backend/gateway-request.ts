import { type NatsConnection, RequestError } from "@nats-io/nats-core";
import * as v from "valibot";
import { formatIssues } from "../protocol/index.js";
import { HeraldBackendError, type HeraldBackendErrorCode, NotConnectedError } from "./errors.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a request answered by the gateways (presence, the inbox) fails with, and the option that serves it. */
export interface GatewayFeature {
  readonly code: HeraldBackendErrorCode;
  /** The gateways' option that makes them answer, named when none does. */
  readonly option: string;
}

/**
 * A request/reply answered by any gateway of the prefix: the answer checked against `schema`; no
 * answer, no gateway or an invalid answer is `feature.code` with what went wrong.
 */
export async function askGateways<S extends v.GenericSchema>(
  nc: NatsConnection,
  feature: GatewayFeature,
  subject: string,
  body: unknown,
  schema: S,
  timeout: number,
): Promise<v.InferOutput<S>> {
  if (nc.isClosed()) throw new NotConnectedError("the NATS connection is closed");
  let data: Uint8Array;
  try {
    data = (await nc.request(subject, encoder.encode(JSON.stringify(body)), { timeout })).data;
  } catch (error) {
    const noGateway = error instanceof RequestError && error.isNoResponders();
    throw new HeraldBackendError(
      feature.code,
      noGateway
        ? `no gateway answers ${subject}: run the gateways with ${feature.option} true`
        : `no answer on ${subject}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    const parsed = v.safeParse(schema, JSON.parse(decoder.decode(data)));
    if (parsed.success) return parsed.output;
    throw new Error(formatIssues(parsed.issues));
  } catch (error) {
    throw new HeraldBackendError(feature.code, `invalid answer on ${subject}: ${(error as Error).message}`);
  }
}
