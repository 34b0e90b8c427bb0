import type { ChildProcess } from "node:child_process";
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../gateway/index.js";
import { serveClusterMetrics } from "./cluster-metrics.js";

export { workerMetricsExposition } from "./cluster-metrics.js";

/**
 * `--workers N`: N gateway processes behind one port (Node's cluster hands out connections in turn),
 * so one machine's cores all serve. Each worker is a whole gateway with its own NATS connection; the
 * primary only forks, restarts a worker that dies, passes SIGTERM/SIGINT on so each one drains, and
 * sums the workers' metrics for /metrics.
 */
export function runCluster(workers: number, logger: Logger): Promise<number> {
  let stopping = false;
  const live = new Set<Worker>();
  const metrics = serveClusterMetrics();
  const handoffs = new HandoffTracker();
  const fork = (index: number) => {
    const worker = cluster.fork({ HERALD_WORKER_INDEX: String(index) });
    live.add(worker);
    handoffs.watch(worker);
    // A message sent as the worker dies fails here; without a listener it would end the primary.
    worker.on("error", (error: Error) =>
      logger.warn({ worker: index, err: error }, "gateway worker unreachable"),
    );
    worker.on("exit", (code, signal) => {
      live.delete(worker);
      metrics.forget(worker);
      const orphaned = handoffs.release(worker);
      if (stopping) return;
      logger.error(
        { worker: index, code, signal, closedInHandoff: orphaned },
        "gateway worker died; starting another",
      );
      setTimeout(() => fork(index), 500).unref();
    });
  };
  for (let i = 0; i < workers; i++) fork(i);
  logger.info({ workers }, "gateway workers started");

  return new Promise((resolve) => {
    let failed = false;
    const onSignal = (signal: NodeJS.Signals) => {
      stopping = true;
      for (const worker of live) worker.process.kill(signal);
      if (live.size === 0) resolve(0);
    };
    cluster.on("exit", (_worker, code) => {
      if (code !== 0) failed = true;
      if (stopping && live.size === 0) resolve(failed ? 1 : 0);
    });
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

/** In a worker: its index, which makes its gateway id unique. */
export function workerIndex(): number | undefined {
  return cluster.isWorker ? Number(process.env.HERALD_WORKER_INDEX ?? cluster.worker?.id ?? 0) : undefined;
}

/** An accepted connection's handle as the primary holds it. */
interface ConnectionHandle {
  close(): void;
}

/**
 * Node's primary accepts each connection and sends it to a worker over IPC ({cmd: "NODE_CLUSTER",
 * act: "newconn"}), closing its own copy only when the worker acknowledges it. A worker that dies
 * before acknowledging never does, and Node neither closes nor hands on that copy (its callback
 * waits for an answer forever): the client stays connected to no one until its own timeout. Node
 * offers no hook for it, so this watches what the primary sends each worker and, when the worker
 * exits, closes the connections still in flight to it: their clients see the close and reconnect at
 * once. (Handing them to another worker would need Node's internal round-robin state.)
 */
class HandoffTracker {
  private readonly inFlight = new Map<ConnectionHandle, Worker>();

  watch(worker: Worker): void {
    const child: ChildProcess = worker.process;
    const send = child.send;
    const tracker = this;
    child.send = function (this: ChildProcess, message: unknown, handle?: unknown, ...rest: unknown[]) {
      if (isHandoff(message) && isConnectionHandle(handle)) tracker.track(handle, worker);
      return (send as (...args: unknown[]) => boolean).call(this, message, handle, ...rest);
    } as ChildProcess["send"];
  }

  /** Closes what was in flight to `worker`; resolves to how many connections that was. */
  release(worker: Worker): number {
    let closed = 0;
    for (const [handle, owner] of this.inFlight) {
      if (owner !== worker) continue;
      handle.close(); // through the wrapper below, which forgets it
      closed++;
    }
    return closed;
  }

  private track(handle: ConnectionHandle, worker: Worker): void {
    // A worker that refuses a connection (closing its server) has it sent on to another: same handle.
    const known = this.inFlight.has(handle);
    this.inFlight.set(handle, worker);
    if (known) return;
    const close = handle.close;
    const inFlight = this.inFlight;
    // The primary closes its copy once the worker has it: from then on, it is the worker's.
    handle.close = function (this: ConnectionHandle) {
      inFlight.delete(handle);
      handle.close = close;
      return close.call(this);
    };
  }
}

function isHandoff(message: unknown): boolean {
  if (typeof message !== "object" || message === null) return false;
  const { cmd, act } = message as { cmd?: unknown; act?: unknown };
  return cmd === "NODE_CLUSTER" && act === "newconn";
}

function isConnectionHandle(handle: unknown): handle is ConnectionHandle {
  return (
    typeof handle === "object" && handle !== null && typeof (handle as ConnectionHandle).close === "function"
  );
}
