import { describe, expect } from "vitest";
import type {
  HeraldClientError,
  MessageFrame,
  SubscribedFrame,
  Subscription,
  UnsubscribedFrame,
} from "../../src/client/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { rawTest } from "../fixtures.js";
import { closeClients, observeClient } from "./observed-client.js";
import { until } from "./scripted-gateway.js";

/** Everything one subscription emitted. */
function record(subscription: Subscription) {
  const seen = {
    subscribed: [] as SubscribedFrame[],
    messages: [] as MessageFrame[],
    errors: [] as HeraldClientError[],
    resyncs: [] as SubscribedFrame[],
    unsubscribed: [] as UnsubscribedFrame[],
  };
  subscription.on("subscribed", (frame) => seen.subscribed.push(frame));
  subscription.on("message", (frame) => seen.messages.push(frame));
  subscription.on("error", (error) => seen.errors.push(error));
  subscription.on("resync", (frame) => seen.resyncs.push(frame));
  subscription.on("unsubscribed", (frame) => seen.unsubscribed.push(frame));
  return seen;
}

const numbers = (messages: MessageFrame[]) => messages.map((m) => (m.data as { n: number }).n);

/** `client.subscribe` against a real gateway with history on, a real nats-server and a raw backend. */
const test = rawTest.extend<{
  /** Starts the test's gateway (history in memory), on `port` when given: the same gateway again. */
  start: (port?: number) => Promise<RunningGateway>;
  /** Connects an observed client; closed after the test, before the gateways. */
  observe: typeof observeClient;
}>({
  start: async ({ startGateway }, use) =>
    use((port) => startGateway({ historyStorage: "memory", ...(port ? { port } : {}) })),
  observe: async ({ start }, use) => {
    void start;
    await use(observeClient);
    closeClients();
  },
});

describe("client subscriptions", () => {
  test("subscribes once ready: subscribed, then the channel's messages on the subscription and the client", async ({
    start,
    observe,
    publisher,
  }) => {
    const g = await start();
    const observed = observe(g.url, { getToken: () => "ann" });
    // asked for before the connection is ready: sent once it is
    const room = observed.client.subscribe("channel.room");
    expect(observed.client.subscribe("channel.room")).toBe(room);
    const seen = record(room);
    const viaChannel: unknown[] = [];
    observed.client.channel("channel.room", (m) => viaChannel.push(m.data));
    await until(() => room.state === "subscribed", "subscribed", 10_000);
    expect(seen.subscribed[0]).toMatchObject({ channel: "channel.room", position: expect.any(Number) });

    await publisher.publishStored({ channel: "room" }, { n: 1 });
    await publisher.publishStored("ann", { n: 2 });
    await until(() => observed.messages.length === 2, "both messages");
    expect(numbers(seen.messages)).toEqual([1]);
    expect(viaChannel).toEqual([{ n: 1 }]);
    expect(observed.messages.map((m) => m.channel)).toEqual(["channel.room", "user.ann"]);
    expect(seen.errors).toEqual([]);
  });

  test("reports a refusal on the subscription and ends it; the connection is untouched", async ({
    start,
    observe,
    backend,
  }) => {
    const g = await start();
    backend.subscribeReplies.set(
      "channel.vip",
      JSON.stringify({ ok: false, error: { code: "not_a_member", message: "members only" } }),
    );
    const observed = observe(g.url, { getToken: () => "bob" });
    const vip = observed.client.subscribe("channel.vip");
    const seen = record(vip);
    await until(() => vip.state === "closed", "closed", 10_000);
    expect(seen.errors).toHaveLength(1);
    expect(seen.errors[0]).toMatchObject({
      code: "SUBSCRIBE_REFUSED",
      reason: "not_a_member",
      retryable: false,
      message: "members only",
    });
    expect(observed.client.state).toBe("ready");
    expect(observed.errors).toEqual([]);
    // a new subscribe to it is a new subscription, asked again
    expect(observed.client.subscribe("channel.vip")).not.toBe(vip);
  });

  test("asks again with backoff after a retryable refusal, until granted", async ({
    start,
    observe,
    backend,
  }) => {
    const g = await start();
    const temporary = JSON.stringify({
      ok: false,
      error: { code: "busy", message: "later", temporary: true },
    });
    backend.subscribeReplies.set("channel.busy", temporary);
    const observed = observe(g.url, { getToken: () => "cal", backoff: { initialMs: 20, maxMs: 50 } });
    const busy = observed.client.subscribe("channel.busy");
    const seen = record(busy);
    await until(() => seen.errors.length >= 2, "two refusals", 10_000);
    expect(seen.errors.every((e) => e.code === "BACKEND_UNAVAILABLE" && e.retryable)).toBe(true);
    expect(busy.state).toBe("subscribing");
    backend.subscribeReplies.delete("channel.busy");
    await until(() => busy.state === "subscribed", "subscribed", 10_000);
  });

  test("unsubscribe() stops the messages and the gateway lets go of the channel", async ({
    start,
    observe,
    publisher,
  }) => {
    const g = await start();
    const observed = observe(g.url, { getToken: () => "dee" });
    const news = observed.client.subscribe("channel.dee-news");
    const seen = record(news);
    await until(() => news.state === "subscribed", "subscribed", 10_000);
    await publisher.publishStored({ channel: "dee-news" }, { n: 1 });
    await until(() => seen.messages.length === 1, "the first message");
    news.unsubscribe();
    expect(news.state).toBe("closed");
    await until(() => g.subjectCount === 1, "only user.dee left", 10_000);
    await publisher.publishStored({ channel: "dee-news" }, { n: 2 });
    await publisher.publishStored("dee", { n: 3 });
    await until(() => observed.messages.length === 2, "the personal message");
    expect(numbers(observed.messages)).toEqual([1, 3]);
    expect(numbers(seen.messages)).toEqual([1]);
  });

  test("is restored with recover after a reconnect: what was published meanwhile arrives once, in order", async ({
    start,
    observe,
    publisher,
  }) => {
    const g = await start();
    const port = g.port;
    const observed = observe(g.url, { getToken: () => "eli", backoff: { initialMs: 50, maxMs: 200 } });
    const log = observed.client.subscribe("channel.eli-log");
    const seen = record(log);
    await until(() => log.state === "subscribed", "subscribed", 10_000);
    await publisher.publishStored({ channel: "eli-log" }, { n: 1 });
    await until(() => seen.messages.length === 1, "the first message");

    await g.close();
    await until(() => log.state === "subscribing", "subscribing again");
    for (let n = 2; n <= 4; n++) await publisher.publishStored({ channel: "eli-log" }, { n }); // while away
    await start(port);
    await until(() => seen.subscribed.length === 2, "subscribed on the new gateway", 15_000);
    expect(seen.subscribed[1]).toMatchObject({ recovered: true });
    await publisher.publishStored({ channel: "eli-log" }, { n: 5 });
    await until(() => seen.messages.length === 5, "every message", 10_000);
    expect(numbers(seen.messages)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.resyncs).toEqual([]);
  });

  test("says resync when it cannot recover: the channel lost what was missed", async ({ start, observe }) => {
    const g = await start();
    const port = g.port;
    const observed = observe(g.url, {
      getToken: () => "fay",
      backoff: { initialMs: 50, maxMs: 200 },
      recover: false, // never asks to recover: every resubscribe may have missed messages
    });
    const feed = observed.client.subscribe("channel.fay-feed");
    const seen = record(feed);
    await until(() => feed.state === "subscribed", "subscribed", 10_000);
    await g.close();
    await start(port);
    await until(() => seen.resyncs.length === 1, "resync", 15_000);
    expect(seen.subscribed).toHaveLength(2);
    expect(feed.state).toBe("subscribed");
  });

  test("ends when the backend takes the channel away, and is not asked for again after a reconnect", async ({
    start,
    observe,
    backend,
    raw: control,
  }) => {
    const g = await start();
    const observed = observe(g.url, { getToken: () => "gil" });
    const hall = observed.client.subscribe("channel.gil-hall");
    const seen = record(hall);
    await until(() => hall.state === "subscribed", "subscribed", 10_000);
    control.publish(
      "herald.control.unsubscribe",
      JSON.stringify({ user: "gil", channel: "channel.gil-hall" }),
    );
    await until(() => hall.state === "closed", "closed");
    expect(seen.unsubscribed).toEqual([
      { type: "unsubscribed", channel: "channel.gil-hall", reason: "removed" },
    ]);
    const asked = backend.subscribeRequests.filter((r) => r.channel === "channel.gil-hall").length;
    observed.client.reconnect();
    await until(() => observed.readies.length === 2, "ready again", 10_000);
    // a channel subscribed after the reconnect is asked for; the one taken away is not
    const other = observed.client.subscribe("channel.gil-other");
    await until(() => other.state === "subscribed", "the other subscribed", 10_000);
    expect(backend.subscribeRequests.filter((r) => r.channel === "channel.gil-hall")).toHaveLength(asked);
  });

  test("ends every subscription on close()", async ({ start, observe }) => {
    const g = await start();
    const observed = observe(g.url, { getToken: () => "hal" });
    const a = observed.client.subscribe("channel.hal-a");
    await until(() => a.state === "subscribed", "subscribed", 10_000);
    observed.client.close();
    expect(a.state).toBe("closed");
    await until(() => g.subjectCount === 0, "the gateway let go of everything", 10_000);
  });
});
