import { describe, expect, it } from "vitest";
import { RecoveryTracker } from "../../src/client/recovery.js";
import type { MessageFrame, ReadyFrame } from "../../src/protocol/server-frames.js";

const ready = (overrides: Partial<ReadyFrame> = {}): ReadyFrame => ({
  type: "ready",
  user: "1",
  connection: "c",
  gateway: "g",
  channels: ["user.1", "channel.news"],
  heartbeat: 25_000,
  ...overrides,
});
const message = (channel: string, seq?: number, prev?: number): MessageFrame => ({
  type: "message",
  channel,
  data: null,
  ...(seq === undefined ? {} : { seq }),
  ...(prev === undefined ? {} : { prev }),
});

describe("RecoveryTracker", () => {
  it("asks for nothing while history was never seen, and delivers unsequenced messages", () => {
    const tracker = new RecoveryTracker();
    expect(tracker.request()).toBeUndefined();
    tracker.ready(ready());
    expect(tracker.accept(message("user.1"))).toBe("deliver");
    expect(tracker.request()).toBeUndefined();
  });

  it("remembers the epoch and the last sequence per channel", () => {
    const tracker = new RecoveryTracker();
    tracker.ready(ready({ epoch: "e1" }));
    expect(tracker.request()).toEqual({ epoch: "e1", since: {} });
    expect(tracker.accept(message("user.1", 3, 0))).toBe("deliver");
    expect(tracker.accept(message("channel.news", 4, 0))).toBe("deliver");
    expect(tracker.accept(message("user.1", 7, 3))).toBe("deliver");
    expect(tracker.request()).toEqual({ epoch: "e1", since: { "user.1": 7, "channel.news": 4 } });
  });

  it("drops sequences at or below the last one seen on the channel", () => {
    const tracker = new RecoveryTracker();
    tracker.ready(ready({ epoch: "e1" }));
    expect(tracker.accept(message("user.1", 5))).toBe("deliver");
    expect(tracker.accept(message("user.1", 5))).toBe("duplicate");
    expect(tracker.accept(message("user.1", 2))).toBe("duplicate");
    // another channel has its own position
    expect(tracker.accept(message("channel.news", 2))).toBe("deliver");
  });

  it("reports a gap when prev is not the last sequence seen, and does not move past it", () => {
    const tracker = new RecoveryTracker();
    tracker.ready(ready({ epoch: "e1" }));
    expect(tracker.accept(message("user.1", 5, 0))).toBe("deliver");
    expect(tracker.accept(message("user.1", 9, 8))).toBe("gap");
    expect(tracker.request()?.since).toEqual({ "user.1": 5 });
    // the first message seen on a channel has nothing to compare with
    expect(tracker.accept(message("channel.news", 12, 10))).toBe("deliver");
  });

  it("starts from the gateway's positions on a first connection, so the first live message is checked too", () => {
    const tracker = new RecoveryTracker();
    tracker.ready(ready({ epoch: "e1", positions: { "user.1": 118, "channel.news": 0 } }));
    expect(tracker.request()).toEqual({ epoch: "e1", since: { "user.1": 118, "channel.news": 0 } });
    expect(tracker.accept(message("user.1", 119, 118))).toBe("deliver");
    expect(tracker.accept(message("channel.news", 125, 120))).toBe("gap");
    expect(tracker.accept(message("channel.news", 120, 0))).toBe("deliver");
  });

  it("accepts a prev before the position: an empty channel's position is the stream's sequence at join", () => {
    const tracker = new RecoveryTracker();
    tracker.ready(ready({ epoch: "e1", positions: { "user.1": 500 } }));
    expect(tracker.accept(message("user.1", 501, 0))).toBe("deliver");
    expect(tracker.accept(message("user.1", 530, 501))).toBe("deliver");
    expect(tracker.accept(message("user.1", 540, 535))).toBe("gap");
  });

  it("keeps its own positions over the gateway's after a complete recovery (the replay follows)", () => {
    const tracker = new RecoveryTracker();
    tracker.ready(ready({ epoch: "e1", positions: { "user.1": 3 } }));
    tracker.accept(message("user.1", 4, 3));
    tracker.ready(ready({ epoch: "e1", recovered: true, positions: { "user.1": 9, "channel.news": 2 } }));
    expect(tracker.request()?.since).toEqual({ "user.1": 4, "channel.news": 2 });
    // the replay, prev-chained from 4
    expect(tracker.accept(message("user.1", 6, 4))).toBe("deliver");
    // an incomplete one starts over from the gateway's
    tracker.ready(ready({ epoch: "e1", recovered: false, positions: { "user.1": 9 } }));
    expect(tracker.request()?.since).toEqual({ "user.1": 9 });
  });

  it("forgets the positions when the stream changed (new epoch) or recovery was incomplete", () => {
    const tracker = new RecoveryTracker();
    tracker.ready(ready({ epoch: "e1" }));
    tracker.accept(message("user.1", 5));
    tracker.ready(ready({ epoch: "e1", recovered: true }));
    expect(tracker.request()).toEqual({ epoch: "e1", since: { "user.1": 5 } });
    tracker.ready(ready({ epoch: "e2", recovered: false }));
    expect(tracker.request()).toEqual({ epoch: "e2", since: {} });
    tracker.accept(message("user.1", 2));
    tracker.ready(ready({ epoch: "e2", recovered: false }));
    expect(tracker.request()).toEqual({ epoch: "e2", since: {} });
    // after the reset the next live message is the new starting point, not a gap
    expect(tracker.accept(message("user.1", 40, 39))).toBe("deliver");
  });

  it("drops channels no longer granted and never asks for more than 64 channels", () => {
    const tracker = new RecoveryTracker();
    const channels = Array.from({ length: 70 }, (_, i) => `channel.c${i}`);
    tracker.ready(ready({ epoch: "e1", channels }));
    channels.forEach((channel, i) => {
      tracker.accept(message(channel, i + 1));
    });
    const since = tracker.request()!.since;
    expect(Object.keys(since)).toHaveLength(64);
    expect(since["channel.c69"]).toBe(70);
    expect(since["channel.c0"]).toBeUndefined();
    tracker.ready(ready({ epoch: "e1", recovered: true, channels: ["channel.c69"] }));
    expect(tracker.request()!.since).toEqual({ "channel.c69": 70 });
  });
});
