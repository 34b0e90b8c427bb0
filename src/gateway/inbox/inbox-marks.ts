import { WrongRevisionError } from "../../nats/stored-publish.js";
import type { InboxChange, InboxItem } from "../../protocol/index.js";
import type { UnreadCount } from "./inbox-frames.js";
import { type PageQuery, pageIds, readPage } from "./inbox-pages.js";
import { applyChange, countsUnread, effectiveIds, type InboxState } from "./inbox-state.js";
import { type InboxStore, InboxUnavailable, type NotificationRef, type StoredState } from "./inbox-store.js";
import { KnownNotifications } from "./known-notifications.js";

/** A write refused for a stale revision is read again and retried this often before giving up. */
const MAX_ATTEMPTS = 5;

/** Whose state a mark changes, and what is known of the user's notifications. */
export interface MarkTarget {
  readonly user: string;
  /** The state a mark starts from (held, or read). */
  current(): Promise<StoredState>;
  /** The state as stored now, after a write was refused for a stale revision. */
  reread(): Promise<StoredState>;
  /** The id of the user's newest notification: `upTo` goes no further (ids to come stay unread). */
  lastId(): Promise<number>;
  /** Whether an id is one of the user's notifications: any other id is dropped and has no effect. */
  owns(id: number): Promise<boolean>;
  /** The state with its watermarks raised where every id in between is known. */
  compact(state: InboxState): InboxState;
  /** The new state is stored at `revision`. */
  stored(state: InboxState, revision: number, change: InboxChange): void;
}

/**
 * Applies a mark to a user's state: one write of the user's record, with compare-and-set on its
 * revision, read again and retried when another write came first. Ids that would change nothing,
 * or are not the user's, are dropped; `upTo` is cut at the user's newest notification. A mark that
 * changes nothing writes nothing. Resolves once the new state is stored; rejects with
 * InboxUnavailable.
 */
export async function markInbox(store: InboxStore, target: MarkTarget, change: InboxChange): Promise<void> {
  let base = await target.current();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const effective = await effectiveChange(target, base.state, change);
    if (!effective) return;
    const next = target.compact(applyChange(base.state, effective));
    try {
      const revision = await store.writeState(target.user, next, base.revision);
      target.stored(next, revision, effective);
      return;
    } catch (err) {
      if (!(err instanceof WrongRevisionError)) throw err;
      base = await target.reread();
    }
  }
  throw new InboxUnavailable(`the inbox state of this user is being written by others; try again`);
}

async function effectiveChange(
  target: MarkTarget,
  state: InboxState,
  change: InboxChange,
): Promise<InboxChange | undefined> {
  if (change.upTo !== undefined) {
    const upTo = Math.min(change.upTo, await target.lastId());
    const effective = { state: change.state, upTo };
    return changes(state, effective) ? effective : undefined;
  }
  const candidates = effectiveIds(state, { ...change, ids: change.ids ?? [] });
  const owned = await Promise.all(candidates.map((id) => target.owns(id)));
  const ids = candidates.filter((_id, i) => owned[i]);
  return ids.length > 0 ? { state: change.state, ids } : undefined;
}

/** Whether applying the change alters anything but the recorded change. */
function changes(state: InboxState, change: InboxChange): boolean {
  const next = applyChange(state, change);
  return (
    next.readUpTo !== state.readUpTo ||
    next.seenUpTo !== state.seenUpTo ||
    next.archivedUpTo !== state.archivedUpTo ||
    next.read.length !== state.read.length ||
    next.unread.length !== state.unread.length ||
    next.seen.length !== state.seen.length ||
    next.archived.length !== state.archived.length
  );
}

/** What a walk from the read watermark found: every id it passed, and whether it reached `upTo`. */
export interface Walk {
  readonly from: number;
  readonly refs: NotificationRef[];
  readonly complete: boolean;
}

/**
 * Walks a user's notifications forward from just after the read watermark up to `upTo`, one read
 * of the stream leader each (`next_by_subj`), until more than `cap` of them count as unread: the
 * cost of knowing an unread count is bounded by the cap (plus the ids above the watermark that were
 * read one by one, which `KnownNotifications.compact` keeps few).
 */
export async function walkUnread(
  store: InboxStore,
  user: string,
  state: InboxState,
  upTo: number,
  cap: number,
): Promise<Walk> {
  const from = state.readUpTo + 1;
  const refs: NotificationRef[] = [];
  let unread = 0;
  let next = from;
  while (next <= upTo) {
    const found = await store.next(user, next);
    if (!found || found.id > upTo) break;
    refs.push({ id: found.id, time: found.time });
    if (countsUnread(state, found.id) && ++unread > cap) return { from, refs, complete: false };
    next = found.id + 1;
  }
  return { from, refs, complete: true };
}

export interface CountSettings {
  readonly cap: number;
  readonly maxPerUser: number;
  readonly maxAgeMs: number;
}

/** The unread count of a user no connection of this gateway holds: its state, last id, and a walk. */
export async function countUnread(
  store: InboxStore,
  user: string,
  settings: CountSettings,
): Promise<UnreadCount> {
  const [{ state }, lastId] = await Promise.all([store.state(user), store.lastId(user)]);
  const walk = await walkUnread(store, user, state, lastId, settings.cap);
  const known = new KnownNotifications(settings.maxPerUser, settings.maxAgeMs);
  known.walked(walk.from, walk.refs, walk.complete, lastId);
  // Ids marked unread below the walk count while retention keeps them: their times say.
  if (known.needsIndex(state)) known.indexedAll(await store.index(user, lastId), lastId);
  return known.count(state, settings.cap, Date.now());
}

/** A page of the inbox of a user no connection of this gateway holds: its state, its index, the page. */
export async function pageDetached(
  store: InboxStore,
  user: string,
  query: PageQuery,
  settings: CountSettings,
): Promise<{ items: InboxItem[]; more: boolean; count: UnreadCount }> {
  const [{ state }, lastId] = await Promise.all([store.state(user), store.lastId(user)]);
  const known = new KnownNotifications(settings.maxPerUser, settings.maxAgeMs);
  known.indexedAll(await store.index(user, lastId), lastId);
  const page = await readPage(store, user, state, pageIds(known, state, query) ?? { ids: [], more: false });
  return { ...page, count: known.count(state, settings.cap, Date.now()) };
}

/** A mark for a user no connection of this gateway holds: everything it needs is read. */
export function detachedTarget(store: InboxStore, user: string): MarkTarget {
  const read = () => store.state(user);
  return {
    user,
    current: read,
    reread: read,
    lastId: () => store.lastId(user),
    owns: async (id) => (await store.notification(id))?.user === user,
    compact: (state) => state,
    stored() {},
  };
}
