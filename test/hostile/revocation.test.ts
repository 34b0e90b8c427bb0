import type { NatsConnection } from "@nats-io/nats-core";
import { describe, expect } from "vitest";
import type { HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { CloseCode, type SubscribeRequest } from "../../src/protocol/index.js";
import { type RawBackend, type TestClient, waitUntil } from "../../src/testing/index.js";
import { type OpenClient, rawTest as test } from "../fixtures.js";

const UNSUBSCRIBE = "herald.control.unsubscribe";
const DISCONNECT = "herald.control.disconnect";
const PAD = "x".repeat(60_000); // a 60 KB message

/**
 * While set, every position marker waits for it: the joins of a gateway's new subscriptions are
 * held (a connection stays `joining`, a subscription stays before `subscribed`).
 */
let gate: { reached: number; open: Promise<void> } | undefined;

/** Holds the joins from now on; `release` lets them go on. */
function holdJoins(): { reached: () => number; release: () => void } {
  let open!: () => void;
  const held = { reached: 0, open: new Promise<void>((resolve) => (open = resolve)) };
  gate = held;
  return {
    reached: () => held.reached,
    release: () => {
      gate = undefined;
      open();
    },
  };
}

let probes = 0;

/**
 * A ready connection on `at` that shows when the gateway has handled every control message `nc`
 * published before: NATS keeps one publisher's messages in order, so once the probe's own removal
 * has reached it, the earlier ones have been handled.
 */
async function openProbe(
  backend: RawBackend,
  client: OpenClient,
  nc: NatsConnection,
  at: RunningGateway,
): Promise<() => Promise<void>> {
  const user = `probe-${++probes}`;
  backend.replies.set(user, JSON.stringify({ ok: true, user, channels: ["probe"] }));
  const probe = await client(user, { at });
  return async () => {
    nc.publish(UNSUBSCRIBE, JSON.stringify({ user, channel: "channel.probe" }));
    await probe.next("unsubscribed");
  };
}

/** Auth of `user` granting `channel.x`; `around` publishes with the answer's connection. */
function grantX(backend: RawBackend, user: string, around: (answer: () => void) => void): void {
  backend.replies.set(user, (msg) =>
    around(() => msg.respond(JSON.stringify({ ok: true, user, channels: ["x"] }))),
  );
}

const removal = (user: string) => JSON.stringify({ user, channel: "channel.x" });

/**
 * A message published on `channel.x` after the removal never reaches the client: the user's own
 * message published after it arrives alone. `channel.x` is either left out of `ready` or taken away
 * with `unsubscribed` (`removed`), never delivered after that.
 */
let checks = 0;

async function neverGetsX(publisher: HeraldBackend, c: TestClient, user: string): Promise<void> {
  const after = c.messages().length;
  const mark = `to the user, ${++checks}`;
  await publisher.publishStored({ channel: "x" }, "after the removal");
  await publisher.publishStored(user, mark);
  await waitUntil(() => c.messages().some((m) => m.data === mark), `the user's message to ${user}`);
  expect(
    c
      .messages()
      .slice(after)
      .map((m) => m.channel),
  ).toEqual([`user.${user}`]);
  expect(c.frames.some((f) => f.type === "message" && f.data === "after the removal")).toBe(false);
  const ready = c.frames.find((f) => f.type === "ready");
  const removedAt = c.frames.findIndex((f) => f.type === "unsubscribed" && f.channel === "channel.x");
  if (((ready?.channels ?? []) as string[]).includes("channel.x")) expect(removedAt).toBeGreaterThan(0);
  if (removedAt >= 0)
    expect(c.frames[removedAt]).toEqual({ type: "unsubscribed", channel: "channel.x", reason: "removed" });
  expect(c.frames.slice(removedAt + 1).filter((f) => f.channel === "channel.x")).toEqual([]);
}

/** The messages a client got before the first frame of `type`. */
function messagesBefore(c: TestClient, type: string): number {
  const at = c.frames.findIndex((f) => f.type === type);
  return c.frames.slice(0, at).filter((f) => f.type === "message").length;
}

async function metric(gateway: RunningGateway, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1] ?? 0);
}

/**
 * Revocation always wins: `control.unsubscribe` and `control.disconnect` reach a user's connections
 * in every state — authenticating, joining, replaying, ready — on every gateway, and a grant the
 * backend answered before a removal but the gateway applied after it is dropped.
 */
describe("revocation", () => {
  test.override({
    gatewayOptions: { historyStorage: "memory", metrics: true },
    gatewayHooks: {
      beforePositionMarker: async () => {
        const held = gate;
        if (!held) return;
        held.reached++;
        await held.open;
      },
    },
  });

  test("a removal published just before the auth answer: the grant never takes effect", async ({
    backend,
    publisher,
    client,
  }) => {
    const nc = backend.connection;
    for (let i = 0; i < 5; i++) {
      // the backend stops granting, publishes the removal, then its answer (asked before) goes out
      const user = `ada-${i}`;
      grantX(backend, user, (answer) => {
        nc.publish(UNSUBSCRIBE, removal(user));
        answer();
      });
      const c = await client(user);
      expect(c.frames[0]).toMatchObject({ type: "ready", channels: [`user.${user}`] });
      await neverGetsX(publisher, c, user);
    }
  });

  test("a removal published right after the auth answer: the grant never takes effect", async ({
    backend,
    publisher,
    client,
    gateway,
  }) => {
    const nc = backend.connection;
    for (let i = 0; i < 5; i++) {
      const user = `ben-${i}`;
      const handled = await openProbe(backend, client, nc, gateway);
      grantX(backend, user, (answer) => {
        answer();
        nc.publish(UNSUBSCRIBE, removal(user));
      });
      const c = await client(user);
      await handled();
      await neverGetsX(publisher, c, user);
    }
  });

  test("a removal while the connection joins its channels: left out of ready", async ({
    backend,
    publisher,
    client,
    gateway,
  }) => {
    const nc = backend.connection;
    for (let i = 0; i < 3; i++) {
      const user = `cal-${i}`;
      const handled = await openProbe(backend, client, nc, gateway);
      grantX(backend, user, (answer) => answer());
      const joins = holdJoins();
      const connecting = client(user);
      await waitUntil(() => joins.reached() > 0, "the join to be held");
      nc.publish(UNSUBSCRIBE, removal(user));
      await handled();
      joins.release();
      const c = await connecting;
      expect(c.frames[0]).toMatchObject({ type: "ready", channels: [`user.${user}`] });
      await neverGetsX(publisher, c, user);
    }
  });

  test("a removal while the connection replays: nothing more of the channel after unsubscribed", async ({
    backend,
    publisher,
    client,
    socket,
    gateway,
  }) => {
    const nc = backend.connection;
    const user = "dee";
    backend.replies.set(user, JSON.stringify({ ok: true, user, channels: ["x"] }));
    const first = await client(user);
    const { epoch, positions } = first.frames[0] as unknown as {
      epoch: string;
      positions: Record<string, number>;
    };
    first.close();
    const missed = 250;
    for (let n = 1; n <= missed; n++) await publisher.publishStored({ channel: "x" }, { n, pad: PAD });
    const handled = await openProbe(backend, client, nc, gateway);
    const readyBefore = await metric(gateway, "herald_authenticated_connections");
    // a client that reads nothing yet: `ready` goes out and the replay stalls behind it
    const back = await socket();
    back.socket.pause();
    back.send({
      type: "auth",
      token: user,
      recover: { epoch, since: { "channel.x": positions["channel.x"] } },
    });
    await waitUntil(
      async () => (await metric(gateway, "herald_authenticated_connections")) > readyBefore,
      "the recovering connection to have sent ready",
      { timeoutMs: 30_000 },
    );
    nc.publish(UNSUBSCRIBE, removal(user));
    await handled();
    back.socket.resume();
    expect(await back.next("ready", 30_000)).toMatchObject({ recovered: true });
    const removed = await back.next("unsubscribed", 30_000);
    expect(removed).toEqual({ type: "unsubscribed", channel: "channel.x", reason: "removed" });
    expect(messagesBefore(back, "unsubscribed")).toBeLessThan(missed); // still replaying at the removal
    await neverGetsX(publisher, back, user);
  });

  test("a subscribe grant answered before a removal is dropped: unsubscribed (removed), never subscribed", async ({
    backend,
    publisher,
    client,
    raw,
    gateway,
  }) => {
    // `raw` answers subscribes to channel.x, publishing on its own connection around the answer
    let around: (answer: () => void, user: string) => void = (answer) => answer();
    backend.subscribeReplies.set("channel.x", null);
    const sub = raw.subscribe("herald.subscribe", {
      callback: (_err, msg) => {
        const request = msg.json<SubscribeRequest>();
        if (request.channel === "channel.x")
          around(() => msg.respond(JSON.stringify({ ok: true })), request.user);
      },
    });
    await raw.flush();
    try {
      for (let i = 0; i < 3; i++) {
        // the removal published just before the answer
        const user = `eve-${i}`;
        const c = await client(user);
        around = (answer, who) => {
          raw.publish(UNSUBSCRIBE, removal(who));
          answer();
        };
        c.send({ type: "subscribe", channel: "channel.x" });
        expect(await c.next("unsubscribed")).toEqual({
          type: "unsubscribed",
          channel: "channel.x",
          reason: "removed",
        });
        expect(c.frames.some((f) => f.type === "subscribed")).toBe(false);
        await neverGetsX(publisher, c, user);
        // the answer first, the removal while the subscription is joining
        const late = `fay-${i}`;
        const handled = await openProbe(backend, client, raw, gateway);
        const d = await client(late);
        around = (answer) => answer();
        const joins = holdJoins();
        d.send({ type: "subscribe", channel: "channel.x" });
        await waitUntil(() => joins.reached() > 0, "the subscription's join to be held");
        raw.publish(UNSUBSCRIBE, removal(late));
        await handled();
        joins.release();
        expect(await d.next("unsubscribed")).toEqual({
          type: "unsubscribed",
          channel: "channel.x",
          reason: "removed",
        });
        await neverGetsX(publisher, d, late);
        expect(d.frames.some((f) => f.type === "subscribed")).toBe(false);
      }
    } finally {
      sub.unsubscribe();
    }
  });

  test("a removal of a channel subscribed while the connection replays: its waiting messages go too", async ({
    backend,
    publisher,
    client,
    socket,
    gateway,
  }) => {
    const nc = backend.connection;
    const user = "kim";
    const first = await client(user);
    const { epoch, positions } = first.frames[0] as unknown as {
      epoch: string;
      positions: Record<string, number>;
    };
    first.close();
    for (let n = 1; n <= 250; n++) await publisher.publishStored(user, { n, pad: PAD });
    const handled = await openProbe(backend, client, nc, gateway);
    const readyBefore = await metric(gateway, "herald_authenticated_connections");
    const back = await socket();
    back.socket.pause();
    back.send({
      type: "auth",
      token: user,
      recover: { epoch, since: { [`user.${user}`]: positions[`user.${user}`] } },
    });
    await waitUntil(
      async () => (await metric(gateway, "herald_authenticated_connections")) > readyBefore,
      "the recovering connection to have sent ready",
      { timeoutMs: 30_000 },
    );
    // subscribed while the replay of user.kim stalls: its live messages wait behind that replay
    const live = await metric(gateway, "herald_subscriptions");
    back.send({ type: "subscribe", channel: "channel.x" });
    await waitUntil(
      async () => (await metric(gateway, "herald_subscriptions")) > live,
      "channel.x subscribed",
    );
    for (let n = 1; n <= 3; n++) await publisher.publishStored({ channel: "x" }, { waited: n });
    nc.publish(UNSUBSCRIBE, removal(user));
    await handled();
    back.socket.resume();
    expect(await back.next("unsubscribed", 30_000)).toEqual({
      type: "unsubscribed",
      channel: "channel.x",
      reason: "removed",
    });
    expect(messagesBefore(back, "unsubscribed")).toBeLessThan(250); // still replaying at the removal
    await back.waitForMessages(250, 30_000);
    await neverGetsX(publisher, back, user);
    expect(back.messages().filter((m) => m.channel === "channel.x")).toEqual([]);
  });

  test("a backend publishing removals without end fills a bounded memory; the newest still win", async ({
    backend,
    publisher,
    client,
    startGateway,
  }) => {
    const nc = backend.connection;
    const small = await startGateway({ historyStorage: "memory", metrics: true, rememberedRevocations: 100 });
    const handled = await openProbe(backend, client, nc, small);
    for (let i = 0; i < 300; i++) nc.publish(UNSUBSCRIBE, removal(`flood-${i}`));
    await handled();
    // 301 removals arrived (the probe's too), 100 are kept: the oldest 201 were forgotten early
    expect(await metric(small, "herald_revocations_forgotten_total")).toBe(201);
    const user = "lou";
    grantX(backend, user, (answer) => {
      nc.publish(UNSUBSCRIBE, removal(user));
      answer();
    });
    const c = await client(user, { at: small });
    expect(c.frames[0]).toMatchObject({ type: "ready", channels: [`user.${user}`] });
    await neverGetsX(publisher, c, user);
  });

  test("control.disconnect closes a connection that is joining, and one that is replaying", async ({
    backend,
    publisher,
    client,
    socket,
    gateway,
  }) => {
    const nc = backend.connection;
    // joining: its join held while the disconnect arrives
    const handled = await openProbe(backend, client, nc, gateway);
    const joins = holdJoins();
    const joining = await socket();
    joining.send({ type: "auth", token: "gus" });
    await waitUntil(() => joins.reached() > 0, "the join to be held");
    nc.publish(DISCONNECT, JSON.stringify({ user: "gus" }));
    await handled();
    joins.release();
    expect(await joining.next("error")).toMatchObject({ code: "DISCONNECTED" });
    expect((await joining.waitClose()).code).toBe(CloseCode.Disconnected);
    expect(joining.frames.some((f) => f.type === "ready")).toBe(false);

    // replaying: a recovering client that reads nothing yet
    const first = await client("hal");
    const { epoch, positions } = first.frames[0] as unknown as {
      epoch: string;
      positions: Record<string, number>;
    };
    first.close();
    for (let n = 1; n <= 250; n++) await publisher.publishStored("hal", { n, pad: PAD });
    const probe = await openProbe(backend, client, nc, gateway);
    const readyBefore = await metric(gateway, "herald_authenticated_connections");
    const back = await socket();
    back.socket.pause();
    back.send({
      type: "auth",
      token: "hal",
      recover: { epoch, since: { "user.hal": positions["user.hal"] } },
    });
    await waitUntil(
      async () => (await metric(gateway, "herald_authenticated_connections")) > readyBefore,
      "the recovering connection to have sent ready",
      { timeoutMs: 30_000 },
    );
    nc.publish(DISCONNECT, JSON.stringify({ user: "hal" }));
    await probe();
    back.socket.resume();
    expect(await back.next("error", 30_000)).toMatchObject({ code: "DISCONNECTED" });
    expect((await back.waitClose(30_000)).code).toBe(CloseCode.Disconnected);
    expect(messagesBefore(back, "error")).toBeLessThan(250); // still replaying when it was closed
  });

  test("on two gateways, both drop the grant: removal before the answer, and while joining", async ({
    backend,
    publisher,
    client,
    gatewayPair,
  }) => {
    const nc = backend.connection;
    const [g1, g2] = gatewayPair;
    for (let i = 0; i < 3; i++) {
      const user = `ivy-${i}`;
      grantX(backend, user, (answer) => {
        nc.publish(UNSUBSCRIBE, removal(user));
        answer();
      });
      const both = await Promise.all([client(user, { at: g1 }), client(user, { at: g2 })]);
      for (const c of both) await neverGetsX(publisher, c, user);
    }
    for (let i = 0; i < 3; i++) {
      const user = `jon-${i}`;
      const probes = [await openProbe(backend, client, nc, g1), await openProbe(backend, client, nc, g2)];
      grantX(backend, user, (answer) => answer());
      const joins = holdJoins();
      const connecting = Promise.all([client(user, { at: g1 }), client(user, { at: g2 })]);
      await waitUntil(() => joins.reached() === 2, "both joins to be held");
      nc.publish(UNSUBSCRIBE, removal(user));
      for (const handled of probes) await handled();
      joins.release();
      for (const c of await connecting) {
        expect(c.frames[0]).toMatchObject({ type: "ready", channels: [`user.${user}`] });
        await neverGetsX(publisher, c, user);
      }
    }
  });
});
