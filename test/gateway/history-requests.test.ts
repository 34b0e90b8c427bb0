import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { WebSocket } from "ws";
import { accept } from "../../src/backend/index.js";
import { connect as connectClient, type ReadyFrame } from "../../src/client/index.js";
import { startTcpBalancer, waitUntil } from "../../src/testing/index.js";
import { connectReady, test } from "../fixtures.js";

const eventually = (condition: () => boolean | Promise<boolean>, what: string) =>
  waitUntil(condition, what, { timeoutMs: 15_000 });

/** The JetStream API requests nats-server receives from now on, as "CONSUMER.CREATE" and the like. */
interface JetStreamRequests {
  /** Every request not taken yet (the list fills as requests arrive). */
  readonly seen: readonly string[];
  /** The requests seen since the last call, once the observer has caught up with the server. */
  taken(): Promise<string[]>;
}

const requestsTest = test.extend<{ jsRequests: JetStreamRequests }>({
  jsRequests: async ({ nats }, use) => {
    const observer = await connect({ servers: nats.url });
    const seen: string[] = [];
    // "$JS.API.CONSUMER.CREATE.HERALD.<name>.<filter>" counts as "CONSUMER.CREATE"
    observer.subscribe("$JS.API.>", {
      callback: (_err, msg) => {
        seen.push(msg.subject.split(".").slice(2, 4).join("."));
      },
    });
    await observer.flush();
    await use({
      seen,
      async taken() {
        await observer.flush();
        return seen.splice(0);
      },
    });
    await observer.close();
  },
});

/** What history costs JetStream, counted from the JetStream API requests nats-server receives. */
describe("JetStream requests", () => {
  requestsTest.override({
    backendOptions: { authorize: (token) => accept({ user: token, channels: ["news", `team-${token}`] }) },
  });

  requestsTest(
    "makes none for connects, new channels or known ones",
    async ({ client, backend, jsRequests }) => {
      await backend.publishStored("ada", { n: 1 });
      await jsRequests.taken();
      const connects = await Promise.all(
        ["ada", "bob", "cy", "ada"].map((user) => connectReady(client, user)),
      );
      await backend.publishStored("ada", { n: 2 });
      await connects[0]!.client.waitForMessages(1);
      expect(await jsRequests.taken()).toEqual([]);
    },
  );

  requestsTest(
    "reads a few missed messages one by one, and a backlog in pages through a consumer",
    async ({ client, backend, jsRequests }) => {
      const counts: Record<number, string[]> = {};
      for (const missed of [1, 200]) {
        const user = `u${missed}`;
        const first = await connectReady(client, user);
        await backend.publishStored(user, { n: 0 });
        const [seen] = await first.client.waitForMessages(1);
        first.client.close();
        for (let n = 1; n <= missed; n++) await backend.publishStored(user, { n, pad: "y".repeat(1000) });
        await jsRequests.taken();
        const since = { [`user.${user}`]: seen?.seq };
        const back = await connectReady(client, user, { recover: { epoch: first.ready.epoch, since } });
        expect(back.ready.recovered).toBe(true);
        const replayed = await back.client.waitForMessages(missed);
        expect(replayed.map((m) => (m.data as { n: number }).n)).toEqual(
          Array.from({ length: missed }, (_, i) => i + 1),
        );
        if (missed > 1)
          await eventually(() => jsRequests.seen.includes("CONSUMER.DELETE"), "the consumer deletion");
        counts[missed] = (await jsRequests.taken()).sort();
      }
      // STREAM.MSG, from the stream leader: the one missed, and the end; no STREAM.INFO for the
      // stream's first sequence: a stream younger than its max age has dropped nothing by age
      expect(counts[1]).toEqual(["STREAM.MSG", "STREAM.MSG"]);
      // 8 such reads find more than a few; then the channel's last message, which the replay must
      // reach (the consumer may sit on a replica that is behind), and a consumer read in pages
      expect(counts[200]).toEqual([
        "CONSUMER.CREATE",
        "CONSUMER.DELETE",
        "CONSUMER.MSG",
        ...Array.from({ length: 9 }, () => "STREAM.MSG"),
      ]);
    },
  );

  requestsTest(
    "reads a channel that stored nothing after since with one request, its last message",
    async ({ nats, client, backend, jsRequests }) => {
      const first = await connectReady(client, "dee");
      await backend.publishStored("dee", { n: 1 });
      const [seen] = await first.client.waitForMessages(1);
      first.client.close();
      await eventually(() => nats.hasSubscriber("herald.live.user.dee").then((held) => !held), "dee's leave");
      await jsRequests.taken();
      const since = { "user.dee": seen?.seq ?? 0 };
      const back = await connectReady(client, "dee", { recover: { epoch: first.ready.epoch, since } });
      expect(back.ready.recovered).toBe(true);
      expect(await jsRequests.taken()).toEqual(["STREAM.MSG"]);
      expect(back.client.messages()).toEqual([]);
    },
  );

  requestsTest(
    "makes no consumer for a few missed messages, and no request for a channel it follows already",
    async ({ nats, client, backend, jsRequests }) => {
      // bea stays connected: the gateway's subscription to "news" stays live while ann is away
      const bea = await connectReady(client, "bea");
      const first = await connectReady(client, "ann");
      const since = first.ready.positions;
      first.client.close();
      await eventually(() => nats.hasSubscriber("herald.live.user.ann").then((held) => !held), "ann's leave");
      await backend.publishStored("ann", { n: 1 });
      await jsRequests.taken();
      const back = await connectReady(client, "ann", { recover: { epoch: first.ready.epoch, since } });
      expect(back.ready.recovered).toBe(true);
      const [message] = await back.client.waitForMessages(1);
      expect(message?.data).toEqual({ n: 1 });
      // news: known from the live subscription, no request. team-ann and user.ann: read from `since`
      // on (none, and the one missed, then none); not the stream's first sequence, as the stream
      // is younger than its max age (nothing dropped by age).
      const made = (await jsRequests.taken()).sort();
      expect(made).toEqual(["STREAM.MSG", "STREAM.MSG", "STREAM.MSG"]);
      expect(bea.client.messages()).toEqual([]);
    },
  );
});

/**
 * Positions come from what the gateway's subscriptions see, not from a read per connect; when a
 * subscription really misses messages (its NATS connection was cut while they were stored), the
 * client still notices the gap and recovers them.
 */
describe("a real gap", () => {
  test("is detected by the client, which recovers what the gateway never received", async ({
    nats,
    backend,
    startGateway,
    onTestFinished,
  }) => {
    let linkUp = true;
    const natsLink = await startTcpBalancer(() => (linkUp ? [nats.port] : []));
    onTestFinished(() => natsLink.close());
    const gateway = await startGateway({ nats: [`nats://127.0.0.1:${natsLink.port}`] });
    const received: number[] = [];
    const readies: ReadyFrame[] = [];
    const client = connectClient({
      url: gateway.url,
      getToken: () => "gus",
      WebSocket,
      backoff: { initialMs: 20, maxMs: 100 },
    });
    onTestFinished(() => client.close());
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
