import { Session } from "node:inspector/promises";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { expect } from "vitest";
import type { ChannelMember } from "../../src/gateway/delivery/channel-hub.js";
import { ChannelHub } from "../../src/gateway/delivery/channel-hub.js";
import { PlainFeed } from "../../src/gateway/history/live-feed.js";
import { createLogger } from "../../src/gateway/logger.js";
import { GatewayMetrics } from "../../src/gateway/metrics.js";
import { subscribeLean } from "../../src/gateway/nats/lean-subscription.js";
import { subjectsFor } from "../../src/protocol/index.js";
import { type NatsServer, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

test.override({
  natsOptions: {
    extraConfig: `
      authorization {
        users = [
          { user: gateway, password: gw-secret, permissions: {
              publish: [">"], subscribe: { allow: [">"], deny: ["secret.>"] } } }
        ]
      }`,
  },
});

const connectGateway = (nats: NatsServer) =>
  connect({ servers: nats.url, user: "gateway", pass: "gw-secret", reconnectTimeWait: 100 });

async function withConnection(nats: NatsServer, body: (nc: NatsConnection) => Promise<void>): Promise<void> {
  const nc = await connectGateway(nats);
  try {
    await body(nc);
  } finally {
    if (!nc.isClosed()) await nc.close();
  }
}

/** Heap in use after a full garbage collection, asked of this process's own inspector. */
async function heapAfterGc(inspector: Session): Promise<number> {
  await inspector.post("HeapProfiler.collectGarbage");
  await inspector.post("HeapProfiler.collectGarbage");
  return process.memoryUsage().heapUsed;
}

test("a channel of the hub costs less than half of what the client library's own subscription alone cost", async ({
  nats,
}) => {
  await withConnection(nats, async (nc) => {
    const hub = new ChannelHub({
      nc,
      feed: new PlainFeed(nc, subjectsFor("herald")),
      logger: createLogger("silent", "hub"),
      metrics: new GatewayMetrics(false),
    });
    const member: ChannelMember = { deliver() {}, fail() {} };
    const channels = Array.from({ length: 2000 }, (_, i) => `user.member-${i}`);
    const inspector = new Session();
    inspector.connect();
    try {
      const before = await heapAfterGc(inspector);
      await Promise.all(channels.map((channel) => hub.join(channel, member)));
      const perChannel = ((await heapAfterGc(inspector)) - before) / channels.length;
      // The library's own subscription object (an async iterator with three promises) was 1.2 KiB
      // of about 1.6; the entry, its lean subscription and the two map slots are about 0.4.
      expect(perChannel).toBeLessThan(800);
    } finally {
      inspector.disconnect();
      hub.close();
    }
  });
});

test("receives its subject's messages, is sent again after a reconnect, and an unsubscribe ends it", async ({
  nats,
}) => {
  await withConnection(nats, async (nc) => {
    const got: string[] = [];
    const owner = { name: "ana" };
    const sub = subscribeLean(nc, "herald.user.ana", owner, (o, err, msg: Msg) => {
      if (!err) got.push(`${o.name}:${msg.string()}`);
    });
    await nc.flush();
    nc.publish("herald.user.ana", "1");
    nc.publish("herald.user.bob", "not hers");
    await waitUntil(() => got.length === 1, "the first message");

    await nats.restart();
    await waitUntil(() => nats.hasSubscriber("herald.user.ana"), "the SUB sent again", { timeoutMs: 10_000 });
    nc.publish("herald.user.ana", "2");
    await waitUntil(() => got.length === 2, "a message after the reconnect");

    sub.unsubscribe();
    await nc.flush();
    expect(await nats.hasSubscriber("herald.user.ana")).toBe(false);
    nc.publish("herald.user.ana", "3");
    await nc.flush();
    expect(got).toEqual(["ana:1", "ana:2"]);
  });
});

test("a subscription the server refuses is told to its handler", async ({ nats }) => {
  await withConnection(nats, async (nc) => {
    const errors: string[] = [];
    subscribeLean(nc, "secret.plans", "owner", (_owner, err) => {
      if (err) errors.push(err.name);
    });
    await waitUntil(() => errors.length === 1, "the permission violation");
    expect(errors).toEqual(["PermissionViolationError"]);
  });
});

test("ends with the connection, drained or closed, and an unsubscribe after is nothing", async ({ nats }) => {
  let got = 0;
  const count = () => {
    got++;
  };
  const drained = await connectGateway(nats);
  const first = subscribeLean(drained, "herald.user.dan", null, count);
  await drained.flush();
  drained.publish("herald.user.dan", "1");
  await drained.drain();
  expect(drained.isClosed()).toBe(true);
  expect(got).toBe(1);
  first.unsubscribe();

  const closed = await connectGateway(nats);
  const second = subscribeLean(closed, "herald.user.dan", null, count);
  await closed.flush();
  await closed.close();
  second.unsubscribe();
  await waitUntil(async () => !(await nats.hasSubscriber("herald.user.dan")), "the interest gone");
  // A closed connection takes no subscription, the library's own way.
  expect(() => subscribeLean(closed, "herald.user.dan", null, count)).toThrow(/closed/i);
});
