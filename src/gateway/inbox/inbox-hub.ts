import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import type {
  InboxChange,
  InboxItem,
  InboxListFrame,
  InboxMarkFrame,
  InboxRecover,
} from "../../protocol/index.js";
import type { TrackedConnection } from "../gateway-context.js";
import type { Logger } from "../logger.js";
import type { InboxConnections } from "./inbox-connections.js";
import { inboxErrorFrame, markedFrame, type UnreadCount } from "./inbox-frames.js";
import { type CountSettings, countUnread, detachedTarget, markInbox, pageDetached } from "./inbox-marks.js";
import type { InboxMetrics } from "./inbox-metrics.js";
import type { PageQuery } from "./inbox-pages.js";
import { type InboxStore, InboxUnavailable } from "./inbox-store.js";
import { type InboxDeps, type InboxMember, UserInbox } from "./user-inbox.js";

/** Inbox requests one connection may have under way; more are answered `TOO_MANY_REQUESTS`. */
export const MAX_INBOX_IN_FLIGHT = 4;
/** A refusal is logged at most this often per gateway. */
const REFUSAL_LOG_MS = 10_000;

export interface InboxHubOptions extends InboxDeps {
  readonly nc: NatsConnection;
}

/**
 * Every user's inbox this gateway holds: one `UserInbox` per user with connections here, made at
 * the user's first connection and let go of at its last. Connections' frames and the backend's
 * requests go to it; a user no connection here holds is read from JetStream.
 *
 * Two NATS subscriptions for every user, made once (the live copies of all notifications and of
 * all state records, `<prefix>.live.notify.*` and `<prefix>.live.inboxstate.*`), handed to the
 * user held by a map lookup: a connect makes no subscription. The cost is that every gateway gets
 * every notification and every mark once, whether it holds the user or not.
 */
export class InboxHub implements InboxConnections {
  private readonly users = new Map<string, UserInbox>();
  private readonly members = new Map<TrackedConnection, InboxMember>();
  private readonly deps: InboxDeps;
  private readonly subscriptions: Subscription[];
  private readonly nc: NatsConnection;
  private lastRefusalLog = 0;

  private readonly store: InboxStore;
  private readonly logger: Logger;
  private readonly metrics: InboxMetrics;

  constructor(options: InboxHubOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.metrics = options.metrics;
    const { nc, ...deps } = options;
    this.nc = nc;
    this.deps = deps;
    const { subjects } = options.store;
    const userOf = (subject: string) => subject.slice(subject.lastIndexOf(".") + 1);
    this.subscriptions = [
      nc.subscribe(subjects.liveNotifyAll, {
        callback: (err, msg) => {
          if (!err) this.users.get(userOf(msg.subject))?.liveNotification(msg);
        },
      }),
      nc.subscribe(subjects.liveStateAll, {
        callback: (err, msg) => {
          if (!err) this.users.get(userOf(msg.subject))?.liveState(msg);
        },
      }),
    ];
  }

  /** The user's inbox is loaded (the first connection of the user here) while the channels are joined. */
  joining(connection: TrackedConnection): void {
    const user = connection.user;
    if (user === undefined || this.members.has(connection)) return;
    const inbox = this.inboxOf(user);
    // Held from now on: nothing goes out before `ready`.
    const member: InboxMember = { connection, inFlight: 0, held: [], hasUpTo: 0 };
    this.members.set(connection, member);
    inbox.add(member);
  }

  ready(connection: TrackedConnection, recover: InboxRecover | undefined): void {
    const member = this.members.get(connection);
    const user = connection.user;
    const inbox = user === undefined ? undefined : this.users.get(user);
    if (!member || !inbox) return;
    inbox.join(member, recover)?.catch((err: Error) => {
      this.logger.error({ connection: connection.id, user, err: err.message }, "inbox not loaded");
      connection.fail("BACKEND_UNAVAILABLE", "the inbox is not reachable right now; try again later");
    });
  }

  closed(connection: TrackedConnection): void {
    const member = this.members.get(connection);
    if (!member || connection.user === undefined) return;
    this.members.delete(connection);
    const inbox = this.users.get(connection.user);
    if (!inbox) return;
    inbox.remove(member);
    if (!inbox.isEmpty) return;
    inbox.close();
    this.users.delete(connection.user);
    this.metrics.users.set(this.users.size);
  }

  request(connection: TrackedConnection, frame: InboxListFrame | InboxMarkFrame): void {
    const member = this.members.get(connection);
    const inbox = connection.user === undefined ? undefined : this.users.get(connection.user);
    const kind = frame.type === "inbox_list" ? "list" : "mark";
    if (!member || !inbox) return connection.send(inboxErrorFrame(frame.id, "UNAVAILABLE", "no inbox yet"));
    if (member.inFlight >= MAX_INBOX_IN_FLIGHT) {
      this.metrics.requests.inc({ kind, result: "TOO_MANY_REQUESTS" });
      this.logRefusal(connection);
      return connection.send(
        inboxErrorFrame(
          frame.id,
          "TOO_MANY_REQUESTS",
          `at most ${MAX_INBOX_IN_FLIGHT} inbox requests at once`,
        ),
      );
    }
    member.inFlight++;
    const started = performance.now();
    const answered =
      frame.type === "inbox_list"
        ? inbox.list(frame)
        : inbox.mark(changeOf(frame)).then(() => markedFrame(frame.id));
    answered
      .then(
        (answer) => {
          this.metrics.requests.inc({ kind, result: "ok" });
          connection.send(answer);
        },
        (err: Error) => {
          this.metrics.requests.inc({ kind, result: "UNAVAILABLE" });
          if (!(err instanceof InboxUnavailable))
            this.logger.error({ connection: connection.id, err }, `inbox ${kind} failed`);
          connection.send(
            inboxErrorFrame(frame.id, "UNAVAILABLE", "the inbox is not reachable right now; try again"),
          );
        },
      )
      .finally(() => {
        member.inFlight--;
        this.metrics.requestSeconds.observe({ kind }, (performance.now() - started) / 1000);
      });
  }

  /** A backend's mark: through the user's inbox when one is held here, else read and written here. */
  async markFor(user: string, change: InboxChange): Promise<void> {
    const held = this.users.get(user);
    if (held) return held.mark(change);
    return markInbox(this.store, detachedTarget(this.store, user), change);
  }

  /** A backend's page of a user's inbox: held here, or read. */
  async pageFor(
    user: string,
    query: PageQuery,
  ): Promise<{ items: InboxItem[]; more: boolean; count: UnreadCount }> {
    const held = this.users.get(user);
    if (held) return held.page(query);
    return pageDetached(this.store, user, query, this.countSettings);
  }

  /** A backend's unread count: held here, or read. */
  async unreadOf(user: string): Promise<UnreadCount> {
    const held = this.users.get(user);
    if (held) return held.unread();
    return countUnread(this.store, user, this.countSettings);
  }

  /** After a NATS reconnect, every user held checks what it may have missed. */
  reconnected(): void {
    for (const inbox of this.users.values()) {
      inbox
        .reconnected()
        .catch((err: Error) =>
          this.logger.warn({ user: inbox.user, err: err.message }, "inbox check after reconnect failed"),
        );
    }
  }

  close(): void {
    if (!this.nc.isClosed()) for (const subscription of this.subscriptions) subscription.unsubscribe();
    for (const inbox of this.users.values()) inbox.close();
    this.users.clear();
    this.members.clear();
  }

  private get countSettings(): CountSettings {
    return { cap: this.deps.cap, maxPerUser: this.deps.maxPerUser, maxAgeMs: this.deps.maxAgeMs };
  }

  private inboxOf(user: string): UserInbox {
    let inbox = this.users.get(user);
    if (!inbox) {
      inbox = new UserInbox(user, this.deps);
      this.users.set(user, inbox);
      this.metrics.users.set(this.users.size);
    }
    return inbox;
  }

  private logRefusal(connection: TrackedConnection): void {
    const now = Date.now();
    if (now - this.lastRefusalLog < REFUSAL_LOG_MS) return;
    this.lastRefusalLog = now;
    this.logger.warn(
      { connection: connection.id, user: connection.user, max: MAX_INBOX_IN_FLIGHT },
      "a connection sent inbox requests faster than they are answered: refused with TOO_MANY_REQUESTS (a client should wait for each answer)",
    );
  }
}

function changeOf(frame: InboxMarkFrame): InboxChange {
  return frame.ids === undefined
    ? { state: frame.state, upTo: frame.upTo }
    : { state: frame.state, ids: frame.ids };
}
