import * as v from "valibot";
import { type NatsServer, startNats } from "../local/nats-server.js";
import { freePort } from "../local/ports.js";
import { pollFor } from "../local/wait-until.js";

export interface ClusterNode extends NatsServer {
  /** The node's `server_name`, as JetStream names stream leaders and replicas. */
  readonly name: string;
}

export interface NatsCluster {
  readonly nodes: readonly ClusterNode[];
  /** Every node's client URL, comma-separated (what `--nats` takes). */
  readonly url: string;
  readonly urls: readonly string[];
  node(name: string): ClusterNode;
  /** Resolves once every running node that answers agrees on a JetStream meta leader. */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  /** The node that leads `stream` now, or undefined while it is electing one (asked of a running node). */
  streamLeader(stream: string): Promise<string | undefined>;
  /** Waits until `stream` has a leader that is not `not`; returns its name. */
  waitForStreamLeader(stream: string, options?: { not?: string; timeoutMs?: number }): Promise<string>;
  /** Names of the client connections a node holds now (NATS connection names, e.g. `herald-gateway-gw-a`). */
  connectionNames(node: ClusterNode): Promise<string[]>;
  /** Stops every node (continuing paused ones first) and removes their folders. */
  stop(): Promise<void>;
}

const Jsz = v.object({
  meta_cluster: v.optional(
    v.object({ leader: v.optional(v.string()), cluster_size: v.optional(v.number()) }),
  ),
  account_details: v.optional(
    v.array(
      v.object({
        stream_detail: v.optional(
          v.array(
            v.object({
              name: v.string(),
              cluster: v.optional(v.object({ leader: v.optional(v.string()) })),
            }),
          ),
        ),
      }),
    ),
  ),
});

const Connz = v.object({ connections: v.optional(v.array(v.object({ name: v.optional(v.string()) }))) });

/**
 * Three (or `size`) nats-servers with clustered JetStream on free loopback ports, routed to each
 * other, each with its own store. Resolves once the JetStream meta leader is elected.
 */
export async function startNatsCluster(size = 3, clusterName = "herald-test"): Promise<NatsCluster> {
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = routePorts.map((port) => `"nats-route://127.0.0.1:${port}"`).join(", ");
  const started = await Promise.allSettled(
    routePorts.map(async (routePort, i) => {
      const name = `n${i + 1}`;
      const server = await startNats({
        jetstream: true,
        extraConfig: [
          `server_name: ${name}`,
          `cluster { name: ${clusterName}, listen: "127.0.0.1:${routePort}", routes: [${routes}] }`,
        ].join("\n"),
      });
      return Object.assign(server, { name }) as ClusterNode;
    }),
  );
  const nodes = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw failed.reason;
  }

  const running = () => nodes.filter((node) => node.pid !== undefined);
  const jsz = async (node: ClusterNode, query = ""): Promise<v.InferOutput<typeof Jsz> | undefined> => {
    try {
      const res = await fetch(`${node.monitorUrl}/jsz${query}`, { signal: AbortSignal.timeout(1000) });
      return v.parse(Jsz, await res.json());
    } catch {
      return undefined; // down, paused or busy: ask another node
    }
  };
  const poll = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> =>
    pollFor(probe, what, { timeoutMs, intervalMs: 100 });
  const streamLeader = async (stream: string): Promise<string | undefined> => {
    for (const node of running()) {
      const body = await jsz(node, "?accounts=true&streams=true");
      if (!body) continue;
      const details = body.account_details?.flatMap((account) => account.stream_detail ?? []) ?? [];
      return details.find((detail) => detail.name === stream)?.cluster?.leader || undefined;
    }
    return undefined;
  };

  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((node) => node.url),
    url: nodes.map((node) => node.url).join(","),
    node(name) {
      const found = nodes.find((node) => node.name === name);
      if (!found) throw new Error(`no node ${name} in the cluster`);
      return found;
    },
    waitForMetaLeader: (timeoutMs = 20_000) =>
      poll("a JetStream meta leader", timeoutMs, async () => {
        const answers = await Promise.all(running().map((node) => jsz(node)));
        const leaders = answers.flatMap((answer) => (answer ? [answer.meta_cluster?.leader] : []));
        const first = leaders[0];
        return first && leaders.every((leader) => leader === first) ? first : undefined;
      }),
    streamLeader,
    waitForStreamLeader: (stream, { not, timeoutMs = 30_000 } = {}) =>
      poll(`a new leader for stream ${stream}`, timeoutMs, async () => {
        const leader = await streamLeader(stream);
        return leader !== undefined && leader !== not ? leader : undefined;
      }),
    async connectionNames(node) {
      const res = await fetch(`${node.monitorUrl}/connz?limit=10000`, { signal: AbortSignal.timeout(2000) });
      const body = v.parse(Connz, await res.json());
      return (body.connections ?? []).flatMap((connection) => (connection.name ? [connection.name] : []));
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
  try {
    await cluster.waitForMetaLeader();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
