import * as hdr from "hdr-histogram-js";
import { CHANNELS_PER_CLIENT, CYCLE_MIN_MS } from "../clients/herald-churning.js";
import {
  ChurnReport,
  type ConnectResult,
  ConnectResult as ConnectResultSchema,
  Empty,
} from "../lib/commands.js";
import { CpuMeter, round3 } from "../lib/proc-stats.js";
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
 * churn: N authenticated clients each subscribe to a channel, wait for `subscribed`, unsubscribe,
 * wait for `unsubscribed`, and start over with their next channel (one of four of their own, so
 * every subscribe is a new NATS subscription on the gateway, with a position marker through the
 * stream when history is on, and every unsubscribe removes it), at most one cycle per 125 ms each.
 * Every subscribe is authorized by the backend over `<prefix>.subscribe`. What a server CPU-second
 * buys in cycles, how long a subscribe takes, and whether anything is left behind.
 */
export async function measureChurn(context: RunContext): Promise<Measured> {
  const { params, options, system } = context;
  const herald = system.herald;
  if (!herald) throw new Error("churn needs Herald");
  const connected = await connectChurning(context);
  options.log(`  ${system.name}: ${connected.ready}/${params.clients} ready${failureText(connected)}`);
  if (connected.ready === 0) throw new Error(`no client became ready${failureText(connected)}`);
  await sleep(500);
  const subjectsBefore = await gaugeOf(herald.gateway.metricsUrl, "herald_subscribed_subjects");

  await everyLoadgen(context, { type: "churnStart" });
  await sleep(params.warmupS * 1000);
  await everyLoadgen(context, { type: "churnRecord" });
  const meter = meterAll(context);
  const backend = new CpuMeter(pidsOf(system.helperProcesses), options.clientCores);
  const fromNs = Number(process.hrtime.bigint());
  await sleep(params.durationS * 1000);
  const cpu = meter.read();
  const backendCpuS = sum(Object.values(backend.read().perProcess));
  const reports = await Promise.all(
    context.loadgens.map((l) => l.ipc.request({ type: "churnReport" }, ChurnReport, 30_000)),
  );
  const toNs = Number(process.hrtime.bigint());
  // Stopped, and every subscription let go of: the gateway must be back to what it held before.
  await everyLoadgen(context, { type: "churnStop", timeoutMs: 20_000 }, 40_000);
  const subjectsLeft = await settledGauge(
    herald.gateway.metricsUrl,
    "herald_subscribed_subjects",
    subjectsBefore,
  );
  const subscriptionsLeft = await settledGauge(herald.gateway.metricsUrl, "herald_subscriptions", 0);

  const cycles = sum(reports.map((r) => r.cycles));
  const refused = mergeCounts(reports.map((r) => r.refused));
  const closed = mergeCounts(reports.map((r) => r.closed));
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const r of reports) histogram.add(hdr.decodeFromCompressedBase64(r.histogram));
  const ms = (percentile: number) => round2(histogram.getValueAtPercentile(percentile) / 1000);
  const wall = Math.max(1e-3, cpu.wall);
  options.log(`  ${system.name}: ${cycles} subscribe/unsubscribe cycles in ${wall.toFixed(1)} s`);
  return {
    figures: {
      clients: params.clients,
      ready: connected.ready,
      cycles,
      cyclesPerS: Math.round(cycles / wall),
      subscribeP50Ms: ms(50),
      subscribeP99Ms: ms(99),
      subscribeMaxMs: round2(histogram.maxValue / 1000),
      refused: sum(Object.values(refused)),
      closed: sum(Object.values(closed)),
      serverCpuS: cpu.serverTotal,
      cyclesPerServerCpuS: Math.round(cycles / Math.max(1e-3, cpu.serverTotal)),
      backendCpuS: round3(backendCpuS),
      subjectsLeft: subjectsLeft - subjectsBefore,
      subscriptionsLeft,
      loadgenCpuPct: Math.round((100 * cpu.loadgen) / wall),
      otherOnServerCores: round2(cpu.otherOnServerCores / wall),
      otherOnClientCores: round2(cpu.otherOnClientCores / wall),
    },
    details: {
      refused,
      closed,
      failures: connected.failures,
      cycleMinMs: CYCLE_MIN_MS,
      channelsPerClient: CHANNELS_PER_CLIENT,
      serverCpuByProcess: cpu.server,
      serverKernelCpuByProcess: cpu.serverKernel,
      measuredWallS: round3(wall),
    },
    window: { fromNs, toNs },
  };
}

async function connectChurning(context: RunContext): Promise<ConnectResult> {
  const results = await Promise.all(
    context.loadgens.map((loadgen) =>
      loadgen.ipc.request(
        {
          type: "connectChurning",
          url: context.system.clientUrl,
          firstUser: loadgen.firstUser,
          count: loadgen.count,
          localAddresses: context.options.localAddresses,
          concurrency: context.options.setupConcurrency,
          timeoutMs: 120_000,
        },
        ConnectResultSchema,
        150_000,
      ),
    ),
  );
  return {
    ready: sum(results.map((r) => r.ready)),
    failed: sum(results.map((r) => r.failed)),
    failures: mergeCounts(results.map((r) => r.failures)),
    startedNs: Math.min(...results.map((r) => r.startedNs)),
    lastReadyNs: Math.max(...results.map((r) => r.lastReadyNs)),
  };
}

async function everyLoadgen(
  context: RunContext,
  command: { type: "churnStart" } | { type: "churnRecord" } | { type: "churnStop"; timeoutMs: number },
  timeoutMs = 30_000,
): Promise<void> {
  await Promise.all(context.loadgens.map((l) => l.ipc.request(command, Empty, timeoutMs)));
}

/** A gauge from the gateway's /metrics. */
async function gaugeOf(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} on ${metricsUrl}`);
  return Number(line.split(" ")[1]);
}

/** The gauge once it reads `expected`, or what it reads after 10 s. */
async function settledGauge(metricsUrl: string, name: string, expected: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await gaugeOf(metricsUrl, name);
    if (value === expected || Date.now() > deadline) return value;
    await sleep(100);
  }
}
