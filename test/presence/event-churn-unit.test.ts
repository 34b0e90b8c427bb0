import { Registry as MetricsRegistry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TrackedConnection } from "../../src/gateway/gateway-context.js";
import { createLogger } from "../../src/gateway/logger.js";
import { ConnectionTracker } from "../../src/gateway/tracking/events/connection-tracker.js";
import type { EventPublisher } from "../../src/gateway/tracking/events/event-publisher.js";
import type { Registry } from "../../src/gateway/tracking/registry/registry.js";
import { TrackingMetrics } from "../../src/gateway/tracking/registry/tracking-metrics.js";
import type { ConnectionEvent } from "../../src/protocol/index.js";

/**
 * The minute of `--events-subscribe-limit`, on a fake clock: what a real gateway does over a whole
 * minute (test/hostile/event-volume.test.ts covers the first seconds against a real stream). The
 * registry and the stream are stand-ins that store at once; the tracker's own logic is under test.
 */
const LIMIT = 3;

let stored: ConnectionEvent[];
let tracker: ConnectionTracker;
const connection: TrackedConnection = { id: "c-1", user: "u", send() {}, fail() {} };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  stored = [];
  const instance = { id: "gw-i", current: true, records: { set: async () => true, delete() {} } };
  const events = {
    async publish(event: ConnectionEvent) {
      stored.push(event);
      return true;
    },
  };
  tracker = new ConnectionTracker({
    registry: { current: instance } as unknown as Registry,
    events: events as unknown as EventPublisher,
    presence: undefined,
    gatewayId: "gw",
    subscribeLimit: LIMIT,
    metrics: new TrackingMetrics(new MetricsRegistry()),
    logger: createLogger("silent", "gw"),
  });
});

afterEach(() => {
  vi.useRealTimers();
});

/** `pairs` subscribe/unsubscribe pairs of `channel`, one event a second. */
async function churn(channel: string, pairs: number): Promise<void> {
  for (let i = 0; i < pairs; i++) {
    tracker.subscribed(connection, channel, false);
    await vi.advanceTimersByTimeAsync(1000);
    tracker.unsubscribed(connection, channel);
    await vi.advanceTimersByTimeAsync(1000);
  }
}

const summary = (events: ConnectionEvent[]) =>
  events.map((e) => [e.kind, e.channel ?? e.count ?? null, ...(e.channels ? [e.channels] : [])]);

describe("subscribe churn over --events-subscribe-limit", () => {
  it("stores the limit, then one dropped event at the minute's end, and the next minute's events again", async () => {
    tracker.ready(connection, { user: "u", channels: ["channel.base"], presence: [], info: undefined });
    await churn("channel.x", 5); // 10 events in 10 s: 3 stored, 7 not
    tracker.subscribed(connection, "channel.y", false); // held at the end of the minute
    await vi.advanceTimersByTimeAsync(1000);
    expect(summary(stored)).toEqual([
      ["connected", null],
      ["subscribed", "channel.base"],
      ["subscribed", "channel.x"],
      ["unsubscribed", "channel.x"],
      ["subscribed", "channel.x"],
    ]);
    await vi.advanceTimersByTimeAsync(60_000 - 11_000);
    expect(summary(stored.slice(5))).toEqual([["dropped", 8, ["channel.base", "channel.y"]]]);
    // A new minute: stored again, up to the limit.
    await churn("channel.z", 1);
    expect(summary(stored.slice(6))).toEqual([
      ["subscribed", "channel.z"],
      ["unsubscribed", "channel.z"],
    ]);
    expect(stored.map((e) => e.id)).toEqual(stored.map((_, i) => `gw-i:c-1:${i}`));
  });

  it("stores the dropped event before disconnected when the connection ends within the minute", async () => {
    tracker.ready(connection, { user: "u", channels: [], presence: [], info: undefined });
    await churn("channel.x", 3); // 6 events: 3 stored, 3 not
    tracker.closed(connection, { code: 1000, byClient: true, reason: undefined });
    await vi.advanceTimersByTimeAsync(0);
    expect(summary(stored.slice(4))).toEqual([
      ["dropped", 3, []],
      ["disconnected", null],
    ]);
    // The minute's end, after the close, stores nothing more.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(stored).toHaveLength(6);
  });
});
