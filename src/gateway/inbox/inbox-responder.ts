import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import * as v from "valibot";
import {
  formatIssues,
  INBOX_QUEUE,
  type InboxChange,
  InboxListRequest,
  InboxMarkRequest,
  type InboxSubjects,
  InboxUnreadRequest,
} from "../../protocol/index.js";
import type { Logger } from "../logger.js";
import type { InboxHub } from "./inbox-hub.js";
import type { InboxMetrics } from "./inbox-metrics.js";
import { InboxUnavailable } from "./inbox-store.js";

const decoder = new TextDecoder();
/** Users of one unread request counted at once. */
const COUNT_CONCURRENCY = 8;

export interface InboxResponderOptions {
  readonly nc: NatsConnection;
  readonly subjects: InboxSubjects;
  readonly hub: InboxHub;
  readonly metrics: InboxMetrics;
  readonly logger: Logger;
}

/**
 * Answers backends' inbox requests in the queue group `herald-inbox` (each request reaches one
 * gateway): `<prefix>.inbox.unread` (counts), `<prefix>.inbox.mark` (a mark made by the backend,
 * e.g. from an email's link) and `<prefix>.inbox.list` (a page). A user held here is answered from what this gateway holds;
 * any other is read from JetStream.
 */
export class InboxResponder {
  private readonly subscriptions: Subscription[] = [];

  constructor(private readonly options: InboxResponderOptions) {}

  start(): void {
    const { nc, subjects, hub } = this.options;
    this.subscriptions.push(
      nc.subscribe(subjects.unread, {
        queue: INBOX_QUEUE,
        callback: (err, msg) => {
          if (!err)
            this.answer(msg, "backend_unread", InboxUnreadRequest, async ({ users }) => {
              const unread: Record<string, number> = {};
              const capped: string[] = [];
              const unique = [...new Set(users)];
              for (let i = 0; i < unique.length; i += COUNT_CONCURRENCY) {
                const slice = unique.slice(i, i + COUNT_CONCURRENCY);
                const counts = await Promise.all(slice.map((user) => hub.unreadOf(user)));
                slice.forEach((user, j) => {
                  const count = counts[j]!;
                  unread[user] = count.unread;
                  if (count.capped) capped.push(user);
                });
              }
              return { ok: true, unread, capped };
            });
        },
      }),
      nc.subscribe(subjects.mark, {
        queue: INBOX_QUEUE,
        callback: (err, msg) => {
          if (!err)
            this.answer(msg, "backend_mark", InboxMarkRequest, async (request) => {
              const change: InboxChange =
                request.ids === undefined
                  ? { state: request.state, upTo: request.upTo }
                  : { state: request.state, ids: request.ids };
              await hub.markFor(request.user, change);
              return { ok: true };
            });
        },
      }),
      nc.subscribe(subjects.list, {
        queue: INBOX_QUEUE,
        callback: (err, msg) => {
          if (!err)
            this.answer(msg, "backend_list", InboxListRequest, async ({ user, ...query }) => {
              const { items, more, count } = await hub.pageFor(user, query);
              return {
                ok: true,
                items,
                unread: count.unread,
                ...(count.capped ? { capped: true } : {}),
                more,
              };
            });
        },
      }),
    );
  }

  stop(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  private answer<S extends v.GenericSchema>(
    msg: Msg,
    kind: string,
    schema: S,
    reply: (request: v.InferOutput<S>) => Promise<unknown>,
  ): void {
    if (!msg.reply) return;
    const { metrics, logger } = this.options;
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(msg.data));
    } catch {
      metrics.requests.inc({ kind, result: "INVALID_REQUEST" });
      return this.respond(msg, { ok: false, error: { code: "INVALID_REQUEST", message: "not JSON" } });
    }
    const parsed = v.safeParse(schema, json);
    if (!parsed.success) {
      metrics.requests.inc({ kind, result: "INVALID_REQUEST" });
      return this.respond(msg, {
        ok: false,
        error: { code: "INVALID_REQUEST", message: formatIssues(parsed.issues) },
      });
    }
    const started = performance.now();
    reply(parsed.output).then(
      (body) => {
        metrics.requests.inc({ kind, result: "ok" });
        metrics.requestSeconds.observe({ kind }, (performance.now() - started) / 1000);
        this.respond(msg, body);
      },
      (err: Error) => {
        metrics.requests.inc({ kind, result: "UNAVAILABLE" });
        if (!(err instanceof InboxUnavailable)) logger.error({ err }, `inbox ${kind} failed`);
        this.respond(msg, {
          ok: false,
          error: { code: "UNAVAILABLE", message: "the inbox is not reachable right now; try again" },
        });
      },
    );
  }

  private respond(msg: Msg, body: unknown): void {
    try {
      msg.respond(JSON.stringify(body));
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, "inbox reply not sent");
    }
  }
}
