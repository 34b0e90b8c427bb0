import * as hdr from "hdr-histogram-js";
import { Empty, LoadgenStats, PublishResult, ReceivedCount } from "../lib/commands.js";
import { round3 } from "../lib/proc-stats.js";
import { sleep } from "../lib/wait.js";
import {
  connectAll,
  failureText,
  type Measured,
  mergeCounts,
  meterAll,
  type RunContext,
  round2,
  sum,
} from "./context.js";

/** What one publishing run sends: the scenario's own target and rate unless given (`scale` runs both). */
export interface RunShape {
  readonly target?: "unicast" | "broadcast";
  readonly rate?: number;
}

/** unicast and broadcast: publish at a fixed rate, count deliveries, measure latency and server CPU. */
export async function publishRun(context: RunContext, run: number, durationS: number, shape: RunShape = {}) {
  const publisher = context.publisher;
  if (!publisher) throw new Error("no publisher");
  await Promise.all(context.loadgens.map((l) => l.ipc.request({ type: "record", run }, Empty, 10_000)));
  return publisher.ipc.request(
    {
      type: "run",
      run,
      target: shape.target ?? (context.scenario === "unicast" ? "unicast" : "broadcast"),
      users: context.params.clients,
      rate: shape.rate ?? context.params.rate,
      durationMs: Math.round(durationS * 1000),
      payloadBytes: context.params.payloadBytes,
    },
    PublishResult,
    durationS * 1000 + 60_000,
  );
}

/** Polls until every expected delivery arrived, or nothing arrived for 3 s (then the rest is loss). */
export async function drain(context: RunContext, expected: number): Promise<number> {
  let received = 0;
  let lastChange = Date.now();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const counts = await Promise.all(
      context.loadgens.map((l) => l.ipc.request({ type: "count" }, ReceivedCount, 10_000)),
    );
    const now = sum(counts.map((c) => c.received));
    if (now !== received) {
      received = now;
      lastChange = Date.now();
    }
    if (received >= expected || Date.now() - lastChange > 3000) break;
    await sleep(100);
  }
  return received;
}

/** The latency histograms of every load generator as one (microseconds). */
export function mergeHistograms(stats: readonly LoadgenStats[]): hdr.Histogram {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const s of stats) histogram.add(hdr.decodeFromCompressedBase64(s.histogram));
  return histogram;
}

export async function measureDelivery(context: RunContext): Promise<Measured> {
  const { params, options } = context;
  const setup = await connectAll(context, options.setupConcurrency, 300_000);
  options.log(
    `  ${context.system.name}: ${setup.ready}/${params.clients} clients ready${failureText(setup)}`,
  );
  if (setup.ready === 0) throw new Error(`no client became ready${failureText(setup)}`);
  const fanout = context.scenario === "broadcast" ? setup.ready : 1;

  if (params.warmupS > 0) {
    const warm = await publishRun(context, 1, params.warmupS);
    await drain(context, warm.sent * fanout);
  }
  const { published, expected, cpu, endNs, stats, histogram, delivered } = await measuredRun(
    context,
    2,
    params.durationS,
    fanout,
  );
  const lastReceiptNs = Math.max(...stats.map((s) => s.lastReceiptNs));
  const activeS = Math.max(1e-3, (Math.max(lastReceiptNs, published.endedNs) - published.startedNs) / 1e9);
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    figures: {
      ready: setup.ready,
      sent: published.sent,
      expected,
      delivered,
      lossPct: Math.round((10_000 * Math.max(0, expected - delivered)) / Math.max(1, expected)) / 100,
      deliveriesPerS: Math.round(delivered / activeS),
      p50Ms: ms(histogram.getValueAtPercentile(50)),
      p90Ms: ms(histogram.getValueAtPercentile(90)),
      p99Ms: ms(histogram.getValueAtPercentile(99)),
      maxMs: ms(histogram.maxValue),
      serverCpuS: cpu.serverTotal,
      deliveriesPerServerCpuS: Math.round(delivered / Math.max(1e-3, cpu.serverTotal)),
      loadgenCpuPct: Math.round((100 * cpu.loadgen) / cpu.wall),
      otherOnServerCores: round2(cpu.otherOnServerCores / cpu.wall),
      otherOnClientCores: round2(cpu.otherOnClientCores / cpu.wall),
    },
    details: {
      setupFailures: setup.failures,
      serverCpuByProcess: cpu.server,
      serverKernelCpuByProcess: cpu.serverKernel,
      measuredWallS: round3(cpu.wall),
      publishS: round3((published.endedNs - published.startedNs) / 1e9),
      stray: sum(stats.map((s) => s.stray)),
      closedAfterReady: mergeCounts(stats.map((s) => s.closedAfterReady)),
      p999Ms: ms(histogram.getValueAtPercentile(99.9)),
    },
    window: { fromNs: published.startedNs, toNs: endNs },
  };
}

/** One measured publishing run: server CPU over it, every load generator's counts and latencies. */
export async function measuredRun(
  context: RunContext,
  run: number,
  durationS: number,
  fanout: number,
  shape: RunShape = {},
) {
  const meter = meterAll(context);
  const published = await publishRun(context, run, durationS, shape);
  const expected = published.sent * fanout;
  await drain(context, expected);
  const cpu = meter.read();
  const endNs = Number(process.hrtime.bigint());
  const stats = await Promise.all(
    context.loadgens.map((l) => l.ipc.request({ type: "stats" }, LoadgenStats, 30_000)),
  );
  const histogram = mergeHistograms(stats);
  const delivered = sum(stats.map((s) => s.received));
  return { published, expected, cpu, endNs, stats, histogram, delivered };
}
