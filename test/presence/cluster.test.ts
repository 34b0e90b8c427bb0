import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect } from "vitest";
import { accept, type HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import {
  type ClusterNode,
  type NatsCluster,
  pollFor,
  type ReceivedFrame,
  type TestClient,
  waitUntil,
} from "../../src/testing/index.js";
import { stackTest } from "../fixtures.js";

/**
 * Presence on a 3-node NATS cluster: two gateways, each on a node of its own, answer the same
 * members and send the same joins and leaves, also after the node one of them uses dies. The second
 * test goes on from the first: the cluster, the gateways and the clients last the whole file.
 */
const test = stackTest.extend<{
  cluster: NatsCluster;
  /** On the third node, which no gateway uses. */
  backend: HeraldBackend;
  /** Gateway A on the first node, B on the second. */
  gateways: { a: RunningGateway; b: RunningGateway };
  /** Connects a client to a gateway; every client so far is in `opened`. */
  clients: { connect(gateway: RunningGateway, token: string): Promise<TestClient>; opened: TestClient[] };
}>({
  cluster: [async ({ launchForFile }, use) => use(await launchForFile.cluster(3)), { scope: "file" }],
  backend: [
    async ({ cluster, launchForFile }, use) => {
      const backend = await launchForFile.backend(cluster.nodes[2] as ClusterNode, {
        authorize: (token) =>
          accept({ user: token.split("#")[0] as string, channels: ["room"], presence: ["room"] }),
      });
      await use(backend);
    },
    { scope: "file" },
  ],
  gateways: [
    async ({ cluster, backend, launchForFile }, use) => {
      void backend; // answers their auth requests
      const [n1, n2] = cluster.nodes;
      const options = { presence: true, events: true, livenessTimeout: 8000, eventsDuplicateWindow: 60 };
      await use({
        a: await launchForFile.gateway(n1?.url as string, options),
        b: await launchForFile.gateway(n2?.url as string, options),
      });
    },
    { scope: "file" },
  ],
  clients: [
    async ({ gateways, launchForFile }, use) => {
      void gateways;
      const opened: TestClient[] = [];
      await use({
        async connect(gateway, token) {
          const client = await launchForFile.client(gateway, token);
          opened.push(client);
          return client;
        },
        opened,
      });
    },
    { scope: "file" },
  ],
});

async function members(client: TestClient): Promise<string> {
  client.send({ type: "presence", channel: "channel.room" });
  const answer = await client.next("presence", 10_000);
  return (answer.members as { user: string; connections: number }[])
    .map((m) => `${m.user}:${m.connections}`)
    .sort()
    .join(",");
}

/** A client's join and leave frames, in order, as `+user` / `-user`. */
function changes(client: TestClient): string[] {
  return client.frames
    .filter((f: ReceivedFrame) => f.type === "join" || f.type === "leave")
    .map((f) => `${f.type === "join" ? "+" : "-"}${String(f.user)}`);
}

describe("presence on a 3-node NATS cluster", { timeout: 120_000 }, () => {
  test("keeps the registry on 3 replicas, and both gateways answer the same members and changes", async ({
    backend,
    gateways: { a, b },
    clients: { connect },
  }) => {
    const jsm = await jetstreamManager(backend.connection);
    expect((await jsm.streams.info("KV_HERALD_CONNECTIONS")).config.num_replicas).toBe(3);
    expect((await jsm.streams.info("HERALD_EVENTS")).config.num_replicas).toBe(3);

    const watchA = await connect(a, "c-watch-a");
    const watchB = await connect(b, "c-watch-b");
    const users: TestClient[] = [];
    for (let i = 0; i < 10; i++) {
      users.push(await connect(i % 2 === 0 ? a : b, `c-u${i}`));
      users.push(await connect(i % 2 === 0 ? b : a, `c-u${i}#2`));
    }
    for (const client of users.filter((_, i) => i % 4 === 0)) client.socket.close(1000);
    const expected =
      "c-u0:1,c-u1:2,c-u2:1,c-u3:2,c-u4:1,c-u5:2,c-u6:1,c-u7:2,c-u8:1,c-u9:2,c-watch-a:1,c-watch-b:1";
    await waitUntil(async () => (await members(watchA)) === expected, "gateway A's members", {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    await waitUntil(async () => (await members(watchB)) === expected, "gateway B's members", {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    // Joins and leaves are per user: the closed connections each left one behind, so no leave.
    const seenByA = changes(watchA).filter((c) => c.startsWith("+c-u") || c.startsWith("-c-u"));
    expect(seenByA.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `+c-u${i}`).sort());
    await waitUntil(() => changes(watchB).length >= changes(watchA).length - 1, "B's joins");
    expect(changes(watchB).filter((c) => c !== "+c-watch-a" && c !== "+c-watch-b")).toEqual(
      changes(watchA).filter((c) => c !== "+c-watch-a" && c !== "+c-watch-b"),
    );
  });

  test("stays consistent after the node one gateway uses dies", async ({
    cluster,
    gateways: { a, b },
    clients: { connect, opened },
  }) => {
    const watchA = opened.find((c) => c.frames[0]?.user === "c-watch-a") as TestClient;
    const watchB = opened.find((c) => c.frames[0]?.user === "c-watch-b") as TestClient;
    await cluster.nodes[1]?.kill(); // gateway B's node: B moves to another, its replica reloads
    const late = await connect(a, "c-late");
    const lateOnB = await connectWhenReady(() => connect(b, "c-late-b"), "c-late-b");
    late.socket.close(1000);
    const expected = (await members(watchA)).split(",").filter((m) => m !== "c-late:1");
    await waitUntil(
      async () => {
        const [onA, onB] = [await members(watchA), await members(lateOnB)];
        return onA === onB && onA.includes("c-late-b:1") && !onA.includes("c-late:");
      },
      "both gateways agreeing after the node loss",
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect((await members(watchA)).split(",")).toEqual(expect.arrayContaining(expected));
    // Both watchers saw the user who arrived after the node loss join; B's kept its connection.
    await waitUntil(
      () => changes(watchA).includes("+c-late-b") && changes(watchB).includes("+c-late-b"),
      "the join of c-late-b on both gateways",
    );
    expect(watchB.closed).toBeUndefined();
  });
});

/** Connects as soon as the gateway takes connections again (it is reconnecting to NATS). */
function connectWhenReady(connect: () => Promise<TestClient>, token: string): Promise<TestClient> {
  return pollFor(() => connect().catch(() => undefined), `${token} to get ready`, {
    timeoutMs: 60_000,
    intervalMs: 200,
  });
}
