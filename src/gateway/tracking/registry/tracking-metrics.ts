import { Counter, type Registry } from "prom-client";

/** Metrics of connection events, the registry and presence, in the gateway's own registry. */
export class TrackingMetrics {
  readonly eventsPublished: Counter<"kind">;
  readonly eventsFailed: Counter<"kind">;
  readonly eventRetries: Counter;
  readonly eventsDropped: Counter<"kind">;
  readonly presenceHeldBack: Counter;
  readonly reapedGateways: Counter;
  readonly reapedConnections: Counter;
  readonly lapses: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.eventsPublished = new Counter({
      name: "herald_events_published_total",
      help: "Connection events stored in the events stream, by kind (those of dead gateways included)",
      labelNames: ["kind"] as const,
      registers,
    });
    this.eventsFailed = new Counter({
      name: "herald_events_failed_total",
      help: "Connection events given up on, by kind (each is also logged at error level: alert on it)",
      labelNames: ["kind"] as const,
      registers,
    });
    this.eventRetries = new Counter({
      name: "herald_event_retries_total",
      help: "Event publish attempts that got no acknowledgement and were sent again",
      registers,
    });
    this.eventsDropped = new Counter({
      name: "herald_events_dropped_total",
      help: "Subscribed and unsubscribed events not stored because their connection was over --events-subscribe-limit, by kind (each connection's dropped event counts them too; a steady rise from real clients means raise it)",
      labelNames: ["kind"] as const,
      registers,
    });
    this.presenceHeldBack = new Counter({
      name: "herald_presence_held_back_total",
      help: "Joins and leaves not sent on their own because their user changed less than --presence-interval before",
      registers,
    });
    this.reapedGateways = new Counter({
      name: "herald_reaped_gateways_total",
      help: "Dead gateway instances whose connections this gateway took over",
      registers,
    });
    this.reapedConnections = new Counter({
      name: "herald_reaped_connections_total",
      help: "Connections of dead gateways this gateway published disconnected for",
      registers,
    });
    this.lapses = new Counter({
      name: "herald_liveness_lapses_total",
      help: "Times this gateway's heartbeat lapsed and it started again as a new instance",
      registers,
    });
  }
}
