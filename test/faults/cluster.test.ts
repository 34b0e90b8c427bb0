import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { pino } from "pino";
import { describe, expect } from "vitest";
import type { GatewayConfig, RunningGateway } from "../../src/gateway/index.js";
import { type ClusterNode, TestClient, waitUntil } from "../../src/testing/index.js";
import { stackTest } from "../fixtures.js";
import type { Launcher } from "../launcher.js";
import {
  ClusterScene,
  type DeliveryReport,
  errorCounts,
  NumberedPublisher,
  percentiles,
  readyzStatus,
  settle,
} from "./cluster-scene.js";

const CLIENTS = 200;
const STREAM = "HERALD";

const test = stackTest.extend<{ scene: ClusterScene }>({
  scene: async ({ launch }, use) => use(await ClusterScene.start(CLIENTS, launch)),
});

/**
 * A 3-node NATS cluster with JetStream, two gateway processes and a few hundred SDK clients. A
 * publisher sends numbered messages through the SDK's default (acknowledged) publish while one
 * thing fails; every client must end with every number exactly once, in order. Each test prints
 * what it measured.
 */
describe("on a 3-node NATS cluster", { timeout: 120_000 }, () => {
  /**
   * Runs the publisher, injects the fault after 20 messages, and waits for `recovered`; says which
   * messages went astray, and where, when the fault lost or repeated any.
   */
  async function underFault(
    scene: ClusterScene,
    fault: () => Promise<void>,
    recovered: () => Promise<void>,
  ): Promise<{
    report: DeliveryReport;
    publisher: NumberedPublisher;
    faultAt: number;
    diagnosis: string | undefined;
  }> {
    const publisher = new NumberedPublisher(scene.backend, scene.users);
    publisher.start();
    try {
      await publisher.waitForShared(20);
      for (const client of scene.clients) client.markFault(publisher.sharedSent);
      const faultAt = Date.now();
      await fault();
      await recovered();
      // Enough after the recovery for every client to notice any gap and recover it.
      await publisher.waitForShared(publisher.sharedSent + 30);
      await publisher.stop();
      const report = await settle(scene.clients, publisher);
      const astray = report.missing + report.duplicated + report.outOfOrder > 0;
      return { report, publisher, faultAt, diagnosis: astray ? scene.diagnose(publisher) : undefined };
    } finally {
      await publisher.stop();
    }
  }

  function expectExactlyOnceInOrder(report: DeliveryReport, diagnosis: string | undefined): void {
    expect(report, diagnosis).toMatchObject({ missing: 0, duplicated: 0, outOfOrder: 0 });
    expect(report.sent).toBeGreaterThan(50);
  }

  function sinceFault(faultAt: number, times: readonly (number | undefined)[]) {
    return percentiles(times.flatMap((t) => (t === undefined ? [] : [t - faultAt])));
  }

  /** Moves the stream's leader off `node` (so a fault there is not also a leader failover). */
  async function leaderOff(scene: ClusterScene, node: ClusterNode): Promise<void> {
    await scene.moveStreamLeader(STREAM, (leader) => leader !== node);
  }

  test("creates the history stream with 3 replicas by default, and loses nothing when a node dies", async ({
    scene,
  }) => {
    const nc = scene.backend.connection;
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(STREAM)).config.num_replicas).toBe(3);
    const victim = await scene.nodeOfGateway("gw-a");
    if (!victim) throw new Error("gateway A is on no node");
    await leaderOff(scene, victim);
    const gatewayA = scene.gateway("gw-a");
    let readyAgainAt: number | undefined;
    const { report, publisher, faultAt, diagnosis } = await underFault(
      scene,
      () => victim.kill(),
      async () => {
        await waitUntil(
          async () => (await scene.nodeOfGateway("gw-a")) !== undefined,
          "gateway A on another node",
          { timeoutMs: 30_000, intervalMs: 50 },
        );
        await waitUntil(async () => (await readyzStatus(gatewayA)) === 200, "gateway A ready", {
          timeoutMs: 30_000,
          intervalMs: 50,
        });
        readyAgainAt = Date.now();
      },
    );
    console.log(
      "[cluster] node kill",
      JSON.stringify({
        ...report,
        publishFailures: publisher.failures,
        clientErrors: errorCounts(scene.clients),
        longestPublishStallMs: publisher.longestStallMs,
        gatewayReadyAgainMs: (readyAgainAt ?? faultAt) - faultAt,
        deliveryResumedMs: sinceFault(
          faultAt,
          scene.clients.map((c) => c.firstAfterFault),
        ),
      }),
    );
    expectExactlyOnceInOrder(report, diagnosis);
  });

  test("waits out a stream-leader election when publishing; clients connecting meanwhile are ready when it ends", async ({
    scene,
  }) => {
    const { cluster, balancer } = scene;
    // The leader on a node no gateway and no backend uses: its death is an election and nothing else.
    const idle = await scene.idleNodes();
    const leader = (await scene.moveStreamLeader(STREAM, (node) => idle.includes(node))).name;
    const newcomers: { client: TestClient; firstFrameAt: number | undefined }[] = [];
    let electedAt: number | undefined;
    const { report, publisher, faultAt, diagnosis } = await underFault(
      scene,
      async () => {
        await cluster.node(leader).kill();
        // New users (new subscriptions, no recovery) connect while the stream has no leader: their
        // position markers wait for the new one, and no answer may be an error.
        await Promise.all(
          Array.from({ length: 50 }, async (_, i) => {
            // Answer the gateway's heartbeats: the election outlasts its timeout.
            const client = (await TestClient.open(balancer.url())).answerPings();
            const entry = { client, firstFrameAt: undefined as number | undefined };
            newcomers.push(entry);
            client.send({ type: "auth", token: `newcomer-${i}` });
            await client.next(undefined, 30_000).catch(() => undefined);
            entry.firstFrameAt = Date.now();
          }),
        );
      },
      async () => {
        await cluster.waitForStreamLeader(STREAM, { not: leader });
        electedAt = Date.now();
      },
    );
    const firstFrames = newcomers.map(({ client }) => client.frames[0]);
    console.log(
      "[cluster] stream-leader kill",
      JSON.stringify({
        ...report,
        publishFailures: publisher.failures,
        clientErrors: errorCounts(scene.clients),
        longestPublishStallMs: publisher.longestStallMs,
        newLeaderElectedMs: (electedAt ?? faultAt) - faultAt,
        deliveryResumedMs: sinceFault(
          faultAt,
          scene.clients.map((c) => c.firstAfterFault),
        ),
        newcomersReadyMs: sinceFault(
          faultAt,
          newcomers.map((n) => n.firstFrameAt),
        ),
      }),
    );
    try {
      expectExactlyOnceInOrder(report, diagnosis);
      expect(firstFrames.map((frame) => frame?.type)).toEqual(newcomers.map(() => "ready"));
      // Every newcomer then gets every shared message published after it joined, in order.
      for (const { client } of newcomers) {
        const numbers = client
          .messages()
          .filter((m) => m.channel === "channel.all")
          .map((m) => (m.data as { n: number }).n);
        expect(numbers.at(-1)).toBe(publisher.sharedSent);
        expect(numbers).toEqual(
          Array.from({ length: numbers.length }, (_, i) => publisher.sharedSent - numbers.length + 1 + i),
        );
      }
    } finally {
      for (const { client } of newcomers) client.close();
    }
  });

  test("notices a hung node within seconds, moves to another, and loses nothing", async ({ scene }) => {
    const victim = await scene.nodeOfGateway("gw-a");
    if (!victim) throw new Error("gateway A is on no node");
    await leaderOff(scene, victim);
    const gatewayA = scene.gateway("gw-a");
    let notReadyAt: number | undefined;
    let readyAgainAt: number | undefined;
    try {
      const { report, publisher, faultAt, diagnosis } = await underFault(
        scene,
        async () => victim.pause(),
        async () => {
          await waitUntil(async () => (await readyzStatus(gatewayA)) === 503, "gateway A not ready", {
            timeoutMs: 30_000,
            intervalMs: 50,
          });
          notReadyAt = Date.now();
          await waitUntil(
            async () => (await readyzStatus(gatewayA)) === 200,
            "gateway A ready on another node",
            { timeoutMs: 30_000, intervalMs: 50 },
          );
          readyAgainAt = Date.now();
          // The hung node is still hung: the gateway left it.
          expect((await scene.nodeOfGateway("gw-a"))?.name).not.toBe(victim.name);
          victim.resume();
        },
      );
      console.log(
        "[cluster] hung node",
        JSON.stringify({
          ...report,
          publishFailures: publisher.failures,
          clientErrors: errorCounts(scene.clients),
          longestPublishStallMs: publisher.longestStallMs,
          notReadyMs: (notReadyAt ?? faultAt) - faultAt,
          readyAgainMs: (readyAgainAt ?? faultAt) - faultAt,
          deliveryResumedMs: sinceFault(
            faultAt,
            scene.clients.map((c) => c.firstAfterFault),
          ),
        }),
      );
      expectExactlyOnceInOrder(report, diagnosis);
    } finally {
      if (victim.pid !== undefined) victim.resume();
    }
  });

  test("loses nothing when a gateway is SIGKILLed: its clients recover on the other", async ({ scene }) => {
    const gatewayA = scene.gateway("gw-a");
    const onA = scene.clients.filter((c) => c.gateways[0] === "gw-a");
    expect(onA.length).toBeGreaterThan(0);
    const { report, publisher, faultAt, diagnosis } = await underFault(
      scene,
      async () => {
        expect(await gatewayA.stop("SIGKILL")).toBeNull();
      },
      () =>
        waitUntil(() => onA.every((c) => c.gateways.length > 1), "A's clients ready on B", {
          timeoutMs: 60_000,
          intervalMs: 50,
        }),
    );
    console.log(
      "[cluster] gateway SIGKILL",
      JSON.stringify({
        ...report,
        publishFailures: publisher.failures,
        clientErrors: errorCounts(scene.clients),
        clientsMoved: onA.length,
        readyAgainMs: sinceFault(
          faultAt,
          onA.map((c) => c.readyAt[1]),
        ),
      }),
    );
    expectExactlyOnceInOrder(report, diagnosis);
    expect(onA.every((c) => c.gateways.at(-1) === "gw-b")).toBe(true);
  });
});

describe("history replicas", { timeout: 60_000 }, () => {
  /** An in-process gateway with history on (and `more`) whose warnings are kept. */
  async function gatewayOn(
    launch: Launcher,
    urls: readonly string[],
    historyReplicas: "auto" | number,
    more: Partial<GatewayConfig> = {},
  ): Promise<{ gateway: RunningGateway; warnings: string[] }> {
    const warnings: string[] = [];
    const logger = pino(
      { level: "warn" },
      { write: (line: string) => void warnings.push(String(JSON.parse(line).msg)) },
    );
    const gateway = await launch.gateway(
      urls[0] ?? "",
      { nats: [...urls], history: true, historyReplicas, ...more },
      { logger },
    );
    return { gateway, warnings };
  }

  test("follows the cluster: raises a 1-replica stream to 3, keeps every message, and scales to what is configured", async ({
    launch,
  }) => {
    const cluster = await launch.cluster();
    const nc = launch.own(await natsConnect({ servers: [...cluster.urls] }), (opened) => opened.close());
    const jsm = await jetstreamManager(nc);
    const replicas = async () => (await jsm.streams.info(STREAM)).config.num_replicas;
    // The gateways' position markers are stored too: count the test's own subject.
    const stored = async () =>
      (await jsm.streams.info(STREAM, { subjects_filter: "herald.user.r" })).state.subjects?.[
        "herald.user.r"
      ];

    const first = await gatewayOn(launch, cluster.urls, 1);
    expect(await replicas()).toBe(1);
    for (let n = 0; n < 5; n++) await jsm.jetstream().publish("herald.user.r", `${n}`);
    await first.gateway.close();

    await gatewayOn(launch, cluster.urls, "auto", { events: true });
    expect(await replicas()).toBe(3);
    expect(await stored()).toBe(5);

    const down = await gatewayOn(launch, cluster.urls, 1);
    expect(await replicas()).toBe(1);
    expect(down.warnings.filter((warning) => /replica/.test(warning))).toEqual([]);

    // More replicas than servers: each stream keeps working as it is, and a warning names it and its option.
    const tooMany = await gatewayOn(launch, cluster.urls, 5, { events: true, eventsReplicas: 5 });
    expect(await replicas()).toBe(1);
    expect(tooMany.warnings.filter((warning) => /replica/.test(warning)).sort()).toEqual([
      "events stream HERALD_EVENTS keeps 3 replica(s): JetStream refused 5 (--events-replicas 5)",
      "history stream HERALD keeps 1 replica(s): JetStream refused 5 (--history-replicas 5)",
      "registry stream KV_HERALD_CONNECTIONS keeps 3 replica(s): JetStream refused 5 (--events-replicas 5)",
      "registry stream KV_HERALD_CONNECTIONS_LIVENESS keeps 3 replica(s): JetStream refused 5 (--events-replicas 5)",
    ]);
    expect(await stored()).toBe(5);
  });

  test("creates a 1-replica stream on a single server by default", async ({ launch }) => {
    const nats = await launch.nats({ jetstream: true });
    await gatewayOn(launch, [nats.url], "auto");
    const nc = launch.own(await natsConnect({ servers: nats.url }), (opened) => opened.close());
    expect((await (await jetstreamManager(nc)).streams.info(STREAM)).config.num_replicas).toBe(1);
  });
});
