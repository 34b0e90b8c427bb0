import { type ConnectResult, ConnectResult as ConnectResultSchema } from "../lib/commands.js";
import type { IpcClient } from "../lib/ipc.js";
import { CpuMeter, round3 } from "../lib/proc-stats.js";
import type { ManagedProcess } from "../lib/processes.js";
import type { RunningSystem } from "../systems/system.js";
import type { HarnessOptions, ScenarioName, ScenarioParams } from "./definitions.js";

// What every scenario works with: the running system, its load generators, and shared helpers.

/** One load generator process and the users it holds. */
export interface Loadgen {
  readonly process: ManagedProcess;
  readonly ipc: IpcClient;
  readonly firstUser: number;
  readonly count: number;
}

/** One scenario running against one system. */
export interface RunContext {
  readonly scenario: ScenarioName;
  readonly system: RunningSystem;
  readonly params: ScenarioParams;
  readonly options: HarnessOptions;
  readonly loadgens: readonly Loadgen[];
  /** Slow: the load generator holding the clients that stop reading (not counted with `loadgens`). */
  readonly stalledLoadgen: Loadgen | undefined;
  readonly publisher: { process: ManagedProcess; ipc: IpcClient } | undefined;
  readonly helpers: readonly { process: ManagedProcess }[];
}

export interface Measured {
  figures: Record<string, number>;
  details: Record<string, unknown>;
  window?: { fromNs: number; toNs: number };
  /** The server profile to summarise, when not the system's own (`<profileDir>/<name>`). */
  profileName?: string;
}

/** Opens every client on every load generator; `concurrency` 0 opens them all at once. */
export async function connectAll(
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

export function pidsOf(processes: readonly ManagedProcess[]): Map<string, number> {
  return new Map(processes.map((p) => [p.name, p.pid]));
}

/**
 * CPU of the server processes and of the load generators, and what else ran on each side's cores
 * (other processes, and interrupt / softirq time no process is charged for): noise when above ~0.05.
 */
export function meterAll(
  context: RunContext,
  /** Server processes started by the scenario itself (reconnect's second gateway). */
  moreServerProcesses: readonly ManagedProcess[] = [],
): {
  read(): {
    server: Record<string, number>;
    serverKernel: Record<string, number>;
    serverTotal: number;
    loadgen: number;
    otherOnServerCores: number;
    otherOnClientCores: number;
    wall: number;
  };
} {
  const { options } = context;
  const server = new CpuMeter(
    pidsOf([...context.system.serverProcesses, ...moreServerProcesses]),
    options.serverCores,
  );
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
        serverKernel: s.systemPerProcess,
        serverTotal: round3(serverTotal),
        loadgen: sum(Object.values(l.perProcess)),
        otherOnServerCores: Math.max(0, s.coresBusy - serverTotal),
        otherOnClientCores: Math.max(0, c.coresBusy - sum(Object.values(c.perProcess))),
        wall: s.wallSeconds,
      };
    },
  };
}

export function failureText(result: ConnectResult): string {
  if (result.failed === 0) return "";
  const reasons = Object.entries(result.failures)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([reason, n]) => `${reason} x${n}`)
    .join(", ");
  return `, ${result.failed} failed (${reasons})`;
}

export function mergeCounts(records: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, n] of Object.entries(r)) out[k] = (out[k] ?? 0) + n;
  return out;
}

export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
