import type { Msg } from "@nats-io/nats-core";
import type {
  InboxChange,
  InboxChanged,
  InboxItem,
  InboxListFrame,
  InboxRecover,
} from "../../protocol/index.js";
import type { OutboundFrame } from "../delivery/outbound-frame.js";
import type { TrackedConnection } from "../gateway-context.js";
import { liveSequence } from "../history/live-sequence.js";
import type { Logger } from "../logger.js";
import { inboxFrame, notificationFrame, pageFrame, type UnreadCount } from "./inbox-frames.js";
import { type MarkTarget, markInbox, walkUnread } from "./inbox-marks.js";
import type { InboxMetrics } from "./inbox-metrics.js";
import { type PageQuery, pageIds, readPage } from "./inbox-pages.js";
import { decodeState, EMPTY_STATE, type InboxState } from "./inbox-state.js";
import type { InboxStore, StoredState } from "./inbox-store.js";
import { KnownNotifications } from "./known-notifications.js";
import { PagePayloads, type PayloadBudget } from "./page-payloads.js";

/** `setTimeout` waits at most 2^31 − 1 ms (24.8 days): a later expiry wakes once on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One connection of the user, as the inbox sees it. */
export interface InboxMember {
  readonly connection: TrackedConnection;
  /** Inbox requests of this connection under way. */
  inFlight: number;
  /** While the connection is being brought up to date: live notifications wait here. */
  held: HeldNotification[] | undefined;
  /**
   * The client has every notification up to this id (it said so when it recovered, and recovery
   * sent the rest up to the connect's position): live copies up to it are not sent again.
   */
  hasUpTo: number;
}

export interface HeldNotification {
  readonly id: number;
  readonly frame: OutboundFrame;
}

/** What every user's inbox on a gateway shares. */
export interface InboxDeps {
  readonly store: InboxStore;
  readonly logger: Logger;
  readonly metrics: InboxMetrics;
  /** The inbox stream's identity, which notification ids belong to. */
  readonly epoch: () => string;
  readonly cap: number;
  readonly maxPerUser: number;
  readonly maxAgeMs: number;
  readonly recoveryMax: number;
  /** What the users' kept page payloads may take on this gateway (`--inbox-page-cache`). */
  readonly payloads: PayloadBudget;
}

/**
 * One user's inbox on this gateway, held while one or more of the user's connections are here and
 * shared by them: the state, and what is known of the user's notification ids, from which the
 * unread count is kept without asking JetStream per notification or per connection. Its live
 * notifications and state records come from the hub's two subscriptions (every user's). What
 * leaves by retention is known here too: by `--inbox-max-per-user` when a newer one arrives, by
 * `--inbox-max-age` from one timer per user, at the expiry of its oldest known notification.
 */
export class UserInbox {
  private readonly members = new Set<InboxMember>();
  private readonly known: KnownNotifications;
  private state: InboxState = EMPTY_STATE;
  private revision = 0;
  /** The user's newest notification as this gateway knows it: live ones are after it. */
  private lastId = 0;
  private lastCount: UnreadCount | undefined;
  /** Live messages that arrived while loading, applied once loaded; undefined once loaded. */
  private waiting: Msg[] | undefined = [];
  private isLoaded = false;
  private indexing: Promise<void> | undefined;
  private rewalking: Promise<void> | undefined;
  /** Marks of this user made here, one at a time: fewer write conflicts. */
  private marks: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Resolves once the state and the unread count are known; rejects when JetStream did not answer. */
  readonly loaded: Promise<void>;
  /** What a mark made here reads and writes: this inbox's state and what it knows of the ids. */
  private markTarget: MarkTarget | undefined;
  /** The newest notifications' payloads, from this user's first page on. */
  private pagePayloads: PagePayloads | undefined;
  /** Fires when the oldest known notification leaves by age (`expiryAt`). */
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryAt = Number.POSITIVE_INFINITY;

  constructor(
    readonly user: string,
    private readonly deps: InboxDeps,
  ) {
    this.known = new KnownNotifications(deps.maxPerUser, deps.maxAgeMs);
    this.loaded = this.load();
    // A load that failed is seen by each join; nothing else waits on it.
    this.loaded.catch(() => undefined);
  }

  get isEmpty(): boolean {
    return this.members.size === 0;
  }

  add(member: InboxMember): void {
    this.members.add(member);
  }

  remove(member: InboxMember): void {
    this.members.delete(member);
  }

  /**
   * Brings a new connection up to date (its live notifications held meanwhile): the notifications
   * it missed when it asked to recover, then the `inbox` frame with the count, the epoch and its
   * position. At once, in the caller's turn, when this inbox is loaded and no missed notification
   * is to be read (a first connect, or a reconnect that missed none); else once they are read.
   */
  join(member: InboxMember, recover: InboxRecover | undefined): Promise<void> | undefined {
    if (!this.isLoaded || (recover && this.missedBy(recover))) return this.joinLater(member, recover);
    let recovered: boolean | undefined;
    if (recover) {
      recovered = recover.epoch === this.deps.epoch();
      this.deps.metrics.recoveries.inc({ result: recovered ? "recovered" : "refetch" });
    }
    this.admit(member, recover, this.lastId, recovered);
    return undefined;
  }

  private async joinLater(member: InboxMember, recover: InboxRecover | undefined): Promise<void> {
    await this.loaded;
    const position = this.lastId;
    const recovered = recover ? await this.recover(member, recover, position) : undefined;
    this.admit(member, recover, position, recovered);
  }

  /**
   * The held live notifications follow those recovered, less those recovery sent (those that
   * arrived while this inbox was loading are up to the position, and so among them); then the
   * `inbox` frame.
   */
  private admit(
    member: InboxMember,
    recover: InboxRecover | undefined,
    position: number,
    recovered: boolean | undefined,
  ): void {
    if (recover && recover.epoch === this.deps.epoch())
      member.hasUpTo = Math.max(recover.since, recovered ? position : 0);
    const held = member.held ?? [];
    member.held = undefined;
    for (const { id, frame } of held) if (id > member.hasUpTo) member.connection.send(frame);
    const extras = { epoch: this.deps.epoch(), position, ...(recovered === undefined ? {} : { recovered }) };
    member.connection.send(inboxFrame(this.count(), [], extras));
  }

  /** A reconnect into this inbox's stream that missed notifications, which must be read. */
  private missedBy(recover: InboxRecover): boolean {
    return recover.epoch === this.deps.epoch() && recover.since < this.lastId;
  }

  /** A page of the inbox, newest first. */
  async list(frame: InboxListFrame): Promise<OutboundFrame> {
    const page = await this.page(frame);
    return pageFrame(frame.id, page.items, page.count, page.more);
  }

  /** A page of the inbox and the count, for a connection or a backend. */
  async page(query: PageQuery): Promise<{ items: InboxItem[]; more: boolean; count: UnreadCount }> {
    await this.loaded;
    // What the connect's walk found may do (a user who read nothing has every id known already).
    let ids = pageIds(this.known, this.state, query);
    if (!ids) {
      await this.index();
      ids = pageIds(this.known, this.state, query) ?? { ids: [], more: false };
    }
    // None made once let go of: nothing would give its bytes back.
    if (!this.closed) this.pagePayloads ??= new PagePayloads(this.deps.payloads);
    const page = await readPage(this.deps.store, this.user, this.state, ids, this.pagePayloads);
    return { ...page, count: this.count() };
  }

  /** Applies a mark (from a connection of the user, or the backend); resolves once stored. */
  mark(change: InboxChange): Promise<void> {
    const marked = this.marks.then(async () => {
      await this.loaded;
      this.markTarget ??= this.targetForMarks();
      await markInbox(this.deps.store, this.markTarget, change);
    });
    this.marks = marked.catch(() => undefined);
    return marked;
  }

  /** The unread count as held (loaded first). */
  async unread(): Promise<UnreadCount> {
    await this.loaded;
    return this.count();
  }

  /**
   * After a NATS reconnect: live copies may have been missed. Notifications stored meanwhile close
   * the user's connections here (`INTERRUPTED`: they reconnect at once and recover them, and get
   * the count then); else a state written meanwhile is applied and pushed with its change.
   */
  async reconnected(): Promise<void> {
    await this.loaded;
    const [stored, lastId] = await Promise.all([
      this.deps.store.state(this.user),
      this.deps.store.lastId(this.user),
    ]);
    if (this.closed) return;
    if (lastId > this.lastId)
      return this.interrupt("notifications arrived while this gateway was cut off from NATS");
    if (stored.revision > this.revision)
      this.applyState(stored.state, stored.revision, stored.state.change ? [stored.state.change] : []);
  }

  /** A live notification of the user (from the gateway's one subscription to all of them). */
  liveNotification(msg: Msg): void {
    if (this.closed) return;
    if (this.waiting) this.waiting.push(msg);
    else this.notified(msg);
  }

  /** The live copy of the user's state record, once stored. */
  liveState(msg: Msg): void {
    if (this.closed) return;
    if (this.waiting) this.waiting.push(msg);
    else this.stateArrived(msg);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.waiting = undefined;
    this.pagePayloads?.release();
    this.pagePayloads = undefined;
  }

  // ---- loading and keeping up ----

  private async load(): Promise<void> {
    const { store, cap } = this.deps;
    // Live copies that arrive from now on wait in `waiting`; those stored before are in what is read
    // now: the reads go out on the connection after this user is held, and are answered after
    // every message stored before them.
    const [stored, lastId] = await Promise.all([store.state(this.user), store.lastId(this.user)]);
    this.state = stored.state;
    this.revision = stored.revision;
    this.lastId = lastId;
    await this.walk(lastId, cap);
    const waiting = this.waiting ?? [];
    this.waiting = undefined;
    for (const msg of waiting) {
      if (msg.subject === store.subjects.liveState(this.user)) this.stateArrived(msg);
      else this.notified(msg);
    }
    this.lastCount = this.count();
    this.isLoaded = true;
    this.scheduleExpiry();
  }

  private async walk(upTo: number, cap: number): Promise<void> {
    const { store } = this.deps;
    const walk = await walkUnread(store, this.user, this.state, upTo, cap);
    this.known.walked(walk.from, walk.refs, walk.complete, upTo);
    // Ids marked unread below the walk count only while retention keeps them: their times say.
    if (this.known.needsIndex(this.state)) await this.index();
  }

  private notified(msg: Msg): void {
    const position = liveSequence(msg);
    if (!position || position.seq <= this.lastId) return;
    this.deps.metrics.notifications.inc();
    // Sending this one would move the clients past those missed: they recover all from where they are.
    if (position.prev > this.lastId) return this.interrupt("a notification of this user did not arrive live");
    const id = position.seq;
    this.lastId = id;
    const time = Date.now();
    // The stream keeps the user's newest: this one may have pushed the oldest out.
    const dropped = this.known.add(id, time);
    const frame = notificationFrame(id, time, msg.data);
    for (const member of this.members) {
      if (member.held) member.held.push({ id, frame });
      else if (id > member.hasUpTo) member.connection.send(frame);
    }
    this.push(dropped > 0 ? [{ state: "expired", upTo: dropped }] : [], dropped > 0);
  }

  private stateArrived(msg: Msg): void {
    const revision = liveSequence(msg)?.seq;
    if (revision === undefined || revision <= this.revision) return;
    const state = decodeState(msg.data);
    if (!state)
      this.deps.logger.warn({ user: this.user, revision }, "inbox state record is not valid; read as empty");
    this.applyState(state ?? EMPTY_STATE, revision, state?.change ? [state.change] : []);
  }

  private applyState(state: InboxState, revision: number, changed: InboxChange[]): void {
    this.state = state;
    this.revision = revision;
    this.known.prune(state);
    this.push(changed, true);
  }

  /**
   * Sends the count to every connection, when it changed or `always` (something was marked, or
   * left by retention). What left by age since the last push is said in `changed` too, so that it
   * is said once, whatever sends it.
   */
  private push(changed: InboxChanged[], always = false): void {
    const aged = this.known.expire(Date.now());
    if (aged > 0) {
      const upTo = Math.max(aged, ...changed.map((change) => (change.state === "expired" ? change.upTo : 0)));
      changed = [{ state: "expired", upTo }, ...changed.filter((change) => change.state !== "expired")];
      always = true;
    }
    const count = this.count();
    if (this.known.incomplete(count)) this.rewalk();
    if (this.known.needsIndex(this.state)) this.reindex();
    this.scheduleExpiry();
    const last = this.lastCount;
    if (!always && last?.unread === count.unread && last.capped === count.capped) return;
    this.lastCount = count;
    const frame = inboxFrame(count, changed);
    for (const member of this.members) if (!member.held) member.connection.send(frame);
  }

  /** One timer for the user, at the expiry of the oldest notification known; none when none is. */
  private scheduleExpiry(): void {
    const at = this.closed || !this.isLoaded ? Number.POSITIVE_INFINITY : this.known.nextExpiry();
    if (at === this.expiryAt) return;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryAt = at;
    if (at === Number.POSITIVE_INFINITY) return;
    const timer = setTimeout(
      () => {
        this.expiryTimer = undefined;
        this.expiryAt = Number.POSITIVE_INFINITY;
        if (!this.closed) this.push([]);
      },
      Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS),
    );
    timer.unref();
    this.expiryTimer = timer;
  }

  /** Reads every id of the user, after an id below the walk was marked unread: then counts again. */
  private reindex(): void {
    this.index().then(
      () => this.push([]),
      (err: Error) =>
        this.deps.logger.warn({ user: this.user, err: err.message }, "inbox count not refreshed"),
    );
  }

  /** Walks again after marks took the count below the cap while ids were left unwalked. */
  private rewalk(): void {
    this.rewalking ??= this.walk(this.lastId, this.deps.cap)
      .then(
        () => this.push([]),
        (err: Error) =>
          this.deps.logger.warn({ user: this.user, err: err.message }, "inbox count not refreshed"),
      )
      .finally(() => {
        this.rewalking = undefined;
      });
  }

  private index(): Promise<void> {
    this.indexing ??= (async () => {
      const upTo = this.lastId;
      const refs = await this.deps.store.index(this.user, upTo);
      this.known.indexedAll(refs, upTo);
      // Older ids are known now: the oldest may leave sooner.
      this.scheduleExpiry();
    })().finally(() => {
      this.indexing = undefined;
    });
    return this.indexing;
  }

  private count(): UnreadCount {
    return this.known.count(this.state, this.deps.cap, Date.now());
  }

  /** Sends what a reconnecting connection missed; false when it cannot be sent whole. */
  private async recover(member: InboxMember, recover: InboxRecover, upTo: number): Promise<boolean> {
    const { store, metrics, recoveryMax, logger } = this.deps;
    const result = await (async () => {
      if (recover.epoch !== this.deps.epoch()) return false;
      const frames: OutboundFrame[] = [];
      let next = recover.since + 1;
      while (next <= upTo) {
        const found = await store.next(this.user, next);
        if (!found || found.id > upTo) break;
        if (frames.length >= recoveryMax) {
          logger.info(
            { connection: member.connection.id, user: this.user, max: recoveryMax },
            "more notifications missed than --inbox-recovery-max: the client lists its inbox again",
          );
          return false;
        }
        frames.push(notificationFrame(found.id, found.time, found.data));
        next = found.id + 1;
      }
      for (const frame of frames) member.connection.send(frame);
      return true;
    })();
    metrics.recoveries.inc({ result: result ? "recovered" : "refetch" });
    return result;
  }

  private interrupt(why: string): void {
    this.deps.logger.warn({ user: this.user }, `${why}: the user's connections recover it`);
    for (const member of [...this.members])
      member.connection.fail("INTERRUPTED", "notifications may have been missed; reconnect and recover");
  }

  private targetForMarks(): MarkTarget {
    const { store } = this.deps;
    return {
      user: this.user,
      current: async () => ({ state: this.state, revision: this.revision }),
      reread: async (): Promise<StoredState> => {
        const stored = await store.state(this.user);
        if (stored.revision > this.revision)
          this.applyState(stored.state, stored.revision, stored.state.change ? [stored.state.change] : []);
        return { state: this.state, revision: this.revision };
      },
      lastId: async () => this.lastId,
      owns: async (id) => this.known.has(id) || (await store.notification(id))?.user === this.user,
      compact: (state) => this.known.compact(state),
      stored: (state, revision, change) => {
        if (revision > this.revision) this.applyState(state, revision, [change]);
      },
    };
  }
}
