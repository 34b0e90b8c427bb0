import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one gateway, in a registry of its own so several gateways fit one process. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({
    name: "herald_connections",
    help: "Open connections: WebSockets and HTTP streams",
    registers: [this.registry],
  });
  readonly authenticated = new Gauge({
    name: "herald_authenticated_connections",
    help: "Authenticated connections",
    registers: [this.registry],
  });
  readonly subjects = new Gauge({
    name: "herald_subscribed_subjects",
    help: "NATS subjects this gateway subscribes to",
    registers: [this.registry],
  });
  readonly authResults = new Counter({
    name: "herald_auth_results_total",
    help: "Auth outcomes by result: accepted, refused, unavailable, invalid_reply, overloaded",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly authLatency = new Histogram({
    name: "herald_auth_request_seconds",
    help: "Backend auth round trip",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly rpcResults = new Counter({
    name: "herald_rpc_results_total",
    help: "Client RPC calls by outcome: result, or the rpc_error code (a rise of TIMEOUT, NO_RESPONDERS or BACKEND_ERROR is the backend, not the gateway)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly rpcLatency = new Histogram({
    name: "herald_rpc_request_seconds",
    help: "Backend RPC round trip, answered or not",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly subscribeResults = new Counter({
    name: "herald_subscribe_results_total",
    help: "Answers to subscribe frames, by result: granted, refused, unavailable, invalid_reply",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly inFlightRefused = new Counter({
    name: "herald_in_flight_per_ip_refused_total",
    help: "RPC calls and subscribes refused because their client address had --max-in-flight-per-ip waiting for the backend, by kind (rpc, subscribe)",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: "herald_subscriptions",
    help: "Channels connections receive through subscribe frames now",
    registers: [this.registry],
  });
  /**
   * Messages and deliveries are counted in plain numbers on the hot path and added to their counters
   * when /metrics is read: a prom-client `inc` costs a label lookup and a map write every message.
   */
  private unreportedMessages = 0;
  private unreportedDeliveries = 0;
  readonly messages = new Counter({
    name: "herald_messages_total",
    help: "Messages received from NATS",
    registers: [this.registry],
    collect: () => {
      this.messages.inc(this.unreportedMessages);
      this.unreportedMessages = 0;
    },
  });
  readonly deliveries = new Counter({
    name: "herald_deliveries_total",
    help: "Message frames written to sockets",
    registers: [this.registry],
    collect: () => {
      this.deliveries.inc(this.unreportedDeliveries);
      this.unreportedDeliveries = 0;
    },
  });

  /** One message from NATS. */
  countMessage(): void {
    this.unreportedMessages++;
  }

  /** Message frames handed to sockets. */
  countDeliveries(frames: number): void {
    this.unreportedDeliveries += frames;
  }
  readonly closes = new Counter({
    name: "herald_closes_total",
    help: "Connections closed by the gateway, by close code",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });

  readonly refusedUpgrades = new Counter({
    name: "herald_refused_upgrades_total",
    help: "WebSocket upgrades and HTTP streams refused before any work, by reason: origin, max_connections, and per client address (each also logged) max_connections_per_ip, connect_rate_per_ip, pending_per_ip (sockets not upgraded yet), proxy_header (a PROXY header from a peer it is not read from, or none or a broken one from a trusted peer with --proxy-protocol)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly httpStreams = new Gauge({
    name: "herald_http_streams",
    help: "Open HTTP streams (connections without a WebSocket), by transport (http-stream, sse)",
    labelNames: ["transport"] as const,
    registers: [this.registry],
  });
  readonly upstreamPosts = new Counter({
    name: "herald_upstream_posts_total",
    help: "POSTs carrying client frames to HTTP streams, by result: delivered (here), relayed (to the gateway holding the stream), unknown_stream, invalid, too_large, relay_failed",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly sseTickets = new Counter({
    name: "herald_sse_tickets_total",
    help: "SSE tickets by result: issued, redeemed, unknown (taken, expired or never issued), refused (16 MiB of auth frames already waiting for their GET)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly revocationsForgotten = new Counter({
    name: "herald_revocations_forgotten_total",
    help: "control.disconnect / control.unsubscribe messages forgotten before their window ended (more than --remembered-revocations arrived)",
    registers: [this.registry],
  });
  readonly internalErrors = new Counter({
    name: "herald_internal_errors_total",
    help: "Exceptions caught in a connection's handling (that connection closed with 1011)",
    registers: [this.registry],
  });
  readonly recoveries = new Counter({
    name: "herald_recoveries_total",
    help: "Reconnects that asked to recover, by answer (recovered or refetch)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly recoveryChecks = new Counter({
    name: "herald_recovery_channel_checks_total",
    help: "Channels checked for missed messages on recovery, by how: position (nothing stored since), live (the live subscription saw nothing), read (one read found nothing), reads (a few missed, read one by one), consumer (more, read with a consumer)",
    labelNames: ["path"] as const,
    registers: [this.registry],
  });
  readonly replayed = new Counter({
    name: "herald_replayed_messages_total",
    help: "Stored messages replayed to recovering clients",
    registers: [this.registry],
  });
  readonly recoveryBytes = new Gauge({
    name: "herald_recovery_buffered_bytes",
    help: "History bytes held in memory for recovering clients now",
    registers: [this.registry],
  });
  readonly recoveryBytesPeak = new Gauge({
    name: "herald_recovery_buffered_bytes_peak",
    help: "Most history bytes held in memory for recovering clients at once since start",
    // with --workers, the busiest worker's: each has a budget of its own
    aggregator: "max",
    registers: [this.registry],
  });

  constructor(withProcessMetrics: boolean) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
