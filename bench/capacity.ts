// Usage: node --import tsx bench/capacity.ts [--clients N] [--subscriptions S] [--churn-seconds T]
//                                          [--failovers F] [--out FILE]
// The figures behind docs/operations.md's capacity model, measured on a 3-node nats-server cluster
// with JetStream (loopback, this machine): nats-server memory per subscription on the node holding it
// and on its peers, the subscribe/unsubscribe churn the cluster absorbs, a gateway's memory and CPU
// per authenticated connection, its CPU per recovering reconnect after another gateway dies, and
// the stream-leader failover time. Not part of `npm test` or `npm run bench`; about 2 minutes.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { WebSocket } from "ws";
import { accept, HeraldBackend } from "../src/backend/index.js";
import { connect, type HeraldClient } from "../src/client/index.js";
import {
  type ClusterNode,
  type GatewayProcess,
  type NatsCluster,
  startGatewayProcesses,
  startNatsCluster,
  startTcpBalancer,
  waitUntil,
} from "../src/testing/index.js";
import { describeEnvironment } from "./lib/environment.js";
import { cpuTimes, rssBytes } from "./lib/proc-stats.js";
import { sleep } from "./lib/wait.js";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "4000" },
    subscriptions: { type: "string", default: "100000" },
    "churn-seconds": { type: "string", default: "10" },
    failovers: { type: "string", default: "3" },
    out: { type: "string" },
  },
});
const CLIENTS = Number(values.clients);
const SUBSCRIPTIONS = Number(values.subscriptions);
const CHURN_SECONDS = Number(values["churn-seconds"]);
const FAILOVERS = Number(values.failovers);
const STREAM = "HERALD";

const cpu = (pid: number) => {
  const t = cpuTimes(pid);
  return t.user + t.system;
};
const kib = (bytes: number) => Math.round(bytes / 102.4) / 10;
const say = (line: string) => process.stdout.write(`${line}\n`);

function pidOf(node: ClusterNode): number {
  if (node.pid === undefined) throw new Error(`${node.name} is not running`);
  return node.pid;
}

/** RSS of every node, after a pause for the Go runtime to settle. */
async function nodeRss(cluster: NatsCluster): Promise<number[]> {
  await sleep(2000);
  return cluster.nodes.map((node) => rssBytes(pidOf(node)));
}

/** S subscriptions on node 1 by one client: memory on that node and on each peer (route interest). */
async function subscriptionMemory(cluster: NatsCluster) {
  const [holder] = cluster.nodes;
  if (!holder) throw new Error("no node");
  const nc = await natsConnect({ servers: holder.url });
  const before = await nodeRss(cluster);
  const subs = Array.from({ length: SUBSCRIPTIONS }, (_, i) => nc.subscribe(`cap.live.user.u${i}`));
  await nc.flush();
  const after = await nodeRss(cluster);
  for (const sub of subs) sub.unsubscribe();
  await nc.close();
  const per = after.map((bytes, i) => (bytes - (before[i] ?? 0)) / SUBSCRIPTIONS);
  return {
    subscriptions: SUBSCRIPTIONS,
    holdingNodeBytesPerSubscription: Math.round(per[0] ?? 0),
    peerBytesPerSubscription: per.slice(1).map(Math.round),
  };
}

/** One client subscribing and unsubscribing distinct subjects as fast as the cluster takes them. */
async function subscribeChurn(cluster: NatsCluster) {
  const [node] = cluster.nodes;
  if (!node) throw new Error("no node");
  const nc = await natsConnect({ servers: node.url });
  const cpuBefore = cluster.nodes.map((n) => cpu(pidOf(n)));
  const started = Date.now();
  let pairs = 0;
  while (Date.now() - started < CHURN_SECONDS * 1000) {
    for (let i = 0; i < 1000; i++) nc.subscribe(`cap.churn.${pairs + i}`).unsubscribe();
    pairs += 1000;
    await nc.flush(); // the cluster has taken them in
  }
  const seconds = (Date.now() - started) / 1000;
  const cpuSeconds = cluster.nodes.map((n, i) => cpu(pidOf(n)) - (cpuBefore[i] ?? 0));
  await nc.close();
  return {
    pairsPerSecond: Math.round(pairs / seconds),
    // The client is usually the limit here; what a pair costs each node says what the cluster could take.
    natsCoresBusyPerNode: cpuSeconds.map((s) => Math.round((s / seconds) * 100) / 100),
    natsCpuMsPer1000PairsPerNode: cpuSeconds.map((s) => Math.round((s / pairs) * 1000 * 1000 * 10) / 10),
  };
}

/** SDK clients, all on gateway A at first; reconnecting (with recover) to B once A is gone. */
async function gatewayFigures(cluster: NatsCluster) {
  const backend = await HeraldBackend.connect({ servers: cluster.urls, name: "capacity-backend" });
  backend.serveAuth((token) => accept({ user: token, channels: ["all"] }));
  // Every client comes from 127.0.0.1 through the balancer: no per-address limit.
  const args = ["--log-level", "error", "--max-connections-per-ip", "0", "--connect-rate-per-ip", "0"];
  const gateways = await startGatewayProcesses(cluster.url, ["cap-a", "cap-b"], args).catch(async (err) => {
    await backend.close();
    throw err;
  });
  const clients: HeraldClient[] = [];
  let balancer: Awaited<ReturnType<typeof startTcpBalancer>> | undefined;
  try {
    const [a, b] = gateways as [GatewayProcess, GatewayProcess];
    let targets = [a.port];
    balancer = await startTcpBalancer(() => targets);
    await sleep(1000);
    const rssBefore = rssBytes(a.pid);
    const cpuBefore = cpu(a.pid);
    const started = Date.now();
    const readyAt: number[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const client = connect({
        url: balancer.url(),
        getToken: () => `u${i}`,
        WebSocket,
        backoff: { initialMs: 500, maxMs: 5000 },
      });
      client.on("ready", () => readyAt.push(Date.now()));
      clients.push(client);
    }
    await waitUntil(() => readyAt.length >= CLIENTS, "every client ready on A", { timeoutMs: 120_000 });
    const storm = { seconds: (Date.now() - started) / 1000, cpuSeconds: cpu(a.pid) - cpuBefore };
    await sleep(3000);
    const rssPerConnection = (rssBytes(a.pid) - rssBefore) / CLIENTS;
    // A few messages to everyone, so the reconnects below have something to recover.
    for (let n = 0; n < 5; n++) await backend.publish({ channel: "all" }, { n });

    targets = [b.port];
    const leader = await cluster.streamLeader(STREAM);
    const holding = await Promise.all(cluster.nodes.map((node) => cluster.connectionNames(node)));
    const roles = cluster.nodes.map((node, i) =>
      [
        node.name === leader ? "stream leader" : "",
        holding[i]?.includes("herald-gateway-cap-b") ? "gateway B's node" : "",
      ]
        .filter(Boolean)
        .join(", "),
    );
    const cpuB = cpu(b.pid);
    const natsCpu = cluster.nodes.map((n) => cpu(pidOf(n)));
    readyAt.length = 0;
    const killedAt = Date.now();
    await a.stop("SIGKILL");
    await waitUntil(() => readyAt.length >= CLIENTS, "every client ready on B", { timeoutMs: 120_000 });
    const times = readyAt.map((t) => t - killedAt).sort((x, y) => x - y);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
    const recoverCpu = cpu(b.pid) - cpuB;
    return {
      clients: CLIENTS,
      gatewayRssKiBPerConnection: kib(rssPerConnection),
      connectStorm: {
        seconds: storm.seconds,
        gatewayCpuMsPerConnect: Math.round((storm.cpuSeconds / CLIENTS) * 1000 * 100) / 100,
        connectsPerGatewayCoreSecond: Math.round(CLIENTS / storm.cpuSeconds),
      },
      afterGatewaySigkill: {
        readyAgainMs: { p50: at(0.5), p99: at(0.99), max: times.at(-1) ?? 0 },
        gatewayCpuMsPerRecoveringConnect: Math.round((recoverCpu / CLIENTS) * 1000 * 100) / 100,
        recoveringConnectsPerGatewayCoreSecond: Math.round(CLIENTS / recoverCpu),
        nodeRoles: roles,
        natsCpuSecondsPerNode: cluster.nodes.map(
          (n, i) => Math.round((cpu(pidOf(n)) - (natsCpu[i] ?? 0)) * 100) / 100,
        ),
      },
    };
  } finally {
    for (const client of clients) client.close();
    await balancer?.close();
    await Promise.all(gateways.map((g) => g.stop("SIGKILL")));
    await backend.close();
  }
}

/**
 * Kills the stream's leader while publishing: the time until a publish is acknowledged again, and
 * what became of plain publishes sent meanwhile (counted against what the stream stored).
 */
async function failovers(cluster: NatsCluster) {
  const times: number[] = [];
  const plain: { sent: number; stored: number }[] = [];
  for (let round = 0; round < FAILOVERS; round++) {
    const leader = cluster.node(await cluster.waitForStreamLeader(STREAM));
    const alive = cluster.nodes.filter((node) => node !== leader);
    const nc = await natsConnect({ servers: alive.map((node) => node.url) });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await js.publish("herald.user.failover", "before");
    const plainSubject = `herald.user.plain${round}`;
    let sent = 0;
    let publishing = true;
    const plainPublisher = (async () => {
      while (publishing) {
        nc.publish(plainSubject, String(sent++));
        if (sent % 10 === 0) await sleep(5);
      }
    })();
    const killedAt = Date.now();
    await leader.kill();
    for (;;) {
      try {
        await js.publish("herald.user.failover", "after", { timeout: 500 });
        break;
      } catch {
        await sleep(20);
      }
    }
    times.push(Date.now() - killedAt);
    publishing = false;
    await plainPublisher;
    await nc.flush();
    await sleep(500);
    const stored = (await jsm.streams.info(STREAM, { subjects_filter: plainSubject })).state.subjects;
    plain.push({ sent, stored: stored?.[plainSubject] ?? 0 });
    await nc.close();
    await leader.start();
    await cluster.waitForMetaLeader();
    await sleep(2000); // the restarted node catches up before the next round
  }
  return { streamLeaderFailoverMs: times, plainPublishesDuringFailover: plain };
}

const cluster = await startNatsCluster();
try {
  say("capacity: 3-node nats-server cluster with JetStream on loopback");
  const subscriptions = await subscriptionMemory(cluster);
  say(`subscriptions: ${JSON.stringify(subscriptions)}`);
  const churn = await subscribeChurn(cluster);
  say(`subscribe churn: ${JSON.stringify(churn)}`);
  const gateway = await gatewayFigures(cluster);
  say(`gateway: ${JSON.stringify(gateway)}`);
  const nc = await natsConnect({ servers: [...cluster.urls] });
  const replicas = (await (await jetstreamManager(nc)).streams.info(STREAM)).config.num_replicas;
  await nc.close();
  const failover = await failovers(cluster);
  say(`failover (stream of ${replicas} replicas): ${JSON.stringify(failover)}`);
  const result = {
    scenario: "capacity",
    environment: describeEnvironment(new URL("..", import.meta.url).pathname),
    parameters: {
      clients: CLIENTS,
      subscriptions: SUBSCRIPTIONS,
      churnSeconds: CHURN_SECONDS,
      failovers: FAILOVERS,
    },
    subscriptions,
    churn,
    gateway,
    failover: { replicas, ...failover },
  };
  const out =
    values.out ?? `bench/results/${new Date().toISOString().slice(0, 16).replace(/:/g, "")}-capacity.json`;
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  say(`written to ${out}`);
} finally {
  await cluster.stop();
}
