import { describe, expect, it } from "vitest";
import { PagePayloads, PayloadBudget } from "../../src/gateway/inbox/page-payloads.js";

const notification = (id: number, bytes = 10) => ({
  id,
  time: id * 1000,
  data: new Uint8Array(bytes).fill(id),
});

/** The payloads kept for a user's newest page, without NATS: bounded per user and per gateway. */
describe("page payloads", () => {
  it("keeps the newest, at most `max`, and gives the bytes of those dropped back", () => {
    const budget = new PayloadBudget(1 << 20);
    const kept = new PagePayloads(budget, 3);
    for (const id of [5, 9, 7, 2]) kept.keep(notification(id));
    // 2 was the oldest of four: dropped as soon as it was kept.
    expect([2, 5, 7, 9].map((id) => kept.get(id)?.id)).toEqual([undefined, 5, 7, 9]);
    kept.keep(notification(12));
    expect([5, 7, 9, 12].map((id) => kept.get(id)?.id)).toEqual([undefined, 7, 9, 12]);
    const perEntry = budget.used / 3;
    expect(Number.isInteger(perEntry)).toBe(true);
    kept.release();
    expect(budget.used).toBe(0);
  });

  it("keeps a copy of its own size, not a view of a larger buffer", () => {
    const kept = new PagePayloads(new PayloadBudget(1 << 20));
    const buffer = new Uint8Array(1000).fill(1);
    kept.keep({ id: 1, time: 1, data: buffer.subarray(10, 20) });
    const data = kept.get(1)?.data;
    expect(data?.byteLength).toBe(10);
    expect(data?.buffer.byteLength).toBe(10);
  });

  it("keeps nothing past the gateway's budget, shared by every user, nor once let go of", () => {
    const budget = new PayloadBudget(1000);
    const one = new PagePayloads(budget);
    const two = new PagePayloads(budget);
    one.keep(notification(1, 500));
    two.keep(notification(2, 500));
    expect(one.get(1)).toBeDefined();
    expect(two.get(2)).toBeUndefined();
    one.release();
    two.keep(notification(2, 500));
    expect(two.get(2)).toBeDefined();
    one.keep(notification(3, 10));
    expect(one.get(3)).toBeUndefined();
    two.release();
    expect(budget.used).toBe(0);
  });
});
