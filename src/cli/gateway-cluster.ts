import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../gateway/index.js";

/**
 * `--workers N`: N gateway processes behind one port (Node's cluster hands out connections in turn),
 * so one machine's cores all serve. Each worker is a whole gateway with its own NATS connection; the
 * primary only forks, restarts a worker that dies, and passes SIGTERM/SIGINT on so each one drains.
 */
export function runCluster(workers: number, logger: Logger): Promise<number> {
  let stopping = false;
  const live = new Set<Worker>();
  const fork = (index: number) => {
    const worker = cluster.fork({ HERALD_WORKER_INDEX: String(index) });
    live.add(worker);
    worker.on("exit", (code, signal) => {
      live.delete(worker);
      if (stopping) return;
      logger.error({ worker: index, code, signal }, "gateway worker died; starting another");
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
