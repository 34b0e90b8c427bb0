import type {
  InboxChange,
  InboxChanged,
  InboxExpired,
  InboxItem,
  InboxMarkState,
  NotificationFrame,
} from "../protocol/inbox.js";
import { Emitter, type Listener } from "./events.js";
import type { ClientExtension, HeraldClient } from "./herald-client.js";

/**
 * The notification inbox in the browser (gateways with `--inbox true`): `inbox(client)` gives the
 * client's inbox, an import of its own (`herald/client/inbox`) so that pages without a bell carry
 * none of it. It keeps the unread count the gateway pushes (`unread`, `capped`, `change` events),
 * emits each new notification once (`notification`: live, or recovered after a reconnect), lists
 * pages and marks notifications read, unread, seen or archived for every connection of the user.
 * Requests wait for a ready connection and are sent again on the next one when a connection ends
 * before their answer: listing and marking are safe to repeat.
 */
export type { InboxChange, InboxChanged, InboxExpired, InboxItem, NotificationFrame as Notification };

/**
 * What changed: the count, and the marks made (anywhere) since the last `change`, or what left by
 * retention (`{ state: "expired", upTo }`: every notification up to that id; drop them from a list).
 */
export interface InboxChangeEvent {
  readonly unread: number;
  /** More unread than the gateways' cap: `unread` is the cap (show "99+"). */
  readonly capped: boolean;
  readonly changed: readonly InboxChanged[];
}

export type InboxEvents = {
  /** A new notification, once: live, or missed while disconnected. */
  notification: NotificationFrame;
  /** The unread count or the state changed (a notification, a mark on any connection, the backend, retention). */
  change: InboxChangeEvent;
  /** Notifications may have been missed while disconnected (too many, or a new inbox stream): list again. */
  resync: undefined;
};

export interface InboxPage {
  /** Newest first. */
  readonly items: readonly InboxItem[];
  readonly unread: number;
  readonly capped: boolean;
  /** Older items follow: `list({ before: items.at(-1).id })`. */
  readonly more: boolean;
}

export interface ListOptions {
  /** Items older than this id; default the newest. */
  before?: number;
  /** 1 to 100, default 20. */
  limit?: number;
  /** List archived notifications too. */
  archived?: boolean;
}

/** Notifications by id, or every notification up to an id. */
export type MarkTarget = readonly number[] | { readonly upTo: number };

export type InboxErrorCode = "UNAVAILABLE" | "TIMEOUT" | (string & {});

/** A request the gateway could not answer (`UNAVAILABLE`), or no answer in time (`TIMEOUT`). */
export class HeraldInboxError extends Error {
  override readonly name = "HeraldInboxError";
  constructor(
    readonly code: InboxErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A request's answer waits this long, reconnects included. */
const REQUEST_TIMEOUT_MS = 15_000;
/** The gateway takes 4 inbox requests of a connection at once: more wait here. */
const MAX_IN_FLIGHT = 4;

interface Pending {
  readonly frame: { readonly type: string; readonly id: number };
  sent: boolean;
  readonly settle: (frame: Frame | HeraldInboxError) => void;
}

type Frame = { readonly type: unknown; readonly [key: string]: unknown };

const isId = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0;

export class HeraldInbox implements ClientExtension {
  /** Unread notifications, exact up to the gateways' cap. */
  unread = 0;
  /** More unread than the cap. */
  capped = false;
  private readonly events = new Emitter<InboxEvents>();
  private readonly pending = new Map<number, Pending>();
  private send: ((frame: object) => void) | undefined;
  private nextId = 1;
  /** Where this client's inbox is: the stream's epoch and the newest notification it got. */
  private epoch: string | undefined;
  private newest = 0;
  /**
   * The highest id emitted: ids only grow on a connection and across reconnects, so one at or below
   * it was emitted already. Apart from `newest`, which the connect's position also raises.
   */
  private emitted = 0;

  constructor(client: HeraldClient) {
    client.extend(this);
  }

  on<K extends keyof InboxEvents>(event: K, listener: Listener<InboxEvents[K]>): () => void {
    return this.events.on(event, listener);
  }

  off<K extends keyof InboxEvents>(event: K, listener: Listener<InboxEvents[K]>): void {
    this.events.off(event, listener);
  }

  /** A page of the inbox, newest first, each item with its state. */
  async list(options: ListOptions = {}): Promise<InboxPage> {
    const answer = await this.request({ type: "inbox_list", ...options });
    return {
      items: answer.items as InboxItem[],
      unread: answer.unread as number,
      capped: answer.capped === true,
      more: answer.more === true,
    };
  }

  markRead(target: MarkTarget): Promise<void> {
    return this.mark("read", target);
  }

  /** Marks notifications unread again (by id). */
  markUnread(ids: readonly number[]): Promise<void> {
    return this.mark("unread", ids);
  }

  /** What the page showed: the backend is not told they went unseen (`--inbox-unseen-after`). */
  markSeen(target: MarkTarget): Promise<void> {
    return this.mark("seen", target);
  }

  /** Out of the list and the count (archived implies read and seen). */
  archive(target: MarkTarget): Promise<void> {
    return this.mark("archived", target);
  }

  /** Everything up to the newest notification this client knows of is read. */
  markAllRead(): Promise<void> {
    return this.newest > 0 ? this.mark("read", { upTo: this.newest }) : Promise.resolve();
  }

  private async mark(state: InboxMarkState, target: MarkTarget): Promise<void> {
    if ("upTo" in target) {
      await this.request({ type: "inbox_mark", state, upTo: target.upTo });
      return;
    }
    const ids = [...(target as readonly number[])];
    if (ids.length > 0) await this.request({ type: "inbox_mark", state, ids });
  }

  private request(body: { type: string; [key: string]: unknown }): Promise<Frame> {
    const id = this.nextId++;
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HeraldInboxError("TIMEOUT", `no answer to ${body.type} within ${REQUEST_TIMEOUT_MS} ms`));
        this.flush();
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, {
        frame: { ...body, id },
        sent: false,
        settle: (answer) => {
          clearTimeout(timer);
          if (answer instanceof HeraldInboxError) reject(answer);
          else resolve(answer);
        },
      });
      this.flush();
    });
  }

  /** Sends waiting requests, at most MAX_IN_FLIGHT at once. */
  private flush(): void {
    const send = this.send;
    if (!send) return;
    let inFlight = 0;
    for (const pending of this.pending.values()) if (pending.sent) inFlight++;
    for (const pending of this.pending.values()) {
      if (inFlight >= MAX_IN_FLIGHT) return;
      if (pending.sent) continue;
      pending.sent = true;
      inFlight++;
      send(pending.frame);
    }
  }

  // ---- the client's hooks (ClientExtension) ----

  receive(frame: Frame): boolean {
    switch (frame.type) {
      case "notification":
        if (!isId(frame.id) || typeof frame.time !== "number") return false;
        if (frame.id > this.newest) this.newest = frame.id;
        if (frame.id <= this.emitted) return true;
        this.emitted = frame.id;
        this.events.emit("notification", frame as unknown as NotificationFrame);
        return true;
      case "inbox":
        if (!isId(frame.unread) || !Array.isArray(frame.changed)) return false;
        this.counted(frame);
        return true;
      case "inbox_page":
      case "inbox_marked":
      case "inbox_error": {
        if (!isId(frame.id)) return false;
        const pending = this.pending.get(frame.id);
        if (!pending) return true;
        this.pending.delete(frame.id);
        pending.settle(
          frame.type === "inbox_error"
            ? new HeraldInboxError(String(frame.code), String(frame.message))
            : frame,
        );
        this.flush();
        return true;
      }
      default:
        return false;
    }
  }

  auth(): Record<string, unknown> | undefined {
    return this.epoch === undefined ? undefined : { inbox: { epoch: this.epoch, since: this.newest } };
  }

  ready(send: (frame: object) => void): void {
    this.send = send;
    this.flush();
  }

  interrupted(): void {
    this.send = undefined;
    // Sent on the connection that ended: sent again on the next one.
    for (const pending of this.pending.values()) pending.sent = false;
  }

  private counted(frame: Frame): void {
    if (typeof frame.epoch === "string") {
      // Another inbox stream: the ids this client knew mean nothing there.
      if (frame.epoch !== this.epoch) this.newest = this.emitted = 0;
      this.epoch = frame.epoch;
    }
    if (isId(frame.position) && frame.position > this.newest) this.newest = frame.position;
    this.unread = frame.unread as number;
    this.capped = frame.capped === true;
    if (frame.recovered === false) this.events.emit("resync", undefined);
    this.events.emit("change", {
      unread: this.unread,
      capped: this.capped,
      changed: frame.changed as InboxChanged[],
    });
  }
}

const inboxes = new WeakMap<HeraldClient, HeraldInbox>();

/** The client's inbox (one per client, made at the first call). */
export function inbox(client: HeraldClient): HeraldInbox {
  let found = inboxes.get(client);
  if (!found) {
    found = new HeraldInbox(client);
    inboxes.set(client, found);
  }
  return found;
}
