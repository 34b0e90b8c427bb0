import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import { connect as connectClient, type HeraldClient, type ReadyFrame } from "../../src/client/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import {
  type NatsServer,
  startNats,
  startTcpBalancer,
  startTestGateway,
  type TcpBalancer,
  TestClient,
} from "../../src/testing/index.js";

interface Ready {
  epoch: string;
  positions: Record<string, number>;
  recovered?: boolean;
}

async function eventually(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What history costs JetStream, counted from the JetStream API requests nats-server receives. */
describe("JetStream requests", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateway: RunningGateway;
  let observer: NatsConnection;
  const requests: string[] = [];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    backend = await HeraldBackend.connect({ servers: nats.url });
    backend.serveAuth((token) => accept({ user: token, channels: ["news", `team-${token}`] }));
    gateway = await startTestGateway(nats, { history: true });
    observer = await connect({ servers: nats.url });
    // "$JS.API.CONSUMER.CREATE.HERALD.<name>.<filter>" counts as "CONSUMER.CREATE"
    observer.subscribe("$JS.API.>", {
      callback: (_err, msg) => {
        requests.push(msg.subject.split(".").slice(2, 4).join("."));
      },
    });
    await observer.flush();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await observer?.close();
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  async function ready(token: string, recover?: unknown): Promise<{ client: TestClient; ready: Ready }> {
    const client = await TestClient.open(gateway.url);
    clients.push(client);
    client.send(recover ? { type: "auth", token, recover } : { type: "auth", token });
    return { client, ready: (await client.next("ready")) as unknown as Ready };
  }

  /** The requests seen since the last call, once the observer has caught up with the server. */
  async function taken(): Promise<string[]> {
    await observer.flush();
    return requests.splice(0);
  }

  it("makes none for connects, new channels or known ones", async () => {
    await backend.publishStored("ada", { n: 1 });
    await taken();
    const connects = await Promise.all(["ada", "bob", "cy", "ada"].map((user) => ready(user)));
    await backend.publishStored("ada", { n: 2 });
    await connects[0]!.client.waitForMessages(1);
    expect(await taken()).toEqual([]);
  });

  it("reads a few missed messages one by one, and a backlog in pages through a consumer", async () => {
    const counts: Record<number, string[]> = {};
    for (const missed of [1, 200]) {
      const user = `u${missed}`;
      const first = await ready(user);
      await backend.publishStored(user, { n: 0 });
      const [seen] = await first.client.waitForMessages(1);
      first.client.close();
      for (let n = 1; n <= missed; n++) await backend.publishStored(user, { n, pad: "y".repeat(1000) });
      await taken();
      const back = await ready(user, { epoch: first.ready.epoch, since: { [`user.${user}`]: seen?.seq } });
      expect(back.ready.recovered).toBe(true);
      const replayed = await back.client.waitForMessages(missed);
      expect(replayed.map((m) => (m.data as { n: number }).n)).toEqual(
        Array.from({ length: missed }, (_, i) => i + 1),
      );
      if (missed > 1) await eventually(() => requests.includes("CONSUMER.DELETE"), "the consumer deletion");
      counts[missed] = (await taken()).sort();
    }
    // STREAM.MSG, from the stream leader: the one missed, and the end; STREAM.INFO: the stream's
    // first sequence, which says nothing after `since` was dropped
    expect(counts[1]).toEqual(["STREAM.INFO", "STREAM.MSG", "STREAM.MSG"]);
    // 8 such reads find more than a few; then the channel's last message, which the replay must
    // reach (the consumer may sit on a replica that is behind), and a consumer read in pages
    expect(counts[200]).toEqual([
      "CONSUMER.CREATE",
      "CONSUMER.DELETE",
      "CONSUMER.MSG",
      ...Array.from({ length: 9 }, () => "STREAM.MSG"),
    ]);
  });

  it("makes no consumer for a few missed messages, and no request for a channel it follows already", async () => {
    // bea stays connected: the gateway's subscription to "news" stays live while ann is away
    const bea = await ready("bea");
    const first = await ready("ann");
    const since = first.ready.positions;
    first.client.close();
    await eventually(() => nats.hasSubscriber("herald.live.user.ann").then((held) => !held), "ann's leave");
    await backend.publishStored("ann", { n: 1 });
    await taken();
    const back = await ready("ann", { epoch: first.ready.epoch, since });
    expect(back.ready.recovered).toBe(true);
    const [message] = await back.client.waitForMessages(1);
    expect(message?.data).toEqual({ n: 1 });
    // news: known from the live subscription, no request. team-ann and user.ann: read from `since`
    // on (none, and the one missed, then none), and the stream's first sequence (nothing after
    // `since` dropped by age) — one request for both when their reads end in the same turn.
    const made = (await taken()).sort();
    expect(made.filter((r) => r !== "STREAM.INFO")).toEqual(["STREAM.MSG", "STREAM.MSG", "STREAM.MSG"]);
    expect(made.filter((r) => r === "STREAM.INFO").length).toBeGreaterThanOrEqual(1);
    expect(made.filter((r) => r === "STREAM.INFO").length).toBeLessThanOrEqual(2);
    expect(bea.client.messages()).toEqual([]);
  });
});

/**
 * Positions come from what the gateway's subscriptions see, not from a read per connect; when a
 * subscription really misses messages (its NATS connection was cut while they were stored), the
 * client still notices the gap and recovers them.
 */
describe("a real gap", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let natsLink: TcpBalancer;
  let linkUp = true;
  let gateway: RunningGateway;
  let client: HeraldClient | undefined;

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    backend = await HeraldBackend.connect({ servers: nats.url });
    backend.serveAuth((token) => accept({ user: token }));
    natsLink = await startTcpBalancer(() => (linkUp ? [nats.port] : []));
    gateway = await startTestGateway(`nats://127.0.0.1:${natsLink.port}`, { history: true });
  });
  afterAll(async () => {
    client?.close();
    await gateway?.close();
    await natsLink?.close();
    await backend?.close();
    await nats?.stop();
  });

  it("is detected by the client, which recovers what the gateway never received", async () => {
    const received: number[] = [];
    const readies: ReadyFrame[] = [];
    client = connectClient({
      url: gateway.url,
      getToken: () => "gus",
      WebSocket,
      backoff: { initialMs: 20, maxMs: 100 },
    });
    client.on("message", (m) => received.push((m.data as { n: number }).n));
    client.on("ready", (r) => readies.push(r));
    await eventually(() => readies.length === 1, "ready");
    await backend.publishStored("gus", { n: 1 });
    await eventually(() => received.length === 1, "the first message");

    // The gateway's NATS link is cut while 2 and 3 are stored: its subscription never sees them.
    linkUp = false;
    natsLink.dropConnections();
    await eventually(async () => !(await nats.hasSubscriber("herald.live.user.gus")), "the cut");
    await backend.publishStored("gus", { n: 2 });
    await backend.publishStored("gus", { n: 3 });
    linkUp = true;
    await eventually(() => nats.hasSubscriber("herald.live.user.gus"), "the gateway's return");

    // 4 arrives live with prev = 3, after 1: the client reconnects with recover and gets 2 and 3.
    await backend.publishStored("gus", { n: 4 });
    await eventually(() => received.length === 4, "every message");
    expect(received).toEqual([1, 2, 3, 4]);
    expect(readies).toHaveLength(2);
    expect(readies[1]?.recovered).toBe(true);
  });
});
