import { describe, expect } from "vitest";
import { HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import { type NatsServer, type ReceivedFrame, type TestClient, waitUntil } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

const numbers = (frames: ReceivedFrame[]) => frames.map((f) => (f.data as { n: number }).n);

async function subscribe(client: TestClient, channel: string, extra: Record<string, unknown> = {}) {
  client.send({ type: "subscribe", channel, ...extra });
  return client.next("subscribed");
}

/** The gateway's UNSUB reaches the server a moment after the frame that says it went out. */
const noSubscriber = (nats: NatsServer, subject: string) =>
  waitUntil(async () => !(await nats.hasSubscriber(subject)), `no subscriber to ${subject}`);
const subscriptionsBackTo = (nats: NatsServer, count: number) =>
  waitUntil(async () => (await nats.subscriptionCount()) === count, `${count} subscriptions at the server`, {
    timeoutMs: 10_000,
  });

/** A counter from the gateway's /metrics, e.g. `herald_subscribe_results_total{result="unavailable"}`. */
async function metric(gateway: RunningGateway, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

describe("subscribe and unsubscribe (history on)", () => {
  test.override({
    gatewayOptions: { clientFrameRate: 100_000, clientFrameBurst: 100_000, subscribeRequestTimeout: 1500 },
  });

  test("grants a channel the backend allows: subscribed with a position, then its messages", async ({
    client,
    backend,
    publisher,
    gateway,
  }) => {
    const c = await client("ann");
    const subscribed = await subscribe(c, "channel.room-1");
    expect(subscribed).toMatchObject({ type: "subscribed", channel: "channel.room-1" });
    expect(typeof subscribed.position).toBe("number");
    expect(subscribed).not.toHaveProperty("recovered");
    expect(backend.subscribeRequests.at(-1)).toEqual({
      user: "ann",
      connection: c.frames[0]?.connection,
      gateway: gateway.id,
      channel: "channel.room-1",
    });
    const { seq } = await publisher.publishStored({ channel: "room-1" }, { n: 1 });
    const [message] = await c.waitForMessages(1);
    expect(message).toMatchObject({ channel: "channel.room-1", data: { n: 1 }, seq });
    expect(seq).toBeGreaterThan(subscribed.position as number);
  });

  test("a refusal is a subscribe_error with the backend's reason; the connection stays open", async ({
    client,
    backend,
  }) => {
    backend.subscribeReplies.set(
      "channel.secret",
      JSON.stringify({ ok: false, error: { code: "forbidden", message: "members only" } }),
    );
    const c = await client("bob");
    c.send({ type: "subscribe", channel: "channel.secret" });
    expect(await c.next("subscribe_error")).toEqual({
      type: "subscribe_error",
      channel: "channel.secret",
      code: "SUBSCRIBE_REFUSED",
      message: "members only",
      reason: "forbidden",
    });
    c.send({ type: "ping" });
    await c.next("pong");
    expect(c.closed).toBeUndefined();
    expect(await subscribe(c, "channel.open-1")).toMatchObject({ channel: "channel.open-1" });
  });

  test("a temporary refusal is a retryable BACKEND_UNAVAILABLE", async ({ client, backend }) => {
    backend.subscribeReplies.set(
      "channel.busy",
      JSON.stringify({ ok: false, error: { code: "db_down", message: "later", temporary: true } }),
    );
    const c = await client("bea");
    c.send({ type: "subscribe", channel: "channel.busy" });
    const error = await c.next("subscribe_error");
    expect(error).toMatchObject({ code: "BACKEND_UNAVAILABLE" });
    expect(error).not.toHaveProperty("reason");
  });

  test("a grant that has already expired is refused with reason expired", async ({ client, backend }) => {
    backend.subscribeReplies.set("channel.old", JSON.stringify({ ok: true, expiresAt: Date.now() - 1000 }));
    const c = await client("cid");
    c.send({ type: "subscribe", channel: "channel.old" });
    expect(await c.next("subscribe_error")).toMatchObject({ code: "SUBSCRIBE_REFUSED", reason: "expired" });
  });

  test("a grant's expiresAt ends the subscription with unsubscribed, reason expired", async ({
    client,
    backend,
    nats,
  }) => {
    backend.subscribeReplies.set("channel.brief", JSON.stringify({ ok: true, expiresAt: Date.now() + 400 }));
    const c = await client("cat");
    await subscribe(c, "channel.brief");
    expect(await c.next("unsubscribed")).toEqual({
      type: "unsubscribed",
      channel: "channel.brief",
      reason: "expired",
    });
    await noSubscriber(nats, "herald.live.channel.brief");
  });

  test("no answer within --subscribe-request-timeout is a retryable BACKEND_UNAVAILABLE", async ({
    client,
    backend,
    nats,
  }) => {
    backend.subscribeReplies.set("channel.slow", null);
    const c = await client("dan");
    c.send({ type: "subscribe", channel: "channel.slow" });
    const error = await c.next("subscribe_error");
    expect(error).toMatchObject({ code: "BACKEND_UNAVAILABLE", channel: "channel.slow" });
    expect(error.message).toMatch(/did not answer within 1500 ms/);
    expect(await nats.hasSubscriber("herald.live.channel.slow")).toBe(false);
    expect(c.closed).toBeUndefined();
  });

  test("a reply that breaks the schema is BACKEND_INVALID_REPLY", async ({ client, backend }) => {
    backend.subscribeReplies.set("channel.broken", '{"ok":"yes"}');
    backend.subscribeReplies.set("channel.text", "sure");
    const c = await client("eve");
    c.send({ type: "subscribe", channel: "channel.broken" });
    expect(await c.next("subscribe_error")).toMatchObject({ code: "BACKEND_INVALID_REPLY" });
    c.send({ type: "subscribe", channel: "channel.text" });
    expect(await c.next("subscribe_error")).toMatchObject({ code: "BACKEND_INVALID_REPLY" });
  });

  test.for([
    "channel.a.b",
    "channel.*",
    "channel.>",
    "channel.",
    "channel",
    "",
    "user.other",
    "live.channel.x",
    "channel.x y",
    "channel.x\r\nSUB herald.> 1",
    "channel.\u00fc",
    "channel.a\u0000",
    `channel.${"x".repeat(129)}`,
    "\u20ac".repeat(256),
  ])(
    "refuses the hostile channel %j: INVALID_CHANNEL, nothing asked or subscribed, still open",
    async (name, { client, backend, nats }) => {
      const c = await client("hal");
      const asked = backend.subscribeRequests.length;
      const subscriptions = await nats.subscriptionCount();
      c.send({ type: "subscribe", channel: name });
      const error = await c.next("subscribe_error");
      expect(error).toMatchObject({ channel: name, code: "INVALID_CHANNEL" });
      expect((error.message as string).length).toBeLessThan(140); // the name is quoted briefly
      c.send({ type: "unsubscribe", channel: name });
      expect(await c.next("subscribe_error")).toMatchObject({ channel: name, code: "INVALID_CHANNEL" });
      c.send({ type: "ping" });
      await c.next("pong");
      expect(backend.subscribeRequests.length).toBe(asked);
      expect(await nats.subscriptionCount()).toBe(subscriptions);
      expect(c.closed).toBeUndefined();
    },
  );

  test("closes 4400 on a channel longer than 256 characters: no valid channel is", async ({ client }) => {
    const c = await client("gus");
    c.send({ type: "subscribe", channel: `channel.${"x".repeat(300)}` });
    expect(await c.next("error")).toMatchObject({ code: "INVALID_FRAME" });
    expect((await c.waitClose()).code).toBe(CloseCode.InvalidFrame);
  });

  test("refuses a channel the connection already has: granted at auth, subscribed, or under way", async ({
    client,
    backend,
  }) => {
    backend.replies.set("ida", JSON.stringify({ ok: true, user: "ida", channels: ["team"] }));
    backend.subscribeReplies.set("channel.pending", null);
    const c = await client("ida");
    for (const channel of ["channel.team", "channel.pending", "channel.pending"]) {
      c.send({ type: "subscribe", channel });
    }
    expect(await c.next("subscribe_error")).toMatchObject({
      channel: "channel.team",
      code: "ALREADY_SUBSCRIBED",
    });
    expect(await c.next("subscribe_error")).toMatchObject({
      channel: "channel.pending",
      code: "ALREADY_SUBSCRIBED",
    });
    await subscribe(c, "channel.mine");
    c.send({ type: "subscribe", channel: "channel.mine" });
    expect(await c.next("subscribe_error")).toMatchObject({
      channel: "channel.mine",
      code: "ALREADY_SUBSCRIBED",
    });
  });

  test("unsubscribe: unsubscribed, no more messages, and no NATS subscription left behind", async ({
    client,
    nats,
    publisher,
    gateway,
  }) => {
    const c = await client("jan");
    const before = await nats.subscriptionCount();
    await subscribe(c, "channel.news");
    expect(await nats.hasSubscriber("herald.live.channel.news")).toBe(true);
    expect(await nats.subscriptionCount()).toBe(before + 1);
    await publisher.publishStored({ channel: "news" }, { n: 1 });
    await c.waitForMessages(1);
    c.send({ type: "unsubscribe", channel: "channel.news" });
    expect(await c.next("unsubscribed")).toEqual({ type: "unsubscribed", channel: "channel.news" });
    await noSubscriber(nats, "herald.live.channel.news");
    await subscriptionsBackTo(nats, before);
    expect(gateway.subjectCount).toBe(1);
    // a message after it does not arrive; one to the user's own channel does, after it
    await publisher.publishStored({ channel: "news" }, { n: 2 });
    await publisher.publishStored("jan", { n: 3 });
    await c.waitForMessages(2);
    expect(numbers(c.messages())).toEqual([1, 3]);
    // unsubscribing again is answered the same
    c.send({ type: "unsubscribe", channel: "channel.news" });
    expect(await c.next("unsubscribed")).toEqual({ type: "unsubscribed", channel: "channel.news" });
  });

  test("a channel granted at auth can be unsubscribed too; the personal channel cannot", async ({
    client,
    backend,
    nats,
  }) => {
    backend.replies.set("ivy", JSON.stringify({ ok: true, user: "ivy", channels: ["crew"] }));
    const c = await client("ivy");
    expect(await nats.hasSubscriber("herald.live.channel.crew")).toBe(true);
    c.send({ type: "unsubscribe", channel: "channel.crew" });
    expect(await c.next("unsubscribed")).toEqual({ type: "unsubscribed", channel: "channel.crew" });
    await noSubscriber(nats, "herald.live.channel.crew");
    c.send({ type: "unsubscribe", channel: "user.ivy" });
    expect(await c.next("subscribe_error")).toMatchObject({ code: "INVALID_CHANNEL" });
    expect(await nats.hasSubscriber("herald.live.user.ivy")).toBe(true);
  });

  test("an unsubscribe while the backend decides ends it at once: the late answer joins nothing", async ({
    client,
    backend,
    nats,
    gateway,
  }) => {
    backend.subscribeReplies.set("channel.undecided", null);
    const c = await client("kim");
    const before = await nats.subscriptionCount();
    const timedOut = 'herald_subscribe_results_total{result="unavailable"}';
    const timeoutsBefore = await metric(gateway, timedOut);
    c.send({ type: "subscribe", channel: "channel.undecided" });
    await waitUntil(
      () => backend.subscribeRequests.some((r) => r.channel === "channel.undecided"),
      "the subscribe request",
    );
    c.send({ type: "unsubscribe", channel: "channel.undecided" });
    expect(await c.next("unsubscribed")).toMatchObject({ channel: "channel.undecided" });
    // the request times out on the gateway; the ended subscription stays silent
    await waitUntil(async () => (await metric(gateway, timedOut)) > timeoutsBefore, "the timeout", {
      timeoutMs: 10_000,
    });
    c.send({ type: "ping" });
    await c.next("pong");
    expect(c.frames.filter((f) => f.type === "subscribe_error")).toEqual([]);
    await subscriptionsBackTo(nats, before);
  });

  test("--max-subscribes-in-flight and --max-subscriptions refuse more, without closing", async ({
    client,
    backend,
  }) => {
    const c = await client("lou");
    // 8 (the default) the backend never answers stay under way until they time out: a ninth is refused
    for (let i = 1; i <= 8; i++) backend.subscribeReplies.set(`channel.wait-${i}`, null);
    for (let i = 1; i <= 9; i++) c.send({ type: "subscribe", channel: `channel.wait-${i}` });
    expect(await c.next("subscribe_error")).toMatchObject({
      code: "TOO_MANY_REQUESTS",
      channel: "channel.wait-9",
    });
    for (let i = 1; i <= 8; i++) {
      expect(await c.next("subscribe_error", 10_000)).toMatchObject({ code: "BACKEND_UNAVAILABLE" });
    }
    // 64 subscriptions (the default), 8 at a time; the 65th is refused until one is given up
    for (let batch = 0; batch < 8; batch++) {
      for (let i = 0; i < 8; i++) c.send({ type: "subscribe", channel: `channel.fill-${batch * 8 + i}` });
      for (let i = 0; i < 8; i++) await c.next("subscribed");
    }
    c.send({ type: "subscribe", channel: "channel.one-more" });
    expect(await c.next("subscribe_error")).toMatchObject({ code: "TOO_MANY_SUBSCRIPTIONS" });
    c.send({ type: "unsubscribe", channel: "channel.fill-0" });
    await c.next("unsubscribed");
    expect(await subscribe(c, "channel.one-more")).toMatchObject({ channel: "channel.one-more" });
    expect(c.closed).toBeUndefined();
  });

  test("many subscribe and unsubscribe cycles on two connections leave nothing behind", async ({
    client,
    nats,
    gateway,
  }) => {
    const clients = [await client("max"), await client("ned")];
    const before = await nats.subscriptionCount();
    const subjects = gateway.subjectCount;
    const channel = (round: number, i: number, k: number) => `channel.churn-${(round + i + k) % 7}`;
    // each round joined whole, then left
    for (let round = 0; round < 40; round++) {
      for (const [i, c] of clients.entries()) {
        for (let k = 0; k < 4; k++) c.send({ type: "subscribe", channel: channel(round, i, k) });
        for (let k = 0; k < 4; k++) await c.next("subscribed");
        for (let k = 0; k < 4; k++) c.send({ type: "unsubscribe", channel: channel(round, i, k) });
        for (let k = 0; k < 4; k++) await c.next("unsubscribed");
      }
    }
    // and left while still being decided or joined
    for (let round = 0; round < 100; round++) {
      for (const [i, c] of clients.entries()) {
        for (let k = 0; k < 4; k++) c.send({ type: "subscribe", channel: channel(round, i, k) });
        for (let k = 0; k < 4; k++) c.send({ type: "unsubscribe", channel: channel(round, i, k) });
      }
    }
    for (const c of clients) {
      for (let n = 0; n < 400; n++) await c.next("unsubscribed");
      c.send({ type: "ping" });
      await c.next("pong");
    }
    await subscriptionsBackTo(nats, before);
    expect(gateway.subjectCount).toBe(subjects);
    expect(clients.every((c) => c.closed === undefined)).toBe(true);
  });

  test("resubscribing with recover: subscribed with recovered, the missed messages, then live", async ({
    client,
    publisher,
  }) => {
    const first = await client("pam");
    const epoch = first.frames[0]?.epoch;
    await subscribe(first, "channel.log");
    for (let n = 1; n <= 2; n++) await publisher.publishStored({ channel: "log" }, { n });
    const seen = await first.waitForMessages(2);
    const since = seen[1]?.seq as number;
    first.close();
    for (let n = 3; n <= 5; n++) await publisher.publishStored({ channel: "log" }, { n }); // while away

    const back = await client("pam");
    const subscribed = await subscribe(back, "channel.log", { recover: { epoch, since } });
    expect(subscribed).toMatchObject({ channel: "channel.log", recovered: true });
    expect(subscribed.position as number).toBeGreaterThan(since);
    await publisher.publishStored({ channel: "log" }, { n: 6 }); // live again
    const got = await back.waitForMessages(4);
    expect(numbers(got)).toEqual([3, 4, 5, 6]);
    // the subscribed frame came first, and the prev chain is unbroken from the client's own position
    expect(back.frames.findIndex((f) => f.type === "subscribed")).toBeLessThan(
      back.frames.findIndex((f) => f.type === "message"),
    );
    let prev = since;
    for (const frame of got) {
      expect(frame.prev).toBe(prev);
      prev = frame.seq as number;
    }
  });

  test("recovering from another stream epoch says recovered: false and replays nothing", async ({
    client,
    publisher,
  }) => {
    await publisher.publishStored({ channel: "gone" }, { n: 1 });
    const c = await client("quin");
    const subscribed = await subscribe(c, "channel.gone", { recover: { epoch: "12345", since: 0 } });
    expect(subscribed).toMatchObject({ recovered: false });
    await publisher.publishStored({ channel: "gone" }, { n: 2 });
    expect(numbers(await c.waitForMessages(1))).toEqual([2]);
  });

  test("a closing connection lets go of its subscriptions", async ({ client, nats }) => {
    const c = await client("oli");
    const before = await nats.subscriptionCount();
    await subscribe(c, "channel.a1");
    await subscribe(c, "channel.a2");
    expect(await nats.subscriptionCount()).toBe(before + 2);
    c.close();
    // its user.oli goes too
    await subscriptionsBackTo(nats, before - 1);
  });
});

describe("subscribe and unsubscribe (history off)", () => {
  test.override({ gatewayOptions: { history: false } });

  test("subscribed without a position, then live messages; unsubscribe stops them", async ({
    client,
    nats,
  }) => {
    const publisher = await HeraldBackend.connect({ servers: nats.url, history: false });
    try {
      const c = await client("ray");
      const subscribed = await subscribe(c, "channel.plain");
      expect(subscribed).toEqual({ type: "subscribed", channel: "channel.plain" });
      await publisher.publishToChannel("plain", "hello");
      await publisher.flush();
      const [message] = await c.waitForMessages(1);
      expect(message).toEqual({ type: "message", channel: "channel.plain", data: "hello" });
      const before = await nats.subscriptionCount();
      c.send({ type: "unsubscribe", channel: "channel.plain" });
      await c.next("unsubscribed");
      await subscriptionsBackTo(nats, before - 1);
    } finally {
      await publisher.close();
    }
  });
});
