import type { IncomingMessage, ServerResponse } from "node:http";

export interface Readiness {
  /** Why the gateway cannot serve right now, or undefined when it can. */
  notReadyReason(): string | undefined;
}

/** What /metrics answers with: a gateway's own registry, or with `--workers` every worker's summed. */
export interface MetricsExposition {
  readonly contentType: string;
  text(): Promise<string>;
}

/** /healthz (the process is up), /readyz (NATS connected, not draining), /metrics (Prometheus). */
export function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  readiness: Readiness,
  metrics: MetricsExposition | undefined,
): void {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/healthz") return json(res, 200, { status: "ok" });
  if (path === "/readyz") {
    const reason = readiness.notReadyReason();
    return reason ? json(res, 503, { status: "unavailable", reason }) : json(res, 200, { status: "ready" });
  }
  if (path === "/metrics" && metrics) {
    metrics.text().then(
      (text) => {
        res.writeHead(200, { "content-type": metrics.contentType });
        res.end(text);
      },
      // e.g. a worker that did not give its figures in time: no answer beats a partial sum
      () => json(res, 503, { error: "metrics unavailable" }),
    );
    return;
  }
  json(res, 404, { error: "not found" });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
