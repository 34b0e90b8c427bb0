import type { UnreadCount } from "./inbox-frames.js";
import { countsUnread, type InboxState, isRead, isSeen } from "./inbox-state.js";
import type { NotificationRef } from "./inbox-store.js";

/**
 * What a gateway knows of one user's notification ids (ids and times only, 16 bytes each), from
 * which it counts unread ones without asking JetStream again:
 * - after a connect, every id after the read watermark, found by walking the stream forward from
 *   it until more than the cap are unread (`gap` then says which ids were not walked);
 * - after the first `inbox_list`, every id the user has (`indexed`), for pages.
 * Live notifications are added as they arrive. At most `maxPerUser` are kept, as the stream does.
 */
export class KnownNotifications {
  private ids: number[] = [];
  private times: number[] = [];
  /** Every notification of the user from this id on is known, but those in the gap. */
  private from = 1;
  /** Notifications in (after, upTo] were not walked: the count is over the cap. */
  private gap: { readonly after: number; readonly upTo: number } | undefined;
  /** Every notification the user has is known. */
  indexed = false;
  /** The oldest notification the user still has, when the walk had to know it (see `setFirst`). */
  private first = 0;

  constructor(
    private readonly maxPerUser: number,
    private readonly maxAgeMs: number,
  ) {}

  /** Replaces what is known by a walk from `from`: complete up to `upTo`, or up to its last ref with a gap. */
  walked(from: number, refs: readonly NotificationRef[], complete: boolean, upTo: number): void {
    const later = this.after(upTo);
    this.ids = refs.map((ref) => ref.id).concat(later.ids);
    this.times = refs.map((ref) => ref.time).concat(later.times);
    this.from = from;
    this.indexed = false;
    const walkedTo = refs.at(-1)?.id ?? from - 1;
    this.gap = complete || walkedTo >= upTo ? undefined : { after: walkedTo, upTo };
    this.trim();
  }

  /** Every id of the user up to `upTo` (an index read), with those that arrived live since. */
  indexedAll(refs: readonly NotificationRef[], upTo: number): void {
    const later = this.after(upTo);
    this.ids = refs.map((ref) => ref.id).concat(later.ids);
    this.times = refs.map((ref) => ref.time).concat(later.times);
    this.from = 1;
    this.gap = undefined;
    this.indexed = true;
    this.trim();
  }

  /** The oldest id the user still has (read when marks unread below the walk must be counted). */
  setFirst(id: number): void {
    this.first = id;
  }

  /** A notification that arrived live; false when it was known already. */
  add(id: number, time: number): boolean {
    const last = this.ids.at(-1) ?? 0;
    if (id <= last) return false;
    this.ids.push(id);
    this.times.push(time);
    this.trim();
    return true;
  }

  has(id: number): boolean {
    return this.indexOf(id) >= 0;
  }

  get lastKnown(): number {
    return this.ids.at(-1) ?? 0;
  }

  /** Needs a new walk: the count is not over the cap, and ids it depends on were not walked. */
  incomplete(count: UnreadCount): boolean {
    return this.gap !== undefined && !count.capped;
  }

  /** Unread and not archived, exact up to `cap`; `capped` above it (or while ids are unwalked). */
  count(state: InboxState, cap: number, now: number): UnreadCount {
    const oldest = now - this.maxAgeMs;
    let unread = 0;
    for (const id of state.unread) {
      // Marked unread below what was walked: still there unless retention dropped it.
      if (id < this.from && id >= this.first && countsUnread(state, id)) unread++;
    }
    for (let i = 0; i < this.ids.length; i++) {
      if (this.times[i]! > oldest && countsUnread(state, this.ids[i]!)) unread++;
    }
    if (unread > cap || this.gap) return { unread: Math.min(unread, cap), capped: unread > cap };
    return { unread, capped: false };
  }

  /** Forgets what no count and no page needs: read ids at or below the read watermark, unless indexed. */
  prune(state: InboxState, now: number): void {
    const oldest = now - this.maxAgeMs;
    let keep = 0;
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids[i]!;
      const time = this.times[i]!;
      if (time <= oldest) continue;
      if (!this.indexed && id <= state.readUpTo && isRead(state, id)) continue;
      this.ids[keep] = id;
      this.times[keep++] = time;
    }
    if (keep < this.ids.length && !this.indexed) this.from = Math.max(this.from, state.readUpTo + 1);
    this.ids.length = keep;
    this.times.length = keep;
  }

  /**
   * Raises the read and seen watermarks over the read (seen) ids right after them, when every id
   * in between is known: a user who reads notifications one by one keeps small exception sets, and
   * the walk at the next connect starts after them.
   */
  compact(state: InboxState): InboxState {
    const readUpTo = this.raised(state.readUpTo, (id) => isRead(state, id));
    const seenUpTo = this.raised(state.seenUpTo, (id) => isSeen(state, id));
    if (readUpTo === state.readUpTo && seenUpTo === state.seenUpTo) return state;
    return {
      ...state,
      readUpTo,
      read: state.read.filter((id) => id > readUpTo),
      seenUpTo,
      seen: state.seen.filter((id) => id > seenUpTo),
    };
  }

  /**
   * Ids newest first before `before`, that pass `include`, and not past retention: `limit` and
   * whether more; undefined when ids it needs are not known (older than what was walked, or not
   * walked), and the user's whole index must be read first.
   */
  page(
    before: number,
    limit: number,
    include: (id: number) => boolean,
    now: number,
  ): { ids: number[]; more: boolean } | undefined {
    const oldest = now - this.maxAgeMs;
    const ids: number[] = [];
    for (let i = this.ids.length - 1; i >= 0; i--) {
      const id = this.ids[i]!;
      if (id >= before) continue;
      if (this.gap && id <= this.gap.upTo) return undefined;
      if (this.times[i]! <= oldest || !include(id)) continue;
      if (ids.length === limit) return { ids, more: true };
      ids.push(id);
    }
    // Everything known was passed: the answer is whole only if nothing older exists unknown.
    return this.indexed || this.from <= 1 ? { ids, more: false } : undefined;
  }

  private raised(watermark: number, marked: (id: number) => boolean): number {
    if (watermark + 1 < this.from) return watermark;
    let raised = watermark;
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids[i]!;
      if (id <= raised) continue;
      if (this.gap && id > this.gap.after) break;
      if (!marked(id)) break;
      raised = id;
    }
    return raised;
  }

  private after(upTo: number): { ids: number[]; times: number[] } {
    const at = this.ids.findIndex((id) => id > upTo);
    if (at < 0) return { ids: [], times: [] };
    return { ids: this.ids.slice(at), times: this.times.slice(at) };
  }

  private trim(): void {
    const over = this.ids.length - this.maxPerUser;
    if (over <= 0) return;
    this.from = this.ids[over - 1]! + 1;
    this.ids.splice(0, over);
    this.times.splice(0, over);
  }

  private indexOf(id: number): number {
    let low = 0;
    let high = this.ids.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const at = this.ids[middle]!;
      if (at === id) return middle;
      if (at < id) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }
}
