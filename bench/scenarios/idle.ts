import { treeRssBytes } from "../lib/proc-stats.js";
import { sleep } from "../lib/wait.js";
import { connectAll, failureText, type Measured, meterAll, type RunContext, sum } from "./context.js";

/** idle: as many idle authenticated connections as fit; memory per connection and idle CPU. */
export async function measureIdle(context: RunContext): Promise<Measured> {
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
