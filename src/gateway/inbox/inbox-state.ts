import * as v from "valibot";
import { InboxChange } from "../../protocol/index.js";

/**
 * A user's inbox state: one small record for all of the user's notifications, so "read all up to
 * N" is one write and a new notification costs no write at all. Each of read, seen and archived is
 * a watermark (every id up to it) plus a bounded set of exceptions: ids above it that are marked
 * too, and for read, ids at or below it marked unread again.
 */
export interface InboxState {
  readonly readUpTo: number;
  /** Ids above `readUpTo` that are read. */
  readonly read: readonly number[];
  /** Ids at or below `readUpTo` that are unread. */
  readonly unread: readonly number[];
  readonly seenUpTo: number;
  readonly seen: readonly number[];
  readonly archivedUpTo: number;
  readonly archived: readonly number[];
  /** The change that made this state (what `inbox` frames report as `changed`). */
  readonly change?: InboxChange | undefined;
}

export const EMPTY_STATE: InboxState = Object.freeze({
  readUpTo: 0,
  read: [],
  unread: [],
  seenUpTo: 0,
  seen: [],
  archivedUpTo: 0,
  archived: [],
});

/**
 * Most ids in one exception set. A user keeps at most `--inbox-max-per-user` notifications, so
 * more exceptions than that name notifications already gone; the oldest (smallest) go first.
 */
export const MAX_EXCEPTIONS = 1000;

const Watermark = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const Ids = v.pipe(v.array(v.pipe(v.number(), v.safeInteger(), v.minValue(1))), v.maxLength(MAX_EXCEPTIONS));

/** The stored record, as read back from the bucket (another gateway, or an operator, wrote it). */
export const StateRecord = v.object({
  readUpTo: Watermark,
  read: Ids,
  unread: Ids,
  seenUpTo: Watermark,
  seen: Ids,
  archivedUpTo: Watermark,
  archived: Ids,
  change: v.optional(InboxChange),
});

export function isRead(state: InboxState, id: number): boolean {
  return id <= state.readUpTo ? !includes(state.unread, id) : includes(state.read, id);
}

export function isSeen(state: InboxState, id: number): boolean {
  return id <= state.seenUpTo || includes(state.seen, id);
}

export function isArchived(state: InboxState, id: number): boolean {
  return id <= state.archivedUpTo || includes(state.archived, id);
}

/** Counted in the unread badge: not read, and not archived. */
export function countsUnread(state: InboxState, id: number): boolean {
  return !isRead(state, id) && !isArchived(state, id);
}

/**
 * The ids of a change that would alter the state: marking read what is read already changes
 * nothing, and needs neither a check nor a write.
 */
export function effectiveIds(state: InboxState, change: InboxChange & { ids: readonly number[] }): number[] {
  const ids = [...new Set(change.ids)].sort(ascending);
  switch (change.state) {
    case "read":
      return ids.filter((id) => !isRead(state, id) || !isSeen(state, id));
    case "unread":
      return ids.filter((id) => isRead(state, id));
    case "seen":
      return ids.filter((id) => !isSeen(state, id));
    case "archived":
      return ids.filter((id) => !isArchived(state, id) || !isRead(state, id) || !isSeen(state, id));
  }
}

/**
 * The state after a change; the change is recorded in it. Reading implies seeing; archiving implies
 * reading and seeing (an archived notification leaves the badge). Marking unread changes nothing
 * about seen: the user did see it.
 */
export function applyChange(state: InboxState, change: InboxChange): InboxState {
  let next: Mutable = { ...state, change };
  if (change.upTo !== undefined) {
    const upTo = change.upTo;
    if (change.state === "archived") next = archiveUpTo(next, upTo);
    if (change.state === "read" || change.state === "archived") next = readUpTo(next, upTo);
    next = seenUpTo(next, upTo);
    return next;
  }
  const ids = change.ids ?? [];
  for (const id of ids) {
    if (change.state === "unread") next = markUnread(next, id);
    else {
      if (change.state === "archived" && id > next.archivedUpTo) next.archived = withId(next.archived, id);
      if (change.state !== "seen") next = markRead(next, id);
      if (id > next.seenUpTo) next.seen = withId(next.seen, id);
    }
  }
  return next;
}

type Mutable = { -readonly [K in keyof InboxState]: InboxState[K] };

function readUpTo(state: Mutable, upTo: number): Mutable {
  if (upTo <= state.readUpTo) {
    // Marked unread again at or below the watermark: read now.
    state.unread = state.unread.filter((id) => id > upTo);
    return state;
  }
  state.readUpTo = upTo;
  state.read = state.read.filter((id) => id > upTo);
  state.unread = [];
  return state;
}

function seenUpTo(state: Mutable, upTo: number): Mutable {
  if (upTo <= state.seenUpTo) return state;
  state.seenUpTo = upTo;
  state.seen = state.seen.filter((id) => id > upTo);
  return state;
}

function archiveUpTo(state: Mutable, upTo: number): Mutable {
  if (upTo <= state.archivedUpTo) return state;
  state.archivedUpTo = upTo;
  state.archived = state.archived.filter((id) => id > upTo);
  return state;
}

function markRead(state: Mutable, id: number): Mutable {
  if (id <= state.readUpTo) state.unread = state.unread.filter((other) => other !== id);
  else state.read = withId(state.read, id);
  return state;
}

function markUnread(state: Mutable, id: number): Mutable {
  if (id <= state.readUpTo) state.unread = withId(state.unread, id);
  else state.read = state.read.filter((other) => other !== id);
  return state;
}

/** The set with `id` added, sorted, at most MAX_EXCEPTIONS long (the smallest dropped). */
function withId(ids: readonly number[], id: number): number[] {
  if (includes(ids, id)) return [...ids];
  const next = [...ids, id].sort(ascending);
  return next.length > MAX_EXCEPTIONS ? next.slice(next.length - MAX_EXCEPTIONS) : next;
}

/** Exception sets are sorted: a binary search. */
function includes(ids: readonly number[], id: number): boolean {
  let low = 0;
  let high = ids.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const at = ids[middle]!;
    if (at === id) return true;
    if (at < id) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

function ascending(a: number, b: number): number {
  return a - b;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeState(state: InboxState): Uint8Array {
  const { readUpTo, read, unread, seenUpTo, seen, archivedUpTo, archived, change } = state;
  return encoder.encode(
    JSON.stringify({ readUpTo, read, unread, seenUpTo, seen, archivedUpTo, archived, change }),
  );
}

/** A stored record, or undefined when it is not one (it is then treated as the empty state). */
export function decodeState(data: Uint8Array): InboxState | undefined {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  const parsed = v.safeParse(StateRecord, json);
  if (!parsed.success) return undefined;
  const record = parsed.output;
  // Sorted and unique, whoever wrote it: lookups are binary searches.
  const clean = (ids: number[]) => [...new Set(ids)].sort(ascending);
  return {
    ...record,
    read: clean(record.read),
    unread: clean(record.unread),
    seen: clean(record.seen),
    archived: clean(record.archived),
  };
}
