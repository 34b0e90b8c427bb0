import { connect } from "@nats-io/transport-node";
import {
  type ConnectResult,
  ConnectResult as ConnectResultSchema,
  Empty,
  RecoveryProgress,
  RecoveryReport,
  StoredResult,
} from "../lib/commands.js";
import { monotonicNs } from "../lib/payload.js";
import { CpuMeter, listenOverflows, round3 } from "../lib/proc-stats.js";
import { sleep } from "../lib/wait.js";
import {
  failureText,
  type Measured,
  mergeCounts,
  meterAll,
  pidsOf,
  type RunContext,
  round2,
  sum,
} from "./context.js";

/**
 * reconnect: N clients on gateway A while the backend publishes to them (acknowledged, numbered per
 * user); A is SIGKILLed; every client reconnects at once with `recover` to gateway B on the same
 * nats-server. How long until all are ready and recovered, what it costs the server side and
 * JetStream, and whether any message was lost or duplicated.
 */
export async function measureReconnect(context: RunContext): Promise<Measured> {
  const { params, options, system } = context;
  const herald = system.herald;
  if (!herald?.history) throw new Error("reconnect needs Herald with history on");
  const publisher = context.publisher;
  if (!publisher) throw new Error("no publisher");
  const gatewayB = await herald.startGateway();
  const jsApi = await countJetStreamRequests(herald.natsUrl);
  try {
    // 1. All clients at once onto A: a plain storm connection (history on), for comparison.
    await sleep(500);
    const stormMeter = new CpuMeter(pidsOf([herald.gateway.process, herald.nats]), options.serverCores);
    const storm = await connectRecovering(context, gatewayB.clientUrl);
    const stormCpu = sum(Object.values(stormMeter.read().perProcess));
    options.log(`  ${system.name}: ${storm.ready}/${params.clients} ready on gateway A${failureText(storm)}`);
    if (storm.ready === 0) throw new Error(`no client became ready${failureText(storm)}`);

    // 2. Acknowledged publishes to them; the steady cost of publishing is measured before the kill.
    await publisher.ipc.request(
      {
        type: "storedStart",
        run: 1,
        users: params.clients,
        rate: params.rate,
        payloadBytes: params.payloadBytes,
      },
      Empty,
      30_000,
    );
    const half = Math.max(1000, (params.warmupS * 1000) / 2);
    await sleep(half);
    const steady = new CpuMeter(pidsOf([herald.gateway.process, herald.nats]), options.serverCores);
    await sleep(half);
    const steadyRead = steady.read();
    const backgroundPerS = sum(Object.values(steadyRead.perProcess)) / steadyRead.wallSeconds;

    // 3. A dies; every client goes to B with recover.
    const overflowsBefore = listenOverflows();
    const meter = new CpuMeter(pidsOf([gatewayB.process, herald.nats]), options.serverCores);
    const all = meterAll(context, [gatewayB.process]);
    const samples: { atNs: number; cpu: number; byProcess: Record<string, number> }[] = [];
    const sample = () => {
      const perProcess = meter.read().perProcess;
      samples.push({ atNs: monotonicNs(), cpu: sum(Object.values(perProcess)), byProcess: perProcess });
    };
    jsApi.reset();
    const killedNs = monotonicNs();
    herald.gateway.process.kill();
    const deadline = Date.now() + 120_000;
    let progress = await recoveryProgress(context);
    while (progress.ready + sum(Object.values(progress.failures)) < storm.ready && Date.now() < deadline) {
      sample();
      await sleep(100);
      progress = await recoveryProgress(context);
    }
    // Replays of the last ones still arriving: a few more samples.
    for (let i = 0; i < 10; i++) {
      sample();
      await sleep(100);
    }
    const cpuAll = all.read();
    const overflows = listenOverflows() - overflowsBefore;
    options.log(`  ${system.name}: ${progress.ready}/${storm.ready} ready again on gateway B`);

    // 4. Publishing goes on a little, stops; every acknowledged message must arrive once.
    const { published, reports, received } = await checkRecovery(context, killedNs, progress.received);
    const jsRequests = jsApi.read();
    const totals = recoveryTotals(reports);
    const { readyMs, recoveredMs, failures } = totals;
    const lastRecoveredMs = recoveredMs.at(-1) ?? 0;
    // Server CPU from the kill until the last client had its last replayed message.
    const windowEnd = samples.find((s) => s.atNs >= killedNs + lastRecoveredMs * 1e6) ?? samples.at(-1);
    const windowS = windowEnd ? (windowEnd.atNs - killedNs) / 1e9 : 0;
    const recoveryCpu = windowEnd?.cpu ?? 0;
    const background = backgroundPerS * windowS;
    const netCpu = Math.max(1e-3, recoveryCpu - background);
    const reconnected = readyMs.length;
    const stormPerConnection = stormCpu / storm.ready;
    const perRecovery = netCpu / Math.max(1, reconnected);
    const seconds = (ms: number | undefined) => round3((ms ?? Number.NaN) / 1000);
    return {
      figures: {
        clients: params.clients,
        ready: reconnected,
        notRecovered: totals.notRecovered,
        failed: sum(Object.values(failures)),
        readyP50S: seconds(percentile(readyMs, 50)),
        readyP99S: seconds(percentile(readyMs, 99)),
        recoveredP50S: seconds(percentile(recoveredMs, 50)),
        recoveredP99S: seconds(percentile(recoveredMs, 99)),
        recoveredMaxS: seconds(lastRecoveredMs),
        published: sum(published.acked),
        publishFailed: published.failed,
        replayed: totals.replayed,
        replayingClients: totals.replaying,
        lost: totals.lost,
        duplicated: totals.duplicated,
        gapsByPrev: totals.gapsByPrev,
        jsApiPerReconnect: round2(jsRequests.total / Math.max(1, reconnected)),
        stormConnectsPerServerCpuS: Math.round(storm.ready / Math.max(1e-3, stormCpu)),
        recoveriesPerServerCpuS: Math.round(reconnected / netCpu),
        cpuPerRecoveryVsStorm: round2(perRecovery / stormPerConnection),
        recoveryCpuS: round3(recoveryCpu),
        backgroundCpuS: round3(background),
        listenOverflows: overflows,
        loadgenCpuPct: Math.round((100 * cpuAll.loadgen) / cpuAll.wall),
        otherOnServerCores: round2(cpuAll.otherOnServerCores / cpuAll.wall),
        otherOnClientCores: round2(cpuAll.otherOnClientCores / cpuAll.wall),
      },
      details: {
        stormFailures: storm.failures,
        stormCpuS: round3(stormCpu),
        recoveryWindowS: round3(windowS),
        backgroundCpuPerS: round3(backgroundPerS),
        recoveryCpuByProcess: windowEnd?.byProcess ?? {},
        jetStreamRequestsByKind: jsRequests.byKind,
        jetStreamRequests: jsRequests.total,
        failures,
        duplicatedByIndex: totals.duplicatedByIndex,
        duplicatedBySeq: totals.duplicatedBySeq,
        misrouted: totals.misrouted,
        unacknowledgedReceived: totals.unexpected,
        retried: totals.retried,
        missedAfterRefetch: totals.missedAfterRefetch,
        publishFailures: published.failures,
        readyMaxS: seconds(readyMs.at(-1)),
        receivedAtEnd: received,
      },
      window: { fromNs: killedNs, toNs: windowEnd?.atNs ?? monotonicNs() },
      // Gateway A dies by SIGKILL and writes no profile: the one to read is B's.
      profileName: `${system.name}-2`,
    };
  } finally {
    await jsApi.close();
  }
}

/**
 * Opens every load generator's recovering clients to the system's URL, `concurrency` at a time per
 * load generator (0: all at once); when a client's connection drops it reconnects to `reconnectUrl`.
 */
export function connectRecovering(
  context: RunContext,
  reconnectUrl: string,
  concurrency = 0,
  timeoutMs = 120_000,
): Promise<ConnectResult> {
  return Promise.all(
    context.loadgens.map((loadgen) =>
      loadgen.ipc.request(
        {
          type: "connectRecovering",
          url: context.system.clientUrl,
          reconnectUrl,
          firstUser: loadgen.firstUser,
          count: loadgen.count,
          localAddresses: context.options.localAddresses,
          concurrency,
          timeoutMs,
        },
        ConnectResultSchema,
        timeoutMs + 30_000,
      ),
    ),
  ).then((results) => ({
    ready: sum(results.map((r) => r.ready)),
    failed: sum(results.map((r) => r.failed)),
    failures: mergeCounts(results.map((r) => r.failures)),
    startedNs: Math.min(...results.map((r) => r.startedNs)),
    lastReadyNs: Math.max(...results.map((r) => r.lastReadyNs)),
  }));
}

export async function recoveryProgress(context: RunContext): Promise<RecoveryProgress> {
  const all = await Promise.all(
    context.loadgens.map((l) => l.ipc.request({ type: "recoveryProgress" }, RecoveryProgress, 10_000)),
  );
  return {
    dropped: sum(all.map((p) => p.dropped)),
    ready: sum(all.map((p) => p.ready)),
    notRecovered: sum(all.map((p) => p.notRecovered)),
    received: sum(all.map((p) => p.received)),
    failures: mergeCounts(all.map((p) => p.failures)),
  };
}

/**
 * Once every dropped client is back: acknowledged publishing goes on for the warm-up, then stops;
 * waits until every acknowledged message has arrived (or nothing more came for 3 s), and asks each
 * load generator what its clients received against what was published to their users.
 */
export async function checkRecovery(context: RunContext, killedNs: number, receivedSoFar: number) {
  const publisher = context.publisher;
  if (!publisher) throw new Error("no publisher");
  await sleep(context.params.warmupS * 1000);
  const published = await publisher.ipc.request({ type: "storedStop" }, StoredResult, 60_000);
  const expected = sum(published.acked);
  let received = receivedSoFar;
  let lastChange = Date.now();
  while (received < expected && Date.now() - lastChange < 3000) {
    await sleep(100);
    const now = (await recoveryProgress(context)).received;
    if (now !== received) lastChange = Date.now();
    received = now;
  }
  const reports = await Promise.all(
    context.loadgens.map((l) =>
      l.ipc.request(
        {
          type: "recoveryReport",
          killedNs,
          sent: published.acked.slice(l.firstUser, l.firstUser + l.count),
        },
        RecoveryReport,
        60_000,
      ),
    ),
  );
  return { published, reports, received };
}

/** Every load generator's recovery report as one: times sorted, counts summed. */
export function recoveryTotals(reports: readonly RecoveryReport[]) {
  const total = (pick: (r: RecoveryReport) => number) => sum(reports.map(pick));
  return {
    readyMs: reports.flatMap((r) => r.readyMs).sort((a, b) => a - b),
    recoveredMs: reports.flatMap((r) => r.recoveredMs).sort((a, b) => a - b),
    notRecovered: total((r) => r.notRecovered),
    replayed: total((r) => r.replayed),
    replaying: total((r) => r.replaying),
    retried: total((r) => r.retried),
    lost: total((r) => r.lost),
    missedAfterRefetch: total((r) => r.missedAfterRefetch),
    duplicated: total((r) => r.duplicated + r.duplicatedBySeq),
    duplicatedByIndex: total((r) => r.duplicated),
    duplicatedBySeq: total((r) => r.duplicatedBySeq),
    gapsByPrev: total((r) => r.gapsByPrev),
    misrouted: total((r) => r.misrouted),
    unexpected: total((r) => r.unexpected),
    failures: mergeCounts(reports.map((r) => r.failures)),
  };
}

/** Every JetStream API request any client makes (`$JS.API.>`), by kind (`CONSUMER.CREATE`, `DIRECT.GET`, …). */
async function countJetStreamRequests(natsUrl: string) {
  const nc = await connect({ servers: natsUrl, name: "bench-jetstream-api-counter" });
  let byKind = new Map<string, number>();
  nc.subscribe("$JS.API.>", {
    callback: (_err, msg) => {
      const kind = msg.subject.split(".").slice(2, 4).join(".");
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    },
  });
  await nc.flush();
  return {
    reset() {
      byKind = new Map();
    },
    read() {
      return { total: sum([...byKind.values()]), byKind: Object.fromEntries(byKind) };
    },
    close: () => nc.close(),
  };
}

export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
