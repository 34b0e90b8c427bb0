import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import * as v from "valibot";
import {
  formatIssues,
  MembersRequest,
  OnlineRequest,
  PRESENCE_QUEUE,
  presenceSubjects,
  sharedChannel,
} from "../../../protocol/index.js";
import type { Logger } from "../../logger.js";
import type { PresenceIndex } from "./presence-index.js";

const decoder = new TextDecoder();

export interface PresenceResponderOptions {
  readonly nc: NatsConnection;
  /** The subject prefix its presence requests come on. */
  readonly prefix: string;
  /** This gateway's replica of who is online, from which it answers. */
  readonly index: PresenceIndex;
  /** `--presence-max-listed`: the most connections one answer lists. */
  readonly maxListed: number;
  readonly logger: Logger;
}

/**
 * Answers backends' presence requests from this gateway's index, in the queue group
 * `herald-presence` (each request reaches one gateway; every gateway's index holds everyone):
 * `<prefix>.presence.online` and `<prefix>.presence.members`. Started once the index is loaded.
 */
export class PresenceResponder {
  private readonly subscriptions: Subscription[] = [];

  private readonly nc: NatsConnection;
  private readonly prefix: string;
  private readonly index: PresenceIndex;
  private readonly maxListed: number;
  private readonly logger: Logger;

  constructor({ nc, prefix, index, maxListed, logger }: PresenceResponderOptions) {
    this.nc = nc;
    this.prefix = prefix;
    this.index = index;
    this.maxListed = maxListed;
    this.logger = logger;
  }

  start(): void {
    const subjects = presenceSubjects(this.prefix);
    this.subscriptions.push(
      this.nc.subscribe(subjects.online, {
        queue: PRESENCE_QUEUE,
        callback: (err, msg) => {
          if (!err)
            this.answer(msg, OnlineRequest, (request) => ({
              ok: true,
              online: this.index.onlineOf(request.users),
            }));
        },
      }),
      this.nc.subscribe(subjects.members, {
        queue: PRESENCE_QUEUE,
        callback: (err, msg) => {
          if (!err)
            this.answer(msg, MembersRequest, (request) => ({
              ok: true,
              channel: request.channel,
              ...this.index.membersOf(sharedChannel(request.channel), this.maxListed),
            }));
        },
      }),
    );
  }

  stop(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  private answer<S extends v.GenericSchema>(
    msg: Msg,
    schema: S,
    reply: (request: v.InferOutput<S>) => unknown,
  ): void {
    if (!msg.reply) return;
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(msg.data));
    } catch {
      return this.respond(msg, { ok: false, error: { code: "INVALID_REQUEST", message: "not JSON" } });
    }
    const parsed = v.safeParse(schema, json);
    if (!parsed.success)
      return this.respond(msg, {
        ok: false,
        error: { code: "INVALID_REQUEST", message: formatIssues(parsed.issues) },
      });
    this.respond(msg, reply(parsed.output));
  }

  private respond(msg: Msg, body: unknown): void {
    try {
      msg.respond(JSON.stringify(body));
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "presence reply not sent");
    }
  }
}
