import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";
import * as v from "valibot";
import type { MetricsExposition } from "../gateway/index.js";

/**
 * `/metrics` with `--workers`: whichever worker a scrape reaches asks the primary, the primary asks
 * every worker serving for its registry and answers with them aggregated (prom-client's
 * `AggregatorRegistry.aggregate`: counters, histograms and gauges summed unless a metric's
 * `aggregator` says otherwise). prom-client's own `clusterMetrics()` asks every connected worker,
 * a starting one too (which has no listener yet and never answers), and fails the whole scrape after
 * 5 s when a worker dies in between; here a worker that exits is left out of the sum at once.
 */

/** How long the primary waits for every worker's registry. */
const GATHER_PATIENCE_MS = 3000;
/** How long a worker's /metrics waits for the primary's answer (longer than the gathering). */
const ASK_PATIENCE_MS = 5000;

/** A metric as `getMetricsAsJSON` gives it, after JSON over IPC (NaN and Infinity arrive as null). */
const MetricJson = v.object({
  name: v.string(),
  help: v.string(),
  type: v.string(),
  aggregator: v.picklist(["sum", "first", "min", "max", "average", "omit"]),
  values: v.array(
    v.object({
      value: v.pipe(
        v.nullable(v.number()),
        v.transform((value) => value ?? Number.NaN),
      ),
      labels: v.record(v.string(), v.union([v.string(), v.number()])),
      metricName: v.optional(v.string()),
    }),
  ),
});
type MetricJson = v.InferOutput<typeof MetricJson>;

const Id = v.pipe(v.number(), v.integer(), v.minValue(0));
const FromWorker = v.variant("herald", [
  v.object({ herald: v.literal("metrics-request"), id: Id }),
  v.object({ herald: v.literal("metrics-collected"), id: Id, metrics: v.array(MetricJson) }),
  v.object({ herald: v.literal("metrics-failed"), id: Id, reason: v.string() }),
]);
const FromPrimary = v.variant("herald", [
  v.object({ herald: v.literal("metrics-collect"), id: Id }),
  v.object({ herald: v.literal("metrics-answer"), id: Id, text: v.string() }),
  v.object({ herald: v.literal("metrics-refused"), id: Id, reason: v.string() }),
]);
type FromPrimary = v.InferInput<typeof FromPrimary>;
type FromWorker = v.InferInput<typeof FromWorker>;

interface Gathering {
  /** A worker's registry, or undefined when it has none to give (it exited). */
  settle(worker: Worker, metrics: MetricJson[] | undefined): void;
  refuse(reason: string): void;
}

/**
 * In the primary: answers workers' metrics requests with every serving worker's registry summed.
 * `forget` leaves an exited worker out of the gatherings waiting for it.
 */
export function serveClusterMetrics(): { forget(worker: Worker): void } {
  // Only workers that listen have their registry's responder installed (it is set up before listening).
  const serving = new Set<Worker>();
  const gatherings = new Map<number, Gathering>();
  let nextId = 0;
  cluster.on("listening", (worker) => serving.add(worker));

  const gather = (asker: Worker, askerId: number) => {
    const id = nextId++;
    const waiting = new Set([...serving, asker].filter((worker) => worker.isConnected()));
    const collected: MetricJson[][] = [];
    const reply = (message: FromPrimary) => {
      clearTimeout(patience);
      gatherings.delete(id);
      if (asker.isConnected()) asker.send(message);
    };
    const patience = setTimeout(
      () =>
        reply({
          herald: "metrics-refused",
          id: askerId,
          reason: `${waiting.size} worker(s) did not give their metrics within ${GATHER_PATIENCE_MS} ms`,
        }),
      GATHER_PATIENCE_MS,
    );
    gatherings.set(id, {
      settle(worker, metrics) {
        if (!waiting.delete(worker)) return;
        if (metrics) collected.push(metrics);
        if (waiting.size > 0) return;
        AggregatorRegistry.aggregate(collected)
          .metrics()
          .then(
            (text) => reply({ herald: "metrics-answer", id: askerId, text }),
            (error: unknown) => reply({ herald: "metrics-refused", id: askerId, reason: String(error) }),
          );
      },
      refuse: (reason) => reply({ herald: "metrics-refused", id: askerId, reason }),
    });
    for (const worker of waiting) worker.send({ herald: "metrics-collect", id } satisfies FromPrimary);
  };

  cluster.on("message", (worker, raw: unknown) => {
    const parsed = v.safeParse(FromWorker, raw);
    if (!parsed.success) return;
    const message = parsed.output;
    if (message.herald === "metrics-request") gather(worker, message.id);
    else if (message.herald === "metrics-collected")
      gatherings.get(message.id)?.settle(worker, message.metrics);
    else gatherings.get(message.id)?.refuse(message.reason);
  });

  return {
    forget(worker) {
      serving.delete(worker);
      for (const gathering of [...gatherings.values()]) gathering.settle(worker, undefined);
    },
  };
}

/**
 * In a worker: gives `registry` to the primary when it gathers, and returns what /metrics answers
 * with: every worker's figures, as the primary sums them (rejects when it cannot within 5 s).
 */
export function workerMetricsExposition(registry: Registry): MetricsExposition {
  const asking = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  let nextId = 0;
  // A worker whose primary is gone has no one to answer (and a send would throw).
  const send = (message: FromWorker | { herald: "metrics-collected"; id: number; metrics: object[] }) => {
    if (process.connected) process.send?.(message);
  };
  process.on("message", (raw: unknown) => {
    const parsed = v.safeParse(FromPrimary, raw);
    if (!parsed.success) return;
    const message = parsed.output;
    if (message.herald === "metrics-collect") {
      registry.getMetricsAsJSON().then(
        (metrics) => send({ herald: "metrics-collected", id: message.id, metrics }),
        (error: unknown) => send({ herald: "metrics-failed", id: message.id, reason: String(error) }),
      );
      return;
    }
    const request = asking.get(message.id);
    asking.delete(message.id);
    if (message.herald === "metrics-answer") request?.resolve(message.text);
    else request?.reject(new Error(message.reason));
  });
  return {
    contentType: registry.contentType,
    text: () =>
      new Promise<string>((resolve, reject) => {
        if (!process.connected) return reject(new Error("the primary is gone"));
        const id = nextId++;
        const patience = setTimeout(() => {
          asking.delete(id);
          reject(new Error(`the primary did not answer within ${ASK_PATIENCE_MS} ms`));
        }, ASK_PATIENCE_MS);
        asking.set(id, {
          resolve(text) {
            clearTimeout(patience);
            resolve(text);
          },
          reject(error) {
            clearTimeout(patience);
            reject(error);
          },
        });
        send({ herald: "metrics-request", id });
      }),
  };
}
