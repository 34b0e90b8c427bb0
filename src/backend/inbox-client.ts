import type { NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import {
  formatIssues,
  INBOX_LIST_MAX,
  INBOX_MARK_STATES,
  INBOX_UNREAD_MAX_USERS,
  type InboxItem,
  InboxListReply,
  InboxMarkReply,
  type InboxMarkState,
  type InboxSubjects,
  InboxUnreadReply,
  inboxMarkProblem,
  inboxSubjects,
  isSafeName,
  NotificationId,
  UnsafeNameError,
} from "../protocol/index.js";
import { HeraldBackendError } from "./errors.js";
import { askGateways } from "./gateway-request.js";
import { DEFAULT_PUBLISH_TIMEOUT_MS, type Publisher } from "./publisher.js";

export interface NotifyOptions {
  /**
   * Idempotency key (`Nats-Msg-Id`): a notify repeated with the same id within the inbox stream's
   * duplicate window (2 minutes) is stored once. Generated when unset.
   */
  id?: string;
  /** ms to keep trying, retries included, before rejecting (default 15000, longer than an election). */
  timeout?: number;
}

/** A stored notification. */
export interface Notified {
  /** Its id: its inbox stream sequence, as clients see it (`notification.id`); ids grow with time. */
  readonly id: number;
  /** True when `options.id` was stored already: nothing new was stored, `id` is the first one's. */
  readonly duplicate: boolean;
}

/** A mark: the notifications `ids`, or all up to `upTo`, take `state` (`unread` takes ids only). */
export type InboxMark =
  | { readonly state: InboxMarkState; readonly ids: readonly number[]; readonly upTo?: undefined }
  | { readonly state: Exclude<InboxMarkState, "unread">; readonly upTo: number; readonly ids?: undefined };

/** A user's unread notifications: exact up to the gateways' cap (`--inbox-unread-cap`), `capped` above. */
export interface UnreadCount {
  readonly unread: number;
  readonly capped: boolean;
}

/** A page of a user's inbox, newest first. */
export interface InboxPage {
  readonly items: readonly InboxItem[];
  readonly unread: number;
  readonly capped: boolean;
  /** Older items follow: ask again with `before` = the last item's id. */
  readonly more: boolean;
}

export interface InboxPageOptions extends InboxRequestOptions {
  /** Items older than this id (default: the newest first). */
  before?: number;
  /** Items in the page, 1 to 100 (default 20). */
  limit?: number;
  /** List archived notifications too (left out by default). */
  archived?: boolean;
}

export interface InboxRequestOptions {
  /** ms to wait for a gateway's answer. Default 5000. */
  timeout?: number;
}

const Users = v.pipe(v.array(v.string()), v.minLength(1), v.maxLength(INBOX_UNREAD_MAX_USERS));
const Timeout = v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(600_000)), 5000);
const Notify = v.object({
  id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(256))),
  timeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), DEFAULT_PUBLISH_TIMEOUT_MS),
});
const Page = v.object({
  before: v.optional(NotificationId),
  limit: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(INBOX_LIST_MAX))),
  archived: v.optional(v.boolean()),
});
const Mark = v.object({
  ids: v.optional(v.pipe(v.array(NotificationId), v.minLength(1), v.maxLength(100))),
  upTo: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0))),
  state: v.picklist(INBOX_MARK_STATES),
});

/**
 * The notification inbox from a backend: `notify` stores a notification for a user (an
 * acknowledged, deduplicated JetStream publish on `<prefix>.notify.<user>`); `unread` and `mark`
 * are NATS requests on `<prefix>.inbox.unread` and `<prefix>.inbox.mark`, answered by one gateway
 * with `--inbox true`.
 */
export class InboxClient {
  private readonly subjects: InboxSubjects;

  constructor(
    private readonly nc: NatsConnection,
    prefix: string,
    /** The backend's publisher: its acknowledged publish, retries and errors. */
    private readonly publisher: Publisher,
  ) {
    this.subjects = inboxSubjects(prefix);
  }

  async notify(user: string, data: unknown, options: NotifyOptions = {}): Promise<Notified> {
    const name = safe(user);
    const { id, timeout } = check(Notify, options, "notify options");
    const stored = await this.publisher.store(this.subjects.notify(name), data, {
      timeout,
      ...(id === undefined ? {} : { msgId: id }),
    });
    return { id: stored.seq, duplicate: stored.duplicate };
  }

  async unread(
    users: string | readonly string[],
    options: InboxRequestOptions = {},
  ): Promise<Record<string, UnreadCount>> {
    const list = check(Users, typeof users === "string" ? [users] : [...users], "users").map(safe);
    const reply = await this.ask(this.subjects.unread, { users: list }, InboxUnreadReply, options);
    if (!reply.ok) throw new HeraldBackendError(codeOf(reply.error.code), reply.error.message);
    const capped = new Set(reply.capped);
    const counts: Record<string, UnreadCount> = {};
    for (const [user, unread] of Object.entries(reply.unread))
      counts[user] = { unread, capped: capped.has(user) };
    return counts;
  }

  async mark(user: string, mark: InboxMark, options: InboxRequestOptions = {}): Promise<void> {
    const name = safe(user);
    const parsed = check(Mark, mark, "mark");
    const problem = inboxMarkProblem(parsed);
    if (problem) throw new HeraldBackendError("INVALID_OPTIONS", `invalid mark: ${problem}`);
    const reply = await this.ask(this.subjects.mark, { user: name, ...parsed }, InboxMarkReply, options);
    if (!reply.ok) throw new HeraldBackendError(codeOf(reply.error.code), reply.error.message);
  }

  async page(user: string, options: InboxPageOptions = {}): Promise<InboxPage> {
    const name = safe(user);
    const { timeout, ...rest } = options;
    const query = check(Page, rest, "page options");
    const reply = await this.ask(this.subjects.list, { user: name, ...query }, InboxListReply, { timeout });
    if (!reply.ok) throw new HeraldBackendError(codeOf(reply.error.code), reply.error.message);
    return { items: reply.items, unread: reply.unread, capped: reply.capped ?? false, more: reply.more };
  }

  private ask<S extends v.GenericSchema>(
    subject: string,
    body: unknown,
    schema: S,
    options: { timeout?: number | undefined },
  ): Promise<v.InferOutput<S>> {
    const timeout = check(Timeout, options.timeout, "timeout");
    return askGateways(
      this.nc,
      { code: "INBOX_UNAVAILABLE", option: "--inbox" },
      subject,
      body,
      schema,
      timeout,
    );
  }
}

function codeOf(code: "INVALID_REQUEST" | "UNAVAILABLE"): "INVALID_OPTIONS" | "INBOX_UNAVAILABLE" {
  return code === "INVALID_REQUEST" ? "INVALID_OPTIONS" : "INBOX_UNAVAILABLE";
}

/** A user id from the safe alphabet, or UnsafeNameError (as everywhere in the SDK). */
function safe(user: string): string {
  if (!isSafeName(user)) throw new UnsafeNameError(user);
  return user;
}

function check<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const parsed = v.safeParse(schema, value);
  if (!parsed.success)
    throw new HeraldBackendError("INVALID_OPTIONS", `invalid ${what}: ${formatIssues(parsed.issues)}`);
  return parsed.output;
}
