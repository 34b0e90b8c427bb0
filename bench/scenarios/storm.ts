import { listenOverflows, round3 } from "../lib/proc-stats.js";
import { sleep } from "../lib/wait.js";
import { connectAll, failureText, type Measured, meterAll, type RunContext, round2 } from "./context.js";

/** storm: every client connects and authenticates at once. */
export async function measureStorm(context: RunContext): Promise<Measured> {
  const { params } = context;
  await sleep(500);
  const meter = meterAll(context);
  const overflowsBefore = listenOverflows();
  const storm = await connectAll(context, 0, 120_000);
  // With events on, each connection's events are stored after `ready`: that CPU counts too.
  await context.system.backgroundDone?.(storm.ready);
  const backgroundDoneS = (Number(process.hrtime.bigint()) - storm.startedNs) / 1e9;
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
    details: {
      failures: storm.failures,
      serverCpuByProcess: cpu.server,
      serverKernelCpuByProcess: cpu.serverKernel,
      measuredWallS: round3(cpu.wall),
      ...(context.system.backgroundDone ? { backgroundDoneS: round3(backgroundDoneS) } : {}),
    },
    window: { fromNs: storm.startedNs, toNs: endNs },
  };
}
