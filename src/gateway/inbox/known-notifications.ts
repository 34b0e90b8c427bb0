import type { UnreadCount } from "./inbox-frames.js";
import { countsUnread, type InboxState, isRead, isSeen } from "./inbox-state.js";
import type { NotificationRef } from "./inbox-store.js";

/**
 * What a gateway knows of one user's notification ids (ids and times only, 16 bytes each), from
 * which it counts unread ones without asking JetStream again:
 * - after a connect, every id after the read watermark, found by walking the stream forward from
 *   it until more than the cap are unread (`gap` then says which ids were not walked);
 * - after the first `inbox_list`, or when an id below the walk is marked unread, every id the user
 *   has (`indexed`).
 * Live notifications are added as they arrive. At most `maxPerUser` are kept, as the stream does,
 * and none older than `maxAgeMs` (see `expire`): what leaves here is what left the stream.
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
  /** Every notification of the user up to this id has left by retention. */
  private gone = 0;

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

  /**
   * Ids marked unread below what was walked are counted only while their time is known (they may
   * have left by retention since): every id must be known, by an index read.
   */
  needsIndex(state: InboxState): boolean {
    return !this.indexed && state.unread.some((id) => id < this.from);
  }

  /**
   * A notification that arrived live. The stream keeps the user's newest `maxPerUser`: returns the
   * highest id this drops with it (every known id up to it left), 0 when none.
   */
  add(id: number, time: number): number {
    const last = this.ids.at(-1) ?? 0;
    if (id <= last) return 0;
    this.ids.push(id);
    this.times.push(time);
    return this.trim();
  }

  /**
   * Forgets the ids older than `--inbox-max-age` at `now`, as the stream does; returns the highest
   * of them (ids grow with time: every id of the user up to it left), 0 when none.
   */
  expire(now: number): number {
    const oldest = now - this.maxAgeMs;
    let left = 0;
    let keep = 0;
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids[i]!;
      const time = this.times[i]!;
      if (time <= oldest) {
        left = Math.max(left, id);
        continue;
      }
      this.ids[keep] = id;
      this.times[keep++] = time;
    }
    this.ids.length = keep;
    this.times.length = keep;
    this.gone = Math.max(this.gone, left);
    return left;
  }

  /** When the oldest known id leaves by age (ms since the epoch); Infinity when none is known. */
  nextExpiry(): number {
    let oldest = Number.POSITIVE_INFINITY;
    // Nearly sorted, but a walk's times are the server's and live ones this gateway's clock.
    for (const time of this.times) if (time < oldest) oldest = time;
    return oldest + this.maxAgeMs;
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
      // Marked unread below what was walked, just now: counted until the index read says more.
      if (!this.indexed && id < this.from && id > this.gone && countsUnread(state, id)) unread++;
    }
    for (let i = 0; i < this.ids.length; i++) {
      if (this.times[i]! > oldest && countsUnread(state, this.ids[i]!)) unread++;
    }
    if (unread > cap || this.gap) return { unread: Math.min(unread, cap), capped: unread > cap };
    return { unread, capped: false };
  }

  /**
   * Forgets what no count and no page needs: read ids at or below the read watermark, unless
   * indexed. (Those past retention are left to `expire`, which says what left.)
   */
  prune(state: InboxState): void {
    let keep = 0;
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids[i]!;
      const time = this.times[i]!;
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

  /** Drops the oldest over `maxPerUser`; returns the highest id dropped, 0 when none. */
  private trim(): number {
    const over = this.ids.length - this.maxPerUser;
    if (over <= 0) return 0;
    const dropped = this.ids[over - 1]!;
    this.from = dropped + 1;
    this.gone = Math.max(this.gone, dropped);
    this.ids.splice(0, over);
    this.times.splice(0, over);
    return dropped;
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
