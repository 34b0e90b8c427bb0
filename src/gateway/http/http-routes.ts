import type { IncomingMessage, ServerResponse } from "node:http";
import type { GatewayMetrics } from "../metrics.js";

export interface Readiness {
  /** Why the gateway cannot serve right now, or undefined when it can. */
  notReadyReason(): string | undefined;
}

/** /healthz (the process is up), /readyz (NATS connected, not draining), /metrics (Prometheus). */
export function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  readiness: Readiness,
  metrics: GatewayMetrics | undefined,
): void {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/healthz") return json(res, 200, { status: "ok" });
  if (path === "/readyz") {
    const reason = readiness.notReadyReason();
    return reason ? json(res, 503, { status: "unavailable", reason }) : json(res, 200, { status: "ready" });
  }
  if (path === "/metrics" && metrics) {
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(text);
      },
      () => json(res, 500, { error: "metrics unavailable" }),
    );
    return;
  }
  json(res, 404, { error: "not found" });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
