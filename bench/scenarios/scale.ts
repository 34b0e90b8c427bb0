import { readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { OPTION_SPECS } from "../../src/gateway/config/options.js";
import { Empty } from "../lib/commands.js";
import { monotonicNs } from "../lib/payload.js";
import {
  CpuMeter,
  cpuTimes,
  listenOverflows,
  processTree,
  round3,
  rssBytes,
  socketCount,
  treeRssBytes,
} from "../lib/proc-stats.js";
import { sleep } from "../lib/wait.js";
import { failureText, type Measured, meterAll, pidsOf, type RunContext, round2, sum } from "./context.js";
import { measuredRun } from "./delivery.js";
import {
  checkRecovery,
  connectRecovering,
  percentile,
  recoveryProgress,
  recoveryTotals,
} from "./reconnect.js";

/** Notifications of the broadcast to every connection, spaced so that each fan-out ends before the next. */
const BROADCASTS = 5;
/** Runs the load generators record (the stored publishes carry one of their own, not recorded). */
const BROADCAST_RUN = 2;
const UNICAST_RUN = 3;
const STORED_RUN = 4;

/**
 * Gateway workers for `clients` connections when one process may hold `openFiles` files. A worker
 * accepts up to its open-files limit less 256 (the gateway's `--max-connections` default); 2,000 of
 * that stay spare (its NATS connection and files, an uneven share). One worker more than that needs,
 * because when one is killed its clients come back to the others before its replacement is up:
 * N / (W - 1) must fit one worker. 100,000 at 20,000 files: 7 workers of 14,286, 16,667 after a kill.
 */
export function scaleWorkers(clients: number, openFiles: number): number {
  return Math.ceil(clients / Math.max(1000, openFiles - 2000)) + 1;
}

/**
 * scale: N clients (100,000 by default) on one machine's `herald gateway --workers W`, the gateway
 * as it ships (history on). They connect in waves, `setupConcurrency` at a time per load generator
 * (a storm of N at once overflows the listen queue, capped by `net.core.somaxconn`); then memory per
 * connection, idle CPU over a heartbeat interval, a broadcast to all on `channel.all`, unicast to
 * random users, and a worker SIGKILLed while acknowledged publishing goes on: its clients reconnect
 * with `recover` to the same port (the other workers, and its replacement once the primary has
 * started it) and nothing may be lost or duplicated.
 */
export async function measureScale(context: RunContext): Promise<Measured> {
  const { params, options, system } = context;
  const herald = system.herald;
  if (!herald?.history) throw new Error("scale needs Herald with history on");
  const publisher = context.publisher;
  if (!publisher) throw new Error("no publisher");
  const primary = herald.gateway.process;
  const workerPids = () => processTree(primary.pid).slice(1);
  const firstWorkers = workerPids();
  if (firstWorkers.length < 2)
    throw new Error(`scale needs 2 or more gateway workers, found ${firstWorkers.length}`);
  await sleep(1000);

  // 1. Every client connects, in waves.
  const gatewayRssBefore = treeRssBytes(primary.pid);
  const primaryRssBefore = rssBytes(primary.pid);
  const natsRssBefore = rssBytes(herald.nats.pid);
  const overflowsBefore = listenOverflows();
  const connectMeter = meterAll(context);
  const primaryCpuBefore = cpuSeconds(primary.pid);
  const setup = await connectRecovering(context, system.clientUrl, options.setupConcurrency, 600_000);
  const connectCpu = connectMeter.read();
  const primaryConnectCpu = cpuSeconds(primary.pid) - primaryCpuBefore;
  const overflows = listenOverflows() - overflowsBefore;
  const allReadyS = Math.max(1e-3, (setup.lastReadyNs - setup.startedNs) / 1e9);
  options.log(
    `  ${system.name}: ${setup.ready}/${params.clients} ready in ${allReadyS.toFixed(1)} s on ${firstWorkers.length} workers${failureText(setup)}`,
  );
  if (setup.ready === 0) throw new Error(`no client became ready${failureText(setup)}`);

  // 2. Memory once the connects have settled; idle CPU over one heartbeat interval.
  await sleep(params.settleS * 1000);
  const gatewayGrowth = treeRssBytes(primary.pid) - gatewayRssBefore;
  const primaryGrowth = rssBytes(primary.pid) - primaryRssBefore;
  const natsGrowth = rssBytes(herald.nats.pid) - natsRssBefore;
  const loadgenRss = context.loadgens.map((l) => rssBytes(l.process.pid));
  const socketsPerWorker = Object.fromEntries(firstWorkers.map((pid) => [pid, socketCount(pid)]));
  const idleMeter = meterAll(context);
  await sleep(params.holdS * 1000);
  const idle = idleMeter.read();
  const idleServerCpuPerS = idle.serverTotal / idle.wall;
  options.log(
    `  ${system.name}: idle ${Math.round((1000 * idle.serverTotal) / idle.wall)} ms/s of server CPU`,
  );

  // 3. A broadcast to every connection, spaced so that each fan-out ends before the next begins.
  const spacingS = broadcastSpacingS(setup.ready);
  const broadcast = await measuredRun(context, BROADCAST_RUN, BROADCASTS * spacingS, setup.ready, {
    target: "broadcast",
    rate: 1 / spacingS,
  });
  const ms = (us: number) => Math.round(us) / 1000;
  // What one notification to every connection cost each side, the idle server's CPU meanwhile left out.
  const broadcastServerCpuS = Math.max(0, broadcast.cpu.serverTotal - idleServerCpuPerS * broadcast.cpu.wall);
  options.log(
    `  ${system.name}: broadcast ${broadcast.delivered}/${broadcast.expected} delivered, p99 ${ms(broadcast.histogram.getValueAtPercentile(99))} ms`,
  );

  // 4. Unicast to random users.
  const unicast = await measuredRun(context, UNICAST_RUN, params.durationS, 1, { target: "unicast" });
  options.log(
    `  ${system.name}: unicast ${unicast.delivered}/${unicast.expected} delivered, p99 ${ms(unicast.histogram.getValueAtPercentile(99))} ms`,
  );

  // 5. Acknowledged publishing; a worker dies with its clients, who come back with recover.
  await publisher.ipc.request(
    {
      type: "storedStart",
      run: STORED_RUN,
      users: params.clients,
      rate: params.rate,
      payloadBytes: params.payloadBytes,
    },
    Empty,
    30_000,
  );
  await sleep(params.warmupS * 1000);
  const streamAtKill = await historyStreamState(herald.natsUrl);
  const victim = firstWorkers[0] as number;
  const victimSockets = socketCount(victim);
  const before = await recoveryProgress(context);
  const failedBefore = sum(Object.values(before.failures));
  const recoveryOverflowsBefore = listenOverflows();
  // Follows the tree: the worker the primary starts in place of the dead one counts too.
  const meter = new CpuMeter(pidsOf([primary, herald.nats]), options.serverCores, true);
  const samples: { atNs: number; cpu: number }[] = [];
  const known = new Set(firstWorkers);
  let restartedNs = 0;
  const killedNs = monotonicNs();
  process.kill(victim, "SIGKILL");
  const deadline = Date.now() + 180_000;
  let progress = before;
  let dropped = progress.dropped;
  let droppedSince = Date.now();
  for (;;) {
    samples.push({ atNs: monotonicNs(), cpu: sum(Object.values(meter.read().perProcess)) });
    if (restartedNs === 0 && workerPids().some((pid) => !known.has(pid))) restartedNs = monotonicNs();
    const failed = sum(Object.values(progress.failures)) - failedBefore;
    const settled = dropped > 0 && progress.ready + failed >= dropped;
    // Every dropped connection has been seen once the count stays the same for a second.
    if ((settled && Date.now() - droppedSince >= 1000) || Date.now() > deadline) break;
    await sleep(100);
    progress = await recoveryProgress(context);
    if (progress.dropped !== dropped) {
      dropped = progress.dropped;
      droppedSince = Date.now();
    }
  }
  const recoveryOverflows = listenOverflows() - recoveryOverflowsBefore;
  options.log(
    `  ${system.name}: worker ${victim} killed with ${dropped} clients; ${progress.ready} ready again`,
  );
  const { published, reports } = await checkRecovery(context, killedNs, progress.received);
  const totals = recoveryTotals(reports);
  const { readyMs, recoveredMs } = totals;
  const lastReadyMs = readyMs.at(-1) ?? 0;
  // Server CPU from the kill until the last client was ready again.
  const windowEnd = samples.find((s) => s.atNs >= killedNs + lastReadyMs * 1e6) ?? samples.at(-1);
  const socketsAfter = Object.fromEntries(workerPids().map((pid) => [pid, socketCount(pid)]));

  const seconds = (value: number | undefined) => round3((value ?? Number.NaN) / 1000);
  const kib = (bytes: number) => Math.round((10 * bytes) / 1024 / setup.ready) / 10;
  const mib = (bytes: number) => Math.round((10 * bytes) / 2 ** 20) / 10;
  const lost = (run: { expected: number; delivered: number }) => Math.max(0, run.expected - run.delivered);
  return {
    figures: {
      clients: params.clients,
      workers: firstWorkers.length,
      loadgens: context.loadgens.length,
      ready: setup.ready,
      failed: setup.failed,
      connectInFlight: options.setupConcurrency * context.loadgens.length,
      timeToAllReadyS: round3(allReadyS),
      connectsPerS: Math.round(setup.ready / allReadyS),
      connectServerCpuS: connectCpu.serverTotal,
      connectsPerServerCpuS: Math.round(setup.ready / Math.max(1e-3, connectCpu.serverTotal)),
      listenOverflows: overflows,
      connectLoadgenCpuPct: Math.round((100 * connectCpu.loadgen) / connectCpu.wall),
      kibPerConnection: kib(gatewayGrowth + natsGrowth),
      gatewayKibPerConnection: kib(gatewayGrowth),
      natsKibPerConnection: kib(natsGrowth),
      primaryRssGrowthMiB: mib(primaryGrowth),
      serverRssMiB: mib(treeRssBytes(primary.pid) + rssBytes(herald.nats.pid)),
      idleCpuMsPerS: Math.round(1000 * idleServerCpuPerS),
      broadcastSent: broadcast.published.sent,
      broadcastSpacingS: spacingS,
      broadcastExpected: broadcast.expected,
      broadcastLost: lost(broadcast),
      broadcastP50Ms: ms(broadcast.histogram.getValueAtPercentile(50)),
      broadcastP99Ms: ms(broadcast.histogram.getValueAtPercentile(99)),
      broadcastMaxMs: ms(broadcast.histogram.maxValue),
      broadcastServerCpuPerNotificationS: round3(broadcastServerCpuS / Math.max(1, broadcast.published.sent)),
      broadcastLoadgenCpuPerNotificationS: round3(
        broadcast.cpu.loadgen / Math.max(1, broadcast.published.sent),
      ),
      unicastSent: unicast.published.sent,
      unicastLost: lost(unicast),
      unicastP50Ms: ms(unicast.histogram.getValueAtPercentile(50)),
      unicastP99Ms: ms(unicast.histogram.getValueAtPercentile(99)),
      unicastMaxMs: ms(unicast.histogram.maxValue),
      unicastDeliveriesPerServerCpuS: Math.round(unicast.delivered / Math.max(1e-3, unicast.cpu.serverTotal)),
      killedWorkerSockets: victimSockets,
      killedWorkerClients: dropped,
      readyAgain: readyMs.length,
      notBack: Math.max(0, dropped - readyMs.length),
      notRecovered: totals.notRecovered,
      retried: totals.retried,
      readyP50S: seconds(percentile(readyMs, 50)),
      readyP99S: seconds(percentile(readyMs, 99)),
      readyMaxS: seconds(lastReadyMs),
      recoveredP99S: seconds(percentile(recoveredMs, 99)),
      recoveredMaxS: seconds(recoveredMs.at(-1)),
      workerRestartS: restartedNs > 0 ? round3((restartedNs - killedNs) / 1e9) : Number.NaN,
      recoveryServerCpuS: round3(windowEnd?.cpu ?? 0),
      recoveryListenOverflows: recoveryOverflows,
      published: sum(published.acked),
      publishFailed: published.failed,
      replayed: totals.replayed,
      lost: totals.lost,
      missedAfterRefetch: totals.missedAfterRefetch,
      duplicated: totals.duplicated,
      gapsByPrev: totals.gapsByPrev,
      loadgenRssMiB: mib(sum(loadgenRss)),
      loadgenMaxRssMiB: mib(Math.max(...loadgenRss)),
      otherOnServerCores: round2(connectCpu.otherOnServerCores / connectCpu.wall),
      otherOnClientCores: round2(connectCpu.otherOnClientCores / connectCpu.wall),
    },
    details: {
      somaxconn: readSysctl("net/core/somaxconn"),
      setupFailures: setup.failures,
      connectServerCpuByProcess: connectCpu.server,
      connectPrimaryCpuS: round3(primaryConnectCpu),
      connectServerKernelCpuByProcess: connectCpu.serverKernel,
      rssGrowthBytes: { gateway: gatewayGrowth, primary: primaryGrowth, nats: natsGrowth },
      loadgenRssBytes: loadgenRss,
      socketsPerWorkerBeforeKill: socketsPerWorker,
      idleCpuByProcess: idle.server,
      idleWallS: round3(idle.wall),
      idleOtherOnServerCores: round2(idle.otherOnServerCores / idle.wall),
      broadcastServerCpuS: broadcast.cpu.serverTotal,
      broadcastLoadgenCpuS: round3(broadcast.cpu.loadgen),
      broadcastLoadgenCpuPct: Math.round((100 * broadcast.cpu.loadgen) / broadcast.cpu.wall),
      broadcastOtherOnServerCores: round2(broadcast.cpu.otherOnServerCores / broadcast.cpu.wall),
      unicastRate: params.rate,
      unicastServerCpuS: unicast.cpu.serverTotal,
      unicastP90Ms: ms(unicast.histogram.getValueAtPercentile(90)),
      unicastOtherOnServerCores: round2(unicast.cpu.otherOnServerCores / unicast.cpu.wall),
      // A recovery from before the stream's first sequence cannot prove that nothing was dropped.
      historyStreamAtKill: streamAtKill,
      killedWorkerPid: victim,
      socketsPerWorkerAfterRecovery: socketsAfter,
      recoveryWindowS: windowEnd ? round3((windowEnd.atNs - killedNs) / 1e9) : 0,
      recoveryFailures: totals.failures,
      recoveredP50S: seconds(percentile(recoveredMs, 50)),
      replayingClients: totals.replaying,
      duplicatedByIndex: totals.duplicatedByIndex,
      duplicatedBySeq: totals.duplicatedBySeq,
      misrouted: totals.misrouted,
      unacknowledgedReceived: totals.unexpected,
      publishFailures: published.failures,
    },
    window: { fromNs: setup.startedNs, toNs: monotonicNs() },
  };
}

/**
 * Seconds between the broadcast's notifications: a fan-out to 6,000 sockets took 0.1 s of the server
 * core and 0.15 s of the load generators' (2 s and 2.5 s at 100,000); 1 s up to 30,000, 4 s at 100,000.
 */
function broadcastSpacingS(connections: number): number {
  return Math.max(1, Math.ceil(connections / 30_000));
}

/** The history stream's first and last sequence and its message count (the gateway's default stream). */
async function historyStreamState(natsUrl: string) {
  const nc = await connect({ servers: natsUrl, name: "bench-stream-state" });
  try {
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(OPTION_SPECS.historyStream.default ?? "HERALD");
    return { firstSeq: state.first_seq, lastSeq: state.last_seq, messages: state.messages };
  } finally {
    await nc.close();
  }
}

function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

function readSysctl(name: string): number {
  try {
    return Number(readFileSync(`/proc/sys/${name}`, "utf8").trim());
  } catch {
    return Number.NaN;
  }
}
