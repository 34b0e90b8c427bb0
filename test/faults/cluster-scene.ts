import { WebSocket } from "ws";
import { accept, type HeraldBackend } from "../../src/backend/index.js";
import { connect, type HeraldClient, type MessageFrame } from "../../src/client/index.js";
import {
  type ClusterNode,
  type GatewayProcess,
  type NatsCluster,
  type TcpBalancer,
  waitUntil,
} from "../../src/testing/index.js";
import type { Launcher } from "../launcher.js";

/** Every client is granted this shared channel, and gets its own user channel too. */
export const SHARED = "all";

/**
 * One client's view: what it received on its user channel and on the shared one (the numbers, in
 * arrival order, after the SDK's own duplicate filtering), and when it became ready.
 */
export class ObservedClient {
  readonly shared: number[] = [];
  readonly own: number[] = [];
  readonly readyAt: number[] = [];
  readonly gateways: string[] = [];
  /** Error codes the client reported (each followed by a reconnect). */
  readonly errors: string[] = [];
  /** Each `ready`, briefly: for diagnosing a failed run. */
  readonly readies: string[] = [];
  /** When the first message published after `markFault` arrived. */
  firstAfterFault: number | undefined;
  private faultBoundary = Number.POSITIVE_INFINITY;

  constructor(
    readonly user: string,
    readonly client: HeraldClient,
  ) {
    client.on("ready", (ready) => {
      this.readyAt.push(Date.now());
      this.gateways.push(ready.gateway);
      this.readies.push(
        `${ready.gateway}@${Date.now()} epoch=${ready.epoch} recovered=${ready.recovered} ${JSON.stringify(ready.positions)}`,
      );
    });
    client.on("error", (error) => this.errors.push(error.code));
    client.on("message", (frame: MessageFrame) => {
      const data = frame.data as { n: number };
      if (frame.channel === `channel.${SHARED}`) this.shared.push(data.n);
      else this.own.push(data.n);
      if (frame.channel === `channel.${SHARED}` && data.n > this.faultBoundary && !this.firstAfterFault)
        this.firstAfterFault = Date.now();
    });
  }

  /** Shared-channel messages numbered above `lastBefore` count as published after the fault. */
  markFault(lastBefore: number): void {
    this.faultBoundary = lastBefore;
  }
}

/**
 * Publishes numbered messages without pause through the backend SDK's default publish
 * (acknowledged, one msgId per message, retried through failovers): each tick one to the shared
 * channel and one to the next user's channel. A publish that still fails is sent again with the
 * same msgId, so it is stored once whatever happened; failures are counted.
 */
export class NumberedPublisher {
  sharedSent = 0;
  readonly ownSent = new Map<string, number>();
  failures = 0;
  /** Longest time between two consecutive acknowledgements: how long publishing stalled. */
  longestStallMs = 0;
  private lastAck = Date.now();
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly run = Math.random().toString(36).slice(2);

  constructor(
    private readonly backend: HeraldBackend,
    private readonly users: readonly string[],
    private readonly paceMs = 40,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** Resolves once the shared channel has had `count` messages stored. */
  async waitForShared(count: number, timeoutMs = 60_000): Promise<void> {
    await waitUntil(() => this.sharedSent >= count, `${count} shared messages published`, {
      timeoutMs: timeoutMs,
      intervalMs: 50,
    });
  }

  private async loop(): Promise<void> {
    for (let tick = 0; !this.stopped; tick++) {
      const user = this.users[tick % this.users.length] ?? "";
      const own = (this.ownSent.get(user) ?? 0) + 1;
      await Promise.all([
        this.publish({ channel: SHARED }, this.sharedSent + 1, `s-${this.sharedSent + 1}`).then(() => {
          this.sharedSent++;
        }),
        this.publish({ user }, own, `u-${user}-${own}`).then(() => {
          this.ownSent.set(user, own);
        }),
      ]);
      await sleep(this.paceMs);
    }
  }

  private async publish(
    target: { channel: string } | { user: string },
    n: number,
    id: string,
  ): Promise<void> {
    for (;;) {
      try {
        await this.backend.publish(target, { n }, { msgId: `${this.run}-${id}` });
        const now = Date.now();
        this.longestStallMs = Math.max(this.longestStallMs, now - this.lastAck);
        this.lastAck = now;
        return;
      } catch {
        this.failures++;
        await sleep(100);
      }
    }
  }
}

export interface DeliveryReport {
  readonly clients: number;
  readonly sent: number;
  readonly delivered: number;
  readonly missing: number;
  readonly duplicated: number;
  readonly outOfOrder: number;
}

/** Counts, over every client, what arrived against what was published. */
export function deliveryReport(
  clients: readonly ObservedClient[],
  publisher: NumberedPublisher,
): DeliveryReport {
  let delivered = 0;
  let missing = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let sent = publisher.sharedSent;
  for (const sentToUser of publisher.ownSent.values()) sent += sentToUser;
  for (const observed of clients) {
    for (const [received, expected] of [
      [observed.shared, publisher.sharedSent],
      [observed.own, publisher.ownSent.get(observed.user) ?? 0],
    ] as const) {
      delivered += received.length;
      const seen = new Set<number>();
      let highest = 0;
      for (const n of received) {
        if (seen.has(n)) duplicated++;
        else if (n < highest) outOfOrder++;
        seen.add(n);
        highest = Math.max(highest, n);
      }
      for (let n = 1; n <= expected; n++) if (!seen.has(n)) missing++;
    }
  }
  return { clients: clients.length, sent, delivered, missing, duplicated, outOfOrder };
}

/** Waits until every client has everything the publisher sent (or the time is up), then reports. */
export async function settle(
  clients: readonly ObservedClient[],
  publisher: NumberedPublisher,
  timeoutMs = 30_000,
): Promise<DeliveryReport> {
  const complete = () =>
    clients.every(
      (c) => c.shared.length >= publisher.sharedSent && c.own.length >= (publisher.ownSent.get(c.user) ?? 0),
    );
  await waitUntil(complete, "every message delivered", { timeoutMs: timeoutMs, intervalMs: 50 }).catch(
    () => undefined,
  );
  return deliveryReport(clients, publisher);
}

/** How often each error code was reported, over every client. */
export function errorCounts(clients: readonly ObservedClient[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const client of clients) for (const code of client.errors) counts[code] = (counts[code] ?? 0) + 1;
  return counts;
}

export function percentiles(values: readonly number[]): {
  count: number;
  p50: number;
  p99: number;
  max: number;
} {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A 3-node JetStream cluster, two gateway processes given every node's URL (history on, replicas
 * following the cluster) behind a TCP balancer, a backend answering auth, and `clientCount` SDK
 * clients, all started through the test's launcher, which ends every process after the test.
 */
export class ClusterScene {
  readonly clients: ObservedClient[] = [];

  private constructor(
    readonly cluster: NatsCluster,
    readonly gateways: GatewayProcess[],
    readonly balancer: TcpBalancer,
    readonly backend: HeraldBackend,
  ) {}

  static async start(clientCount: number, launch: Launcher): Promise<ClusterScene> {
    const cluster = await launch.cluster();
    const args = [
      "--heartbeat-interval",
      "1000",
      "--heartbeat-timeout",
      "3000",
      "--drain-window",
      "300",
      "--log-level",
      "info",
      // every client reaches the gateways from 127.0.0.1, through the balancer
      "--max-connections-per-ip",
      "0",
    ];
    const gateways = await launch.gatewayProcesses(cluster.url, ["gw-a", "gw-b"], args);
    const balancer = await launch.balancer(() => gateways.map((g) => g.port));
    // The backend avoids gateway A's node, so the faults aimed at that node test the gateway; it
    // shares gateway B's node when it can, which leaves at least one node holding no connection.
    const nodeOfA = await nodeOf(cluster, "herald-gateway-gw-a");
    const nodeOfB = await nodeOf(cluster, "herald-gateway-gw-b");
    const backendNode = nodeOfB && nodeOfB !== nodeOfA ? nodeOfB : cluster.nodes.find((n) => n !== nodeOfA);
    const backend = await launch.backend(backendNode ?? cluster.url, {
      name: "herald-test-backend",
      authorize: (token) => accept({ user: token, channels: [SHARED] }),
    });
    const scene = new ClusterScene(cluster, gateways, balancer, backend);
    await scene.connectClients(clientCount, launch);
    return scene;
  }

  /** `count` SDK clients through the balancer, users `u0`, `u1`, …; resolves once all are ready. */
  private async connectClients(count: number, launch: Launcher): Promise<void> {
    for (let i = 0; i < count; i++) {
      const user = `u${i}`;
      const client = connect({
        url: this.balancer.url(),
        getToken: () => user,
        WebSocket,
        backoff: { initialMs: 100, maxMs: 1000 },
      });
      launch.own(client, (opened) => opened.close());
      this.clients.push(new ObservedClient(user, client));
    }
    await waitUntil(() => this.clients.every((c) => c.readyAt.length > 0), "every client ready", {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
  }

  get users(): string[] {
    return this.clients.map((c) => c.user);
  }

  gateway(id: "gw-a" | "gw-b"): GatewayProcess {
    const gateway = this.gateways[id === "gw-a" ? 0 : 1];
    if (!gateway) throw new Error(`no gateway ${id}`);
    return gateway;
  }

  /** The node a gateway's NATS connection is on now. */
  nodeOfGateway(id: "gw-a" | "gw-b"): Promise<ClusterNode | undefined> {
    return nodeOf(this.cluster, `herald-gateway-${id}`);
  }

  /** Nodes holding no gateway's and no backend's connection. */
  async idleNodes(): Promise<ClusterNode[]> {
    const idle: ClusterNode[] = [];
    for (const node of this.cluster.nodes) {
      const names = await this.cluster.connectionNames(node);
      if (!names.some((name) => name.startsWith("herald-"))) idle.push(node);
    }
    return idle;
  }

  /**
   * Asks the stream's leader to step down until a node that passes `wanted` leads it (JetStream
   * picks the new leader; a few tries suffice with three nodes).
   */
  async moveStreamLeader(stream: string, wanted: (node: ClusterNode) => boolean): Promise<ClusterNode> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const leader = this.cluster.node(await this.cluster.waitForStreamLeader(stream));
      if (wanted(leader)) return leader;
      await this.backend.connection.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, "", {
        timeout: 5000,
      });
      await this.cluster.waitForStreamLeader(stream, { not: leader.name });
    }
    throw new Error(`no wanted leader for ${stream} after 20 step-downs`);
  }

  /** For a failed run: the clients that fell behind, and what the gateways logged. */
  diagnose(publisher: NumberedPublisher): string {
    const behind = this.clients.filter(
      (c) => c.shared.length < publisher.sharedSent || c.own.length < (publisher.ownSent.get(c.user) ?? 0),
    );
    const lines = behind
      .slice(0, 10)
      .map(
        (c) =>
          `${c.user}: ${c.client.state}, shared ${c.shared.length}/${publisher.sharedSent} (last ${c.shared.at(-1)}), ` +
          `own ${JSON.stringify(c.own)}/${publisher.ownSent.get(c.user) ?? 0}, gateways ${c.gateways.join(",")}, ` +
          `errors ${c.errors.join(",")}\n    ${c.readies.join("\n    ")}`,
      );
    const logs = this.gateways.map(
      (g, i) =>
        `--- gateway ${i ? "B" : "A"}:\n${g
          .output()
          .split("\n")
          .filter((line) => !line.includes('"level":30,'))
          .join("\n")
          .slice(-6000)}`,
    );
    return [`${behind.length} clients behind`, ...lines, ...logs].join("\n");
  }
}

/** The node holding the NATS connection of that name, asked of every running node. */
async function nodeOf(cluster: NatsCluster, connectionName: string): Promise<ClusterNode | undefined> {
  for (const node of cluster.nodes) {
    if (node.pid === undefined) continue;
    const names = await cluster.connectionNames(node).catch((): string[] => []);
    if (names.includes(connectionName)) return node;
  }
  return undefined;
}

/** /readyz of a gateway process: 200, 503, or 0 when it does not answer. */
export async function readyzStatus(gateway: GatewayProcess): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${gateway.port}/readyz`, { signal: AbortSignal.timeout(1000) });
    return res.status;
  } catch {
    return 0;
  }
}
