import { ConnectResult, ResumeResult } from "../lib/commands.js";
import { round3 } from "../lib/proc-stats.js";
import { type ServerSample, ServerSampler } from "../lib/server-sampler.js";
import { sleep } from "../lib/wait.js";
import {
  connectAll,
  failureText,
  type Loadgen,
  type Measured,
  mergeCounts,
  type RunContext,
  round2,
  sum,
} from "./context.js";
import { drain, measuredRun, publishRun } from "./delivery.js";

/**
 * slow: N normal clients on the shared channel receive a broadcast in three runs of the same load:
 * alone, then with S stalled clients that authenticated and stopped reading, then alone again (the
 * two runs without bracket the one with, so drift over time is not mistaken for an effect). Do the
 * stalled ones delay the others, does the server cut them off (Herald: close 4429 past
 * --max-buffered-bytes), and does the server's memory stay bounded meanwhile? The server side is
 * sampled every 500 ms throughout. A stalled client learns of its cut-off only when it reads again:
 * one of them resumes as soon as the server reports a cut-off (within the server's close
 * handshake), the others at the end of the run with them.
 */
export async function measureSlow(context: RunContext): Promise<Measured> {
  const { params, options, system } = context;
  const stalledLoadgen = context.stalledLoadgen;
  if (!stalledLoadgen) throw new Error("no load generator for the stalled clients");
  const setup = await connectAll(context, options.setupConcurrency, 300_000);
  options.log(`  ${system.name}: ${setup.ready}/${params.clients} clients ready${failureText(setup)}`);
  if (setup.ready === 0) throw new Error(`no client became ready${failureText(setup)}`);
  if (params.warmupS > 0) {
    const warm = await publishRun(context, 1, params.warmupS);
    await drain(context, warm.sent * setup.ready);
  }

  const mainServer = system.nodeServer ?? system.serverProcesses[0];
  if (!mainServer) throw new Error("no server process");
  const sampler = new ServerSampler(system.serverProcesses, system.slowConsumerCutoffs);
  sampler.start();
  try {
    const baseline = await deliveryRun(context, 2, setup.ready);
    await sleep(500);

    const stalledSetup = await stalledLoadgen.ipc.request(
      {
        type: "connect",
        system: system.name,
        url: system.clientUrl,
        firstUser: stalledLoadgen.firstUser,
        count: stalledLoadgen.count,
        localAddresses: options.localAddresses,
        concurrency: options.setupConcurrency,
        timeoutMs: 60_000,
        stall: true,
      },
      ConnectResult,
      90_000,
    );
    options.log(
      `  ${system.name}: ${stalledSetup.ready}/${params.stalled} stalled clients ready, not reading${failureText(stalledSetup)}`,
    );
    if (stalledSetup.ready === 0)
      throw new Error(`no stalled client became ready${failureText(stalledSetup)}`);
    const cutoffsBefore = system.slowConsumerCutoffs ? await system.slowConsumerCutoffs() : undefined;
    const watch = { stopped: false };
    const early =
      cutoffsBefore !== undefined && stalledSetup.ready >= 2
        ? resumeOneAtFirstCutoff(
            stalledLoadgen,
            sampler,
            cutoffsBefore,
            watch,
            params.durationS * 1000 + 60_000,
          )
        : Promise.resolve(undefined);
    const stalled = await deliveryRun(context, 3, setup.ready).finally(() => {
      watch.stopped = true;
    });
    const earlyResume = await early;
    const end = sampler.sample();

    // The other stalled clients read again: what reaches them now (the backlog, then a close frame?).
    const resumed = await stalledLoadgen.ipc.request(
      { type: "resume", timeoutMs: 10_000 },
      ResumeResult,
      30_000,
    );
    const cutoffsAfter = system.slowConsumerCutoffs ? await system.slowConsumerCutoffs() : undefined;
    const cutoffsAfterNs = Number(process.hrtime.bigint());
    const afterResume = sampler.sample();
    await sleep(500);
    const after = await deliveryRun(context, 4, setup.ready);
    const final = sampler.sample();
    sampler.stop();

    const samples = sampler.samples;
    const during = (from: number, to: number) => samples.filter((s) => s.atNs >= from && s.atNs <= to);
    const baseSamples = during(baseline.startedNs, baseline.endNs);
    const stalledSamples = during(stalled.startedNs, end.atNs);
    const afterSamples = during(after.startedNs, final.atNs);
    const mib = (bytes: number) => Math.round((10 * bytes) / 2 ** 20) / 10;
    const mainRss = (s: ServerSample) => s.rssBytes[mainServer.name] ?? 0;
    const allRss = (s: ServerSample) => sum(Object.values(s.rssBytes));
    const max = (list: readonly ServerSample[], read: (s: ServerSample) => number) =>
      list.length === 0 ? Number.NaN : Math.max(...list.map(read));

    // The server's count as read from the start of the run with stalled clients until after the
    // late resume (a server may cut a client off after publishing ended: nats-server's write deadline).
    const timeline = [
      ...during(stalled.startedNs, afterResume.atNs).flatMap((s) =>
        s.cutoffs === undefined ? [] : [{ atNs: s.atNs, count: s.cutoffs }],
      ),
      ...(cutoffsAfter === undefined ? [] : [{ atNs: cutoffsAfterNs, count: cutoffsAfter }]),
    ];
    const cutoffTime = (count: number | undefined) => {
      if (cutoffsBefore === undefined || count === undefined) return Number.NaN;
      const hit = timeline.find((t) => t.count - cutoffsBefore >= count);
      return hit ? round2((hit.atNs - stalled.startedNs) / 1e9) : Number.NaN;
    };
    const cutoffs =
      cutoffsBefore === undefined || cutoffsAfter === undefined ? Number.NaN : cutoffsAfter - cutoffsBefore;
    const duringRun = timeline.filter((t) => t.atNs <= end.atNs).at(-1);
    const cutoffsWhilePublishing =
      cutoffsBefore === undefined ? Number.NaN : (duringRun?.count ?? cutoffsBefore) - cutoffsBefore;
    const close4429 = resumed.closeCodes["4429"] ?? 0;
    const read = resumed.notificationsRead;
    options.log(
      `  ${system.name}: clients cut off by the server: ${Number.isNaN(cutoffs) ? "no such count" : cutoffs}` +
        (earlyResume
          ? `; resumed at once after the cut-off, a client saw: ${outcomesText(earlyResume.result)}`
          : "") +
        `; resumed at the end, clients saw: ${outcomesText(resumed)}`,
    );
    const startedAt = samples[0]?.atNs ?? baseline.startedNs;
    return {
      figures: {
        ready: setup.ready,
        stalled: stalledSetup.ready,
        sent: stalled.sent,
        expected: stalled.expected,
        baseDelivered: baseline.delivered,
        baseLossPct: baseline.lossPct,
        baseP50Ms: baseline.p50Ms,
        baseP99Ms: baseline.p99Ms,
        baseMaxMs: baseline.maxMs,
        delivered: stalled.delivered,
        lossPct: stalled.lossPct,
        p50Ms: stalled.p50Ms,
        p99Ms: stalled.p99Ms,
        maxMs: stalled.maxMs,
        afterDelivered: after.delivered,
        afterLossPct: after.lossPct,
        afterP50Ms: after.p50Ms,
        afterP99Ms: after.p99Ms,
        afterMaxMs: after.maxMs,
        p99Change: round2(stalled.p99Ms / Math.max(1e-3, (baseline.p99Ms + after.p99Ms) / 2)),
        normalClosed: sum(Object.values(after.closedAfterReady)),
        cutoffs,
        cutoffsWhilePublishing,
        firstCutoffS: cutoffTime(1),
        lastCutoffS: cutoffTime(Number.isNaN(cutoffs) ? undefined : Math.max(1, cutoffs)),
        earlyResumed: earlyResume?.result.resumed ?? 0,
        earlyResumeS: earlyResume ? round2((earlyResume.atNs - stalled.startedNs) / 1e9) : Number.NaN,
        earlyClose4429: earlyResume?.result.closeCodes["4429"] ?? Number.NaN,
        earlyReadAfterResume: earlyResume?.result.notificationsRead[0] ?? Number.NaN,
        stalledResumedAtEnd: resumed.resumed,
        stalledClose4429: close4429,
        stalledClosedOtherwise: resumed.resumed - resumed.stillOpen - close4429,
        stalledStillOpen: resumed.stillOpen,
        stalledReadAfterResume: read.length === 0 ? 0 : Math.round(sum(read) / read.length),
        rssStartMiB: mib(mainRss(samples[0] ?? end)),
        rssMaxBaseMiB: mib(max(baseSamples, mainRss)),
        rssMaxMiB: mib(max(stalledSamples, mainRss)),
        rssMaxAfterMiB: mib(max(afterSamples, mainRss)),
        rssEndMiB: mib(mainRss(final)),
        allRssMaxMiB: mib(max(stalledSamples, allRss)),
        tcpKernelMaxBaseMiB: mib(max(baseSamples, (s) => s.tcpKernelBytes)),
        tcpKernelMaxMiB: mib(max(stalledSamples, (s) => s.tcpKernelBytes)),
        tcpKernelMaxAfterMiB: mib(max(afterSamples, (s) => s.tcpKernelBytes)),
        baseServerCpuS: baseline.serverCpuS,
        serverCpuS: stalled.serverCpuS,
        afterServerCpuS: after.serverCpuS,
        baseLoadgenCpuPct: baseline.loadgenCpuPct,
        loadgenCpuPct: stalled.loadgenCpuPct,
        afterLoadgenCpuPct: after.loadgenCpuPct,
        otherOnServerCores: Math.max(...[baseline, stalled, after].map((r) => r.otherOnServerCores)),
        otherOnClientCores: Math.max(...[baseline, stalled, after].map((r) => r.otherOnClientCores)),
      },
      details: {
        setupFailures: setup.failures,
        stalledSetupFailures: stalledSetup.failures,
        rssProcess: mainServer.name,
        baseline: baseline.details,
        withStalled: stalled.details,
        after: after.details,
        resumedAtOnce: earlyResume?.result,
        resumedAtEnd: resumed,
        rssAtEndOfRunWithStalledMiB: mib(mainRss(end)),
        rssAfterResumeMiB: mib(mainRss(afterResume)),
        cutoffsBefore,
        cutoffsAfterResume: cutoffsAfter,
        phasesS: {
          baselineFrom: round3((baseline.startedNs - startedAt) / 1e9),
          baselineTo: round3((baseline.endNs - startedAt) / 1e9),
          stalledFrom: round3((stalled.startedNs - startedAt) / 1e9),
          stalledTo: round3((end.atNs - startedAt) / 1e9),
          afterFrom: round3((after.startedNs - startedAt) / 1e9),
          afterTo: round3((final.atNs - startedAt) / 1e9),
        },
        // Every 500 ms: seconds since the first sample, server RSS, all server processes, kernel TCP
        // buffers (MiB) and the server's slow-consumer cut-off count (null: not read at that tick).
        samples: {
          columns: ["s", "rssMiB", "allServerRssMiB", "tcpKernelMiB", "cutoffs"],
          rows: samples.map((s) => [
            round2((s.atNs - startedAt) / 1e9),
            mib(mainRss(s)),
            mib(allRss(s)),
            mib(s.tcpKernelBytes),
            s.cutoffs ?? null,
          ]),
        },
      },
      window: { fromNs: baseline.startedNs, toNs: final.atNs },
    };
  } finally {
    sampler.stop();
  }
}

function outcomesText(result: ResumeResult): string {
  return Object.entries(result.outcomes)
    .map(([outcome, n]) => `${outcome} x${n}`)
    .join("; ");
}

/**
 * Resumes one stalled client as soon as the server's cut-off count rises (read by the sampler, so
 * no extra requests to the server): a client reading again within the server's close handshake
 * should get the close frame with the server's code. Bounded by `watch.stopped` and `timeoutMs`.
 */
async function resumeOneAtFirstCutoff(
  stalledLoadgen: Loadgen,
  sampler: ServerSampler,
  before: number,
  watch: { stopped: boolean },
  timeoutMs: number,
): Promise<{ atNs: number; result: ResumeResult } | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (!watch.stopped && Date.now() < deadline) {
    if ((sampler.latestCutoffs ?? before) > before) {
      const atNs = Number(process.hrtime.bigint());
      const result = await stalledLoadgen.ipc.request(
        { type: "resume", count: 1, timeoutMs: 10_000 },
        ResumeResult,
        30_000,
      );
      return { atNs, result };
    }
    await sleep(50);
  }
  return undefined;
}

/** One measured broadcast run to the normal clients: deliveries, loss, latency, CPU. */
async function deliveryRun(context: RunContext, run: number, fanout: number) {
  const { published, expected, cpu, endNs, stats, histogram, delivered } = await measuredRun(
    context,
    run,
    context.params.durationS,
    fanout,
  );
  const ms = (us: number) => Math.round(us) / 1000;
  const closedAfterReady = mergeCounts(stats.map((s) => s.closedAfterReady));
  return {
    startedNs: published.startedNs,
    endNs,
    sent: published.sent,
    expected,
    delivered,
    lossPct: Math.round((10_000 * Math.max(0, expected - delivered)) / Math.max(1, expected)) / 100,
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    maxMs: ms(histogram.maxValue),
    serverCpuS: cpu.serverTotal,
    loadgenCpuPct: Math.round((100 * cpu.loadgen) / cpu.wall),
    otherOnServerCores: round2(cpu.otherOnServerCores / cpu.wall),
    otherOnClientCores: round2(cpu.otherOnClientCores / cpu.wall),
    closedAfterReady,
    details: {
      p90Ms: ms(histogram.getValueAtPercentile(90)),
      p999Ms: ms(histogram.getValueAtPercentile(99.9)),
      publishS: round3((published.endedNs - published.startedNs) / 1e9),
      measuredWallS: round3(cpu.wall),
      serverCpuByProcess: cpu.server,
      serverKernelCpuByProcess: cpu.serverKernel,
      stray: sum(stats.map((s) => s.stray)),
      normalClientsClosed: closedAfterReady,
    },
  };
}
