import { type NatsConnection, RequestError } from "@nats-io/nats-core";
import * as v from "valibot";
import {
  formatIssues,
  MembersReply,
  OnlineReply,
  type PresenceSnapshot,
  presenceSubjects,
  SafeName,
} from "../protocol/index.js";
import { HeraldBackendError, NotConnectedError } from "./errors.js";

export interface PresenceRequestOptions {
  /** ms to wait for a gateway's answer. Default 3000. */
  timeout?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const Users = v.pipe(v.array(SafeName), v.minLength(1), v.maxLength(1000));
const Timeout = v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(600_000)), 3000);

/**
 * Asks the gateways who is online and who is in a channel: NATS request/reply on
 * `<prefix>.presence.online` and `<prefix>.presence.members`, answered by one gateway with
 * presence on (each holds every gateway's connections).
 */
export class PresenceClient {
  private readonly subjects: ReturnType<typeof presenceSubjects>;

  constructor(
    private readonly nc: NatsConnection,
    prefix: string,
  ) {
    this.subjects = presenceSubjects(prefix);
  }

  /** Which of `users` are online, each with its number of open connections; offline ones are left out. */
  async online(
    users: string | readonly string[],
    options: PresenceRequestOptions = {},
  ): Promise<Record<string, number>> {
    const list = check(Users, typeof users === "string" ? [users] : [...users], "users");
    const reply = await this.ask(this.subjects.online, { users: list }, OnlineReply, options);
    if (!reply.ok) throw new HeraldBackendError("INVALID_REQUEST", reply.error.message);
    return reply.online;
  }

  /** A shared channel's members (`room` for `channel.room`), as the gateways know them now. */
  async members(channel: string, options: PresenceRequestOptions = {}): Promise<PresenceSnapshot> {
    const name = check(SafeName, channel, "channel name");
    const reply = await this.ask(this.subjects.members, { channel: name }, MembersReply, options);
    if (!reply.ok) throw new HeraldBackendError("INVALID_REQUEST", reply.error.message);
    const { ok: _ok, channel: _channel, ...snapshot } = reply;
    return snapshot;
  }

  private async ask<S extends v.GenericSchema>(
    subject: string,
    body: unknown,
    schema: S,
    options: PresenceRequestOptions,
  ): Promise<v.InferOutput<S>> {
    const timeout = check(Timeout, options.timeout, "timeout");
    if (this.nc.isClosed()) throw new NotConnectedError("the NATS connection is closed");
    let data: Uint8Array;
    try {
      data = (await this.nc.request(subject, encoder.encode(JSON.stringify(body)), { timeout })).data;
    } catch (error) {
      const noGateway = error instanceof RequestError && error.isNoResponders();
      throw new HeraldBackendError(
        "PRESENCE_UNAVAILABLE",
        noGateway
          ? `no gateway answers ${subject}: run the gateways with --presence true`
          : `no answer on ${subject}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      const parsed = v.safeParse(schema, JSON.parse(decoder.decode(data)));
      if (parsed.success) return parsed.output;
      throw new Error(formatIssues(parsed.issues));
    } catch (error) {
      throw new HeraldBackendError(
        "PRESENCE_UNAVAILABLE",
        `invalid answer on ${subject}: ${(error as Error).message}`,
      );
    }
  }
}

function check<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const parsed = v.safeParse(schema, value);
  if (!parsed.success)
    throw new HeraldBackendError("INVALID_OPTIONS", `invalid ${what}: ${formatIssues(parsed.issues)}`);
  return parsed.output;
}
