import { INBOX_LIST_DEFAULT, type InboxItem } from "../../protocol/index.js";
import { payloadValue } from "./inbox-frames.js";
import { type InboxState, isArchived, isRead, isSeen } from "./inbox-state.js";
import type { InboxStore } from "./inbox-store.js";
import type { KnownNotifications } from "./known-notifications.js";
import type { PagePayloads } from "./page-payloads.js";

/** What a page asks for, from a connection (`inbox_list`) or a backend (`<prefix>.inbox.list`). */
export interface PageQuery {
  readonly before?: number | undefined;
  readonly limit?: number | undefined;
  /** true: archived notifications are listed too. */
  readonly archived?: boolean | undefined;
}

/** The ids of a page, newest first, from what is known; undefined when the user's index must be read first. */
export function pageIds(
  known: KnownNotifications,
  state: InboxState,
  query: PageQuery,
): { ids: number[]; more: boolean } | undefined {
  const include = query.archived ? () => true : (id: number) => !isArchived(state, id);
  const before = query.before ?? Number.MAX_SAFE_INTEGER;
  return known.page(before, query.limit ?? INBOX_LIST_DEFAULT, include, Date.now());
}

/**
 * A page of a user's inbox, newest first: its ids from what is known (`pageIds`), each
 * notification's payload from `kept` when it holds it, else from one direct get (all of a page at
 * once: nats-server 2.9 has no batch of them), then kept.
 */
export async function readPage(
  store: InboxStore,
  user: string,
  state: InboxState,
  { ids, more }: { ids: number[]; more: boolean },
  kept?: PagePayloads,
): Promise<{ items: InboxItem[]; more: boolean }> {
  const read = async (id: number) => {
    const held = kept?.get(id);
    if (held) return held;
    const found = await store.pageItem(id);
    // Dropped by retention since it was indexed.
    if (found?.user !== user) return null;
    kept?.keep(found);
    return found;
  };
  const stored = await Promise.all(ids.map(read));
  const items: InboxItem[] = [];
  for (const notification of stored) {
    if (!notification) continue;
    const { id } = notification;
    items.push({
      id,
      time: notification.time,
      data: payloadValue(notification.data),
      read: isRead(state, id),
      seen: isSeen(state, id),
      archived: isArchived(state, id),
    });
  }
  return { items, more };
}
