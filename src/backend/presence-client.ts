import type { NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import {
  formatIssues,
  MembersReply,
  OnlineReply,
  type PresenceSnapshot,
  presenceSubjects,
  SafeName,
} from "../protocol/index.js";
import { HeraldBackendError } from "./errors.js";
import { askGateways } from "./gateway-request.js";

export interface PresenceRequestOptions {
  /** ms to wait for a gateway's answer. Default 3000. */
  timeout?: number;
}

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

  private ask<S extends v.GenericSchema>(
    subject: string,
    body: unknown,
    schema: S,
    options: PresenceRequestOptions,
  ): Promise<v.InferOutput<S>> {
    const timeout = check(Timeout, options.timeout, "timeout");
    return askGateways(
      this.nc,
      { code: "PRESENCE_UNAVAILABLE", option: "--presence" },
      subject,
      body,
      schema,
      timeout,
    );
  }
}

function check<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const parsed = v.safeParse(schema, value);
  if (!parsed.success)
    throw new HeraldBackendError("INVALID_OPTIONS", `invalid ${what}: ${formatIssues(parsed.issues)}`);
  return parsed.output;
}
