import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { PayloadBudget } from "./page-payloads.js";

/** Metrics of the notification inbox, in the gateway's own registry. */
export class InboxMetrics {
  readonly users: Gauge;
  readonly notifications: Counter;
  readonly requests: Counter<"kind" | "result">;
  readonly requestSeconds: Histogram<"kind">;
  readonly reads: Counter<"kind">;
  readonly stateWrites: Counter<"result">;
  readonly recoveries: Counter<"result">;
  readonly unseenEvents: Counter<"result">;

  /** `payloads`: the budget the page cache gauge reads when scraped. */
  constructor(registry: Registry, payloads?: PayloadBudget) {
    const registers = [registry];
    this.users = new Gauge({
      name: "herald_inbox_users",
      help: "Users whose inbox this gateway holds (one or more of their connections are here)",
      registers,
    });
    this.notifications = new Counter({
      name: "herald_inbox_notifications_total",
      help: "Notifications received live for the users held here",
      registers,
    });
    this.requests = new Counter({
      name: "herald_inbox_requests_total",
      help: "Inbox requests by kind (list, mark, backend_unread, backend_mark) and result (ok, or the error code)",
      labelNames: ["kind", "result"] as const,
      registers,
    });
    this.requestSeconds = new Histogram({
      name: "herald_inbox_request_seconds",
      help: "Time to answer an inbox request, by kind",
      labelNames: ["kind"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.reads = new Counter({
      name: "herald_inbox_reads_total",
      help: "JetStream reads the inbox made, by kind: state, walk (counting unread), notification (pages, ownership checks, recovery), last, index (a consumer of headers)",
      labelNames: ["kind"] as const,
      registers,
    });
    this.stateWrites = new Counter({
      name: "herald_inbox_state_writes_total",
      help: "State records written, by result: stored, or conflict (another write came first; read again and retried)",
      labelNames: ["result"] as const,
      registers,
    });
    this.recoveries = new Counter({
      name: "herald_inbox_recoveries_total",
      help: "Connects that asked to recover notifications, by answer (recovered, or refetch)",
      labelNames: ["result"] as const,
      registers,
    });
    this.unseenEvents = new Counter({
      name: "herald_inbox_unseen_total",
      help: "Notifications checked when --inbox-unseen-after passed, by result: event (stored), seen (none needed), failed (tried again)",
      labelNames: ["result"] as const,
      registers,
    });
    new Gauge({
      name: "herald_inbox_page_cache_bytes",
      help: "Bytes of notification payloads kept for users' newest pages (at most --inbox-page-cache MiB)",
      registers,
      collect() {
        this.set(payloads?.used ?? 0);
      },
    });
  }
}
