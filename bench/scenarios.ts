import * as hdr from "hdr-histogram-js";
import {
  type ConnectResult,
  ConnectResult as ConnectResultSchema,
  Empty,
  LoadgenStats,
  PublishResult,
  ReceivedCount,
  type SystemName,
} from "./lib/commands.js";
import { findProfile, type ProfileSummary, summarizeProfile } from "./lib/cpu-profile.js";
import type { IpcClient } from "./lib/ipc.js";
import { CpuMeter, listenOverflows, round3, treeRssBytes } from "./lib/proc-stats.js";
import { failOnUnexpectedExit, type ManagedProcess } from "./lib/processes.js";
import { sleep } from "./lib/wait.js";
import { launchHelper, type RunningSystem, startSystem } from "./systems/system.js";

export const SCENARIO_NAMES = ["unicast", "broadcast", "storm", "idle"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface ScenarioParams {
  readonly clients: number;
  /** Notifications per second (unicast, broadcast). */
  readonly rate: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly payloadBytes: number;
  /** Idle: seconds to let memory settle after connecting, then seconds of idle CPU measured. */
  readonly settleS: number;
  readonly holdS: number;
}

export interface HarnessOptions {
  readonly serverCore: string;
  readonly clientCore: string;
  readonly serverCores: readonly number[];
  readonly clientCores: readonly number[];
  readonly localAddresses: readonly string[];
  readonly setupConcurrency: number;
  /** Clients per load generator process (each process has its own open-files limit). */
  readonly clientsPerLoadgen: number;
  readonly profileDir: string | undefined;
  /** Also profile the (first) load generator, to see whether it is the bottleneck. */
  readonly profileLoadgen: boolean;
  readonly verbose: boolean;
  readonly gatewayArgs: readonly string[];
  readonly log: (line: string) => void;
}

/** Higher- or lower-is-better, for reading the ratios. */
export interface FigureDef {
  readonly key: string;
  readonly label: string;
  readonly better?: "higher" | "lower";
}

export const FIGURES: Record<ScenarioName, readonly FigureDef[]> = {
  unicast: deliveryFigures(),
  broadcast: deliveryFigures(),
  storm: [
    { key: "clients", label: "clients" },
    { key: "ready", label: "ready", better: "higher" },
    { key: "failed", label: "failed", better: "lower" },
    { key: "timeToAllReadyS", label: "time to all ready (s)", better: "lower" },
    { key: "connectsPerS", label: "connects/s", better: "higher" },
    { key: "serverCpuS", label: "server CPU (s)", better: "lower" },
    { key: "connectsPerServerCpuS", label: "connections per server CPU-s", better: "higher" },
    { key: "listenOverflows", label: "SYNs dropped, listen queue full", better: "lower" },
    { key: "loadgenCpuPct", label: "load generator CPU (% of a core)" },
    { key: "otherOnServerCores", label: "other load on the server core (cores)" },
    { key: "otherOnClientCores", label: "other load on the client core (cores)" },
  ],
  idle: [
    { key: "ready", label: "idle connections", better: "higher" },
    { key: "serverRssMiB", label: "server RSS growth (MiB)", better: "lower" },
    { key: "kibPerConnection", label: "memory per connection (KiB, all server processes)", better: "lower" },
    { key: "nodeKibPerConnection", label: "  of which the Node server (KiB)", better: "lower" },
    { key: "idleCpuMsPerS", label: "idle server CPU (ms per s, heartbeats included)", better: "lower" },
  ],
};

function deliveryFigures(): FigureDef[] {
  return [
    { key: "ready", label: "clients ready", better: "higher" },
    { key: "sent", label: "notifications sent" },
    { key: "expected", label: "deliveries expected" },
    { key: "delivered", label: "delivered", better: "higher" },
    { key: "lossPct", label: "loss (%)", better: "lower" },
    { key: "deliveriesPerS", label: "deliveries/s", better: "higher" },
    { key: "p50Ms", label: "latency p50 (ms)", better: "lower" },
    { key: "p90Ms", label: "latency p90 (ms)", better: "lower" },
    { key: "p99Ms", label: "latency p99 (ms)", better: "lower" },
    { key: "maxMs", label: "latency max (ms)", better: "lower" },
    { key: "serverCpuS", label: "server CPU (s)", better: "lower" },
    { key: "deliveriesPerServerCpuS", label: "deliveries per server CPU-s", better: "higher" },
    { key: "loadgenCpuPct", label: "load generator CPU (% of a core)" },
    { key: "otherOnServerCores", label: "other load on the server core (cores)" },
    { key: "otherOnClientCores", label: "other load on the client core (cores)" },
  ];
}

export type SystemResult =
  | {
      readonly system: SystemName;
      readonly ok: true;
      readonly figures: Record<string, number>;
      readonly details: Record<string, unknown>;
      readonly profile?: ProfileSummary;
      readonly loadgenProfile?: ProfileSummary;
    }
  | { readonly system: SystemName; readonly ok: false; readonly error: string };

interface Loadgen {
  readonly process: ManagedProcess;
  readonly ipc: IpcClient;
  readonly firstUser: number;
  readonly count: number;
}

/** Runs one scenario against one system: starts everything, measures, stops everything. */
export async function runScenario(
  scenario: ScenarioName,
  systemName: SystemName,
  params: ScenarioParams,
  options: HarnessOptions,
): Promise<SystemResult> {
  const profileDir = options.profileDir ? `${options.profileDir}/${scenario}` : undefined;
  const system = await startSystem(systemName, {
    serverCore: options.serverCore,
    clientCore: options.clientCore,
    profileDir,
    verbose: options.verbose,
    gatewayArgs: options.gatewayArgs,
  });
  const helpers: { process: ManagedProcess; ipc: IpcClient }[] = [];
  const loadgens: Loadgen[] = [];
  let window: { fromNs: number; toNs: number } | undefined;
  let result: { figures: Record<string, number>; details: Record<string, unknown> } | undefined;
  try {
    const shards = Math.max(1, Math.ceil(params.clients / options.clientsPerLoadgen));
    const perShard = Math.ceil(params.clients / shards);
    for (let i = 0; i < shards; i++) {
      const helper = launchHelper(`loadgen-${i + 1}`, "loadgen.ts", [], options.clientCore, {
        verbose: options.verbose,
        nodeArgs: [
          "--max-old-space-size=4096",
          ...(profileDir && options.profileLoadgen && i === 0
            ? ["--cpu-prof", "--cpu-prof-dir", `${profileDir}/${systemName}-loadgen`]
            : []),
        ],
      });
      helpers.push(helper);
      const firstUser = i * perShard;
      loadgens.push({ ...helper, firstUser, count: Math.min(perShard, params.clients - firstUser) });
    }
    await Promise.all(loadgens.map((l) => l.ipc.ready(30_000)));
    let publisher: { process: ManagedProcess; ipc: IpcClient } | undefined;
    if (scenario === "unicast" || scenario === "broadcast") {
      publisher = launchHelper(
        "publisher",
        "publisher.ts",
        [system.publisher.kind, system.publisher.url],
        options.clientCore,
        {
          verbose: options.verbose,
        },
      );
      helpers.push(publisher);
      await publisher.ipc.ready(30_000);
    }
    const context: RunContext = { scenario, system, params, options, loadgens, publisher, helpers };
    const body = async () => {
      switch (scenario) {
        case "unicast":
        case "broadcast":
          return measureDelivery(context);
        case "storm":
          return measureStorm(context);
        case "idle":
          return measureIdle(context);
      }
    };
    const measured = await Promise.race([body(), failOnUnexpectedExit(system.serverProcesses)]);
    result = measured;
    window = measured.window;
  } finally {
    for (const loadgen of loadgens) {
      await loadgen.ipc.request({ type: "close" }, Empty, 30_000).catch(() => undefined);
    }
    for (const helper of helpers.reverse()) await helper.process.stop(5000);
    await system.stop();
  }
  if (!result) throw new Error("no result");
  let profile: ProfileSummary | undefined;
  let loadgenProfile: ProfileSummary | undefined;
  if (profileDir && system.nodeServer) {
    const file = await findProfile(`${profileDir}/${systemName}`);
    if (file) profile = await summarizeProfile(file, window);
  }
  if (profileDir && options.profileLoadgen) {
    const file = await findProfile(`${profileDir}/${systemName}-loadgen`);
    if (file) loadgenProfile = await summarizeProfile(file, window);
  }
  return {
    system: systemName,
    ok: true,
    figures: result.figures,
    details: result.details,
    ...(profile ? { profile } : {}),
    ...(loadgenProfile ? { loadgenProfile } : {}),
  };
}

interface RunContext {
  readonly scenario: ScenarioName;
  readonly system: RunningSystem;
  readonly params: ScenarioParams;
  readonly options: HarnessOptions;
  readonly loadgens: readonly Loadgen[];
  readonly publisher: { process: ManagedProcess; ipc: IpcClient } | undefined;
  readonly helpers: readonly { process: ManagedProcess }[];
}

interface Measured {
  figures: Record<string, number>;
  details: Record<string, unknown>;
  window?: { fromNs: number; toNs: number };
}

/** Opens every client on every load generator; `concurrency` 0 opens them all at once. */
async function connectAll(
  context: RunContext,
  concurrency: number,
  timeoutMs: number,
): Promise<ConnectResult> {
  const results = await Promise.all(
    context.loadgens.map((loadgen) =>
      loadgen.ipc.request(
        {
          type: "connect",
          system: context.system.name,
          url: context.system.clientUrl,
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
  );
  const failures: Record<string, number> = {};
  for (const r of results)
    for (const [reason, n] of Object.entries(r.failures)) failures[reason] = (failures[reason] ?? 0) + n;
  return {
    ready: sum(results.map((r) => r.ready)),
    failed: sum(results.map((r) => r.failed)),
    failures,
    startedNs: Math.min(...results.map((r) => r.startedNs)),
    lastReadyNs: Math.max(...results.map((r) => r.lastReadyNs)),
  };
}

function pidsOf(processes: readonly ManagedProcess[]): Map<string, number> {
  return new Map(processes.map((p) => [p.name, p.pid]));
}

/**
 * CPU of the server processes and of the load generators, and what else ran on each side's cores
 * (other processes, and interrupt / softirq time no process is charged for): noise when above ~0.05.
 */
function meterAll(context: RunContext): {
  read(): {
    server: Record<string, number>;
    serverTotal: number;
    loadgen: number;
    otherOnServerCores: number;
    otherOnClientCores: number;
    wall: number;
  };
} {
  const { options } = context;
  const server = new CpuMeter(pidsOf(context.system.serverProcesses), options.serverCores);
  const loadgens = new CpuMeter(pidsOf(context.loadgens.map((l) => l.process)), options.clientCores);
  // Everything on the client side: load generators, publisher, auth backend, and the runner itself.
  const clientSide = new CpuMeter(
    new Map([
      ...pidsOf([...context.helpers.map((h) => h.process), ...context.system.helperProcesses]),
      ["runner", process.pid],
    ]),
    options.clientCores,
  );
  return {
    read() {
      const s = server.read();
      const l = loadgens.read();
      const c = clientSide.read();
      const serverTotal = sum(Object.values(s.perProcess));
      return {
        server: s.perProcess,
        serverTotal: round3(serverTotal),
        loadgen: sum(Object.values(l.perProcess)),
        otherOnServerCores: Math.max(0, s.coresBusy - serverTotal),
        otherOnClientCores: Math.max(0, c.coresBusy - sum(Object.values(c.perProcess))),
        wall: s.wallSeconds,
      };
    },
  };
}

async function publishRun(context: RunContext, run: number, durationS: number) {
  const publisher = context.publisher;
  if (!publisher) throw new Error("no publisher");
  await Promise.all(context.loadgens.map((l) => l.ipc.request({ type: "record", run }, Empty, 10_000)));
  return publisher.ipc.request(
    {
      type: "run",
      run,
      target: context.scenario === "broadcast" ? "broadcast" : "unicast",
      users: context.params.clients,
      rate: context.params.rate,
      durationMs: Math.round(durationS * 1000),
      payloadBytes: context.params.payloadBytes,
    },
    PublishResult,
    durationS * 1000 + 60_000,
  );
}

/** Polls until every expected delivery arrived, or nothing arrived for 3 s (then the rest is loss). */
async function drain(context: RunContext, expected: number): Promise<number> {
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

async function measureDelivery(context: RunContext): Promise<Measured> {
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
  const meter = meterAll(context);
  const published = await publishRun(context, 2, params.durationS);
  const expected = published.sent * fanout;
  await drain(context, expected);
  const cpu = meter.read();
  const endNs = Number(process.hrtime.bigint());
  const stats = await Promise.all(
    context.loadgens.map((l) => l.ipc.request({ type: "stats" }, LoadgenStats, 30_000)),
  );
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const s of stats) histogram.add(hdr.decodeFromCompressedBase64(s.histogram));
  const delivered = sum(stats.map((s) => s.received));
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
      measuredWallS: round3(cpu.wall),
      publishS: round3((published.endedNs - published.startedNs) / 1e9),
      stray: sum(stats.map((s) => s.stray)),
      closedAfterReady: mergeCounts(stats.map((s) => s.closedAfterReady)),
      p999Ms: ms(histogram.getValueAtPercentile(99.9)),
    },
    window: { fromNs: published.startedNs, toNs: endNs },
  };
}

async function measureStorm(context: RunContext): Promise<Measured> {
  const { params } = context;
  await sleep(500);
  const meter = meterAll(context);
  const overflowsBefore = listenOverflows();
  const storm = await connectAll(context, 0, 120_000);
  const cpu = meter.read();
  const overflows = listenOverflows() - overflowsBefore;
  const endNs = Number(process.hrtime.bigint());
  const allReadyS = Math.max(1e-3, (storm.lastReadyNs - storm.startedNs) / 1e9);
  context.options.log(
    `  ${context.system.name}: ${storm.ready}/${params.clients} ready in ${allReadyS.toFixed(2)} s${failureText(storm)}`,
  );
  return {
    figures: {
      clients: params.clients,
      ready: storm.ready,
      failed: storm.failed,
      timeToAllReadyS: round3(allReadyS),
      connectsPerS: Math.round(storm.ready / allReadyS),
      serverCpuS: cpu.serverTotal,
      connectsPerServerCpuS: Math.round(storm.ready / Math.max(1e-3, cpu.serverTotal)),
      listenOverflows: overflows,
      loadgenCpuPct: Math.round((100 * cpu.loadgen) / cpu.wall),
      otherOnServerCores: round2(cpu.otherOnServerCores / cpu.wall),
      otherOnClientCores: round2(cpu.otherOnClientCores / cpu.wall),
    },
    details: { failures: storm.failures, serverCpuByProcess: cpu.server, measuredWallS: round3(cpu.wall) },
    window: { fromNs: storm.startedNs, toNs: endNs },
  };
}

async function measureIdle(context: RunContext): Promise<Measured> {
  const { params, system } = context;
  await sleep(1000);
  const before = new Map(system.serverProcesses.map((p) => [p.name, treeRssBytes(p.pid)]));
  const setup = await connectAll(context, context.options.setupConcurrency, 600_000);
  context.options.log(
    `  ${system.name}: ${setup.ready}/${params.clients} idle connections${failureText(setup)}`,
  );
  if (setup.ready === 0) throw new Error(`no client became ready${failureText(setup)}`);
  await sleep(params.settleS * 1000);
  const growth: Record<string, number> = {};
  for (const p of system.serverProcesses) growth[p.name] = treeRssBytes(p.pid) - (before.get(p.name) ?? 0);
  const fromNs = Number(process.hrtime.bigint());
  const meter = meterAll(context);
  await sleep(params.holdS * 1000);
  const cpu = meter.read();
  const total = sum(Object.values(growth));
  const node = system.nodeServer ? (growth[system.nodeServer.name] ?? 0) : Number.NaN;
  const kib = (bytes: number) => Math.round((10 * bytes) / 1024 / setup.ready) / 10;
  return {
    figures: {
      ready: setup.ready,
      serverRssMiB: Math.round((10 * total) / 2 ** 20) / 10,
      kibPerConnection: kib(total),
      nodeKibPerConnection: kib(node),
      idleCpuMsPerS: Math.round((1000 * cpu.serverTotal) / cpu.wall),
    },
    details: {
      setupFailures: setup.failures,
      rssGrowthBytesByProcess: growth,
      idleCpuByProcess: cpu.server,
    },
    window: { fromNs, toNs: Number(process.hrtime.bigint()) },
  };
}

function failureText(result: ConnectResult): string {
  if (result.failed === 0) return "";
  const reasons = Object.entries(result.failures)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([reason, n]) => `${reason} x${n}`)
    .join(", ");
  return `, ${result.failed} failed (${reasons})`;
}

function mergeCounts(records: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, n] of Object.entries(r)) out[k] = (out[k] ?? 0) + n;
  return out;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
