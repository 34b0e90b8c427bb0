import { describe, expect, it } from "vitest";
import {
  applyChange,
  decodeState,
  EMPTY_STATE,
  effectiveIds,
  encodeState,
  isArchived,
  isRead,
  isSeen,
  MAX_EXCEPTIONS,
} from "../../src/gateway/inbox/inbox-state.js";
import { KnownNotifications } from "../../src/gateway/inbox/known-notifications.js";
import { decodeClientFrame } from "../../src/protocol/index.js";

/** The state record's rules, without NATS: one small record per user whatever the number of notifications. */
describe("inbox state", () => {
  it("reading implies seeing, archiving implies both, unread keeps seen", () => {
    let state = applyChange(EMPTY_STATE, { state: "read", ids: [5] });
    expect([isRead(state, 5), isSeen(state, 5), isArchived(state, 5)]).toEqual([true, true, false]);
    state = applyChange(state, { state: "unread", ids: [5] });
    expect([isRead(state, 5), isSeen(state, 5)]).toEqual([false, true]);
    state = applyChange(state, { state: "archived", ids: [7] });
    expect([isRead(state, 7), isSeen(state, 7), isArchived(state, 7)]).toEqual([true, true, true]);
  });

  it("upTo is a watermark: one field, whatever the number of ids, and unread exceptions below it", () => {
    let state = applyChange(EMPTY_STATE, { state: "read", ids: [20, 30] });
    state = applyChange(state, { state: "read", upTo: 25 });
    expect(state).toMatchObject({ readUpTo: 25, read: [30], seenUpTo: 25, seen: [30] });
    state = applyChange(state, { state: "unread", ids: [10] });
    expect([isRead(state, 10), isRead(state, 11), isRead(state, 26)]).toEqual([false, true, false]);
    expect(state.unread).toEqual([10]);
    state = applyChange(state, { state: "read", upTo: 12 });
    expect(state.unread).toEqual([]);
    expect(state.readUpTo).toBe(25);
    expect(encodeState(state).byteLength).toBeLessThan(200);
  });

  it("a change that would alter nothing has no effective ids", () => {
    const state = applyChange(EMPTY_STATE, { state: "read", upTo: 10 });
    expect(effectiveIds(state, { state: "read", ids: [3, 11, 11] })).toEqual([11]);
    expect(effectiveIds(state, { state: "unread", ids: [3, 11] })).toEqual([3]);
    expect(effectiveIds(state, { state: "seen", ids: [3, 12] })).toEqual([12]);
  });

  it("keeps every exception set bounded, dropping the oldest ids", () => {
    let state = EMPTY_STATE;
    for (let id = 1; id <= MAX_EXCEPTIONS + 5; id++)
      state = applyChange(state, { state: "seen", ids: [id * 2] });
    expect(state.seen).toHaveLength(MAX_EXCEPTIONS);
    expect(state.seen[0]).toBe(12);
  });

  it("reads a hostile record as no record, and sorts one written out of order", () => {
    const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    expect(decodeState(bytes({ readUpTo: -1 }))).toBeUndefined();
    expect(decodeState(new TextEncoder().encode("not json"))).toBeUndefined();
    const huge = Array.from({ length: MAX_EXCEPTIONS + 1 }, (_, i) => i + 1);
    expect(decodeState(bytes({ ...EMPTY_STATE, read: huge }))).toBeUndefined();
    expect(decodeState(bytes({ ...EMPTY_STATE, read: [9, 3, 3] }))?.read).toEqual([3, 9]);
  });
});

describe("what a gateway knows of a user's ids", () => {
  const now = Date.now();
  const refs = (ids: number[]) => ids.map((id) => ({ id, time: now }));

  it("counts unread up to the cap, and says when ids were not walked", () => {
    const known = new KnownNotifications(1000, 60_000);
    known.walked(1, refs([2, 4, 6]), false, 10);
    const count = known.count(EMPTY_STATE, 2, now);
    expect(count).toEqual({ unread: 2, capped: true });
    known.walked(1, refs([2, 4, 6, 8]), true, 10);
    expect(known.count(EMPTY_STATE, 5, now)).toEqual({ unread: 4, capped: false });
    // Marked read: the count drops; below the cap with ids unwalked, it needs another walk.
    known.walked(1, refs([2, 4, 6]), false, 10);
    const read = applyChange(EMPTY_STATE, { state: "read", ids: [2, 4] });
    expect(known.incomplete(known.count(read, 2, now))).toBe(true);
  });

  it("raises the watermarks over ids read one by one when every id in between is known", () => {
    const known = new KnownNotifications(1000, 60_000);
    known.walked(1, refs([3, 5, 8, 9]), true, 9);
    const state = applyChange(applyChange(EMPTY_STATE, { state: "read", ids: [3, 5] }), {
      state: "read",
      ids: [9],
    });
    const compact = known.compact(state);
    expect(compact).toMatchObject({ readUpTo: 5, read: [9], seenUpTo: 5, seen: [9] });
    for (const id of [3, 5, 8, 9]) expect(isRead(compact, id)).toBe(isRead(state, id));
  });

  it("answers a page from the connect's walk when it knows every id the page needs", () => {
    const known = new KnownNotifications(1000, 60_000);
    // Walked from the start (nothing read yet): every id is known.
    known.walked(1, refs([3, 5, 8]), true, 8);
    expect(known.page(Number.MAX_SAFE_INTEGER, 2, () => true, now)).toEqual({ ids: [8, 5], more: true });
    expect(known.page(5, 2, () => true, now)).toEqual({ ids: [3], more: false });
    // Walked from after the read watermark: older ids are unknown, so a page reaching them asks for the index.
    known.walked(5, refs([5, 8]), true, 8);
    expect(known.page(Number.MAX_SAFE_INTEGER, 1, () => true, now)).toEqual({ ids: [8], more: true });
    expect(known.page(Number.MAX_SAFE_INTEGER, 5, () => true, now)).toBeUndefined();
    // Ids left unwalked above the cap: a page reaching them does too.
    known.walked(1, refs([3, 5]), false, 8);
    expect(known.page(Number.MAX_SAFE_INTEGER, 1, () => true, now)).toBeUndefined();
  });

  it("says what left by retention: the oldest past --inbox-max-per-user, those past --inbox-max-age", () => {
    const known = new KnownNotifications(3, 1000);
    known.indexedAll([{ id: 1, time: now - 900 }, { id: 2, time: now - 500 }, ...refs([3])], 3);
    expect(known.nextExpiry()).toBe(now + 100);
    expect(known.add(4, now)).toBe(1);
    expect(known.add(4, now)).toBe(0);
    expect(known.expire(now + 400)).toBe(0);
    expect(known.expire(now + 500)).toBe(2);
    expect(known.nextExpiry()).toBe(now + 1000);
    // An id marked unread below what was walked is counted once its time is known, and not after it left.
    const walked = new KnownNotifications(3, 1000);
    walked.walked(5, refs([5]), true, 5);
    const state = applyChange(applyChange(EMPTY_STATE, { state: "read", upTo: 4 }), {
      state: "unread",
      ids: [2],
    });
    expect(walked.needsIndex(state)).toBe(true);
    walked.indexedAll([{ id: 2, time: now - 900 }, ...refs([5])], 5);
    expect(walked.needsIndex(state)).toBe(false);
    expect(walked.count(state, 10, now)).toEqual({ unread: 2, capped: false });
    expect(walked.expire(now + 100)).toBe(2);
    expect(walked.count(state, 10, now + 100)).toEqual({ unread: 1, capped: false });
  });

  it("lists newest first, past retention left out", () => {
    const known = new KnownNotifications(3, 1000);
    known.indexedAll([{ id: 1, time: now - 5000 }, ...refs([2, 3, 4])], 4);
    expect(known.page(Number.MAX_SAFE_INTEGER, 10, () => true, now)).toEqual({ ids: [4, 3, 2], more: false });
    known.add(5, now);
    expect(known.page(5, 1, () => true, now)).toEqual({ ids: [4], more: true });
  });
});

describe("inbox frames", () => {
  const decode = (frame: unknown) => decodeClientFrame(JSON.stringify(frame), false);

  it("takes a mark by ids or by upTo, and refuses both, neither, or unread up to", () => {
    expect(decode({ type: "inbox_mark", id: 1, ids: [1, 2], state: "read" }).ok).toBe(true);
    expect(decode({ type: "inbox_mark", id: 1, upTo: 9, state: "archived" }).ok).toBe(true);
    expect(decode({ type: "inbox_mark", id: 1, ids: [1], upTo: 9, state: "read" })).toMatchObject({
      ok: false,
      code: "INVALID_FRAME",
    });
    expect(decode({ type: "inbox_mark", id: 1, state: "read" }).ok).toBe(false);
    expect(decode({ type: "inbox_mark", id: 1, upTo: 9, state: "unread" }).ok).toBe(false);
  });

  it("bounds lists and marks", () => {
    expect(decode({ type: "inbox_list", id: 1, limit: 100, before: 5, archived: true }).ok).toBe(true);
    expect(decode({ type: "inbox_list", id: 1, limit: 101 }).ok).toBe(false);
    expect(decode({ type: "inbox_list", id: 1, before: 0 }).ok).toBe(false);
    const ids = Array.from({ length: 101 }, (_, i) => i + 1);
    expect(decode({ type: "inbox_mark", id: 1, ids, state: "read" }).ok).toBe(false);
    expect(decode({ type: "auth", token: "t", inbox: { epoch: "1", since: 2 ** 60 } }).ok).toBe(false);
  });
});
