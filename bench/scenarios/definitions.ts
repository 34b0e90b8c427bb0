import type { SystemName } from "../lib/commands.js";
import type { ProfileSummary } from "../lib/cpu-profile.js";

/** The scenarios, their parameters, the figures each reports, and what a run of one returns. */
export const SCENARIO_NAMES = [
  "unicast",
  "broadcast",
  "storm",
  "idle",
  "reconnect",
  "churn",
  "slow",
  "inbox",
  "scale",
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
/**
 * What `npm run bench` runs without --scenario: slow is a robustness check, inbox a feature's cost
 * and scale a machine's worth of connections (minutes), asked for by name.
 */
export const DEFAULT_SCENARIOS: readonly ScenarioName[] = [
  "unicast",
  "broadcast",
  "storm",
  "idle",
  "reconnect",
  "churn",
];
/**
 * Scenarios only some systems can run (`reconnect` needs Herald's history, `churn` Herald's
 * subscribe frames); the others are skipped.
 */
export const SCENARIO_SYSTEMS: Partial<Record<ScenarioName, readonly SystemName[]>> = {
  reconnect: ["herald"],
  churn: ["herald", "herald-nohistory"],
  // herald: the same storm without the inbox, the base its cost per connect is measured against.
  inbox: ["herald", "herald-inbox"],
  // The gateway as it ships, with enough workers for the connections.
  scale: ["herald"],
};
/**
 * Systems that only some scenarios measure: events and presence cost connects and memory; the
 * HTTP fallbacks cost a connection, its memory and its deliveries.
 */
export const SYSTEM_SCENARIOS: Partial<Record<SystemName, readonly ScenarioName[]>> = {
  "herald-presence": ["storm", "idle"],
  // What a connection costs over each HTTP fallback: connects, memory, and a delivery.
  "herald-http-stream": ["unicast", "storm", "idle"],
  "herald-sse": ["unicast", "storm", "idle"],
  "herald-inbox": ["storm", "idle", "inbox"],
};

export interface ScenarioParams {
  readonly clients: number;
  /** Slow: clients that stop reading right after ready (on top of `clients`). */
  readonly stalled: number;
  /** Notifications per second (unicast, broadcast). */
  readonly rate: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly payloadBytes: number;
  /** Idle: seconds to let memory settle after connecting, then seconds of idle CPU measured. */
  readonly settleS: number;
  readonly holdS: number;
  /** Scale: `herald gateway --workers` (1 elsewhere, unless --gateway-args says otherwise). */
  readonly workers: number;
}

export interface HarnessOptions {
  readonly serverCore: string;
  readonly clientCore: string;
  readonly serverCores: readonly number[];
  readonly clientCores: readonly number[];
  readonly localAddresses: readonly string[];
  readonly setupConcurrency: number;
  /** Clients per load generator process (each process has its own open-files limit). */
  readonly clientsPerLoadgen: number;
  readonly profileDir: string | undefined;
  /** Also profile the (first) load generator, to see whether it is the bottleneck. */
  readonly profileLoadgen: boolean;
  readonly verbose: boolean;
  readonly gatewayArgs: readonly string[];
  readonly log: (line: string) => void;
}

/** Higher- or lower-is-better, for reading the ratios. */
export interface FigureDef {
  readonly key: string;
  readonly label: string;
  readonly better?: "higher" | "lower";
}

export const FIGURES: Record<ScenarioName, readonly FigureDef[]> = {
  unicast: deliveryFigures(),
  broadcast: deliveryFigures(),
  storm: [
    { key: "clients", label: "clients" },
    { key: "ready", label: "ready", better: "higher" },
    { key: "failed", label: "failed", better: "lower" },
    { key: "timeToAllReadyS", label: "time to all ready (s)", better: "lower" },
    { key: "connectsPerS", label: "connects/s", better: "higher" },
    { key: "serverCpuS", label: "server CPU (s)", better: "lower" },
    { key: "connectsPerServerCpuS", label: "connections per server CPU-s", better: "higher" },
    { key: "listenOverflows", label: "SYNs dropped, listen queue full", better: "lower" },
    { key: "loadgenCpuPct", label: "load generator CPU (% of a core)" },
    { key: "otherOnServerCores", label: "other load on the server core (cores)" },
    { key: "otherOnClientCores", label: "other load on the client core (cores)" },
  ],
  idle: [
    { key: "ready", label: "idle connections", better: "higher" },
    { key: "serverRssMiB", label: "server RSS growth (MiB)", better: "lower" },
    { key: "kibPerConnection", label: "memory per connection (KiB, all server processes)", better: "lower" },
    { key: "nodeKibPerConnection", label: "  of which the Node server (KiB)", better: "lower" },
    { key: "idleCpuMsPerS", label: "idle server CPU (ms per s, heartbeats included)", better: "lower" },
  ],
  reconnect: [
    { key: "clients", label: "clients on gateway A, then recovering on gateway B" },
    { key: "ready", label: "ready again on B", better: "higher" },
    { key: "notRecovered", label: "ready with recovered: false", better: "lower" },
    { key: "failed", label: "clients failed", better: "lower" },
    { key: "readyP50S", label: "ready on B, p50 (s from the kill)", better: "lower" },
    { key: "readyP99S", label: "ready on B, p99 (s)", better: "lower" },
    { key: "recoveredP50S", label: "ready and recovered, p50 (s from the kill)", better: "lower" },
    { key: "recoveredP99S", label: "ready and recovered, p99 (s)", better: "lower" },
    { key: "recoveredMaxS", label: "ready and recovered, max (s)", better: "lower" },
    { key: "published", label: "acknowledged publishes (numbered per user)" },
    {
      key: "publishFailed",
      label: "publishes not acknowledged in time (the backend would retry)",
      better: "lower",
    },
    { key: "replayed", label: "messages replayed" },
    { key: "replayingClients", label: "clients with something to replay" },
    { key: "lost", label: "lost", better: "lower" },
    { key: "duplicated", label: "duplicated", better: "lower" },
    { key: "gapsByPrev", label: "gaps seen through prev", better: "lower" },
    { key: "jsApiPerReconnect", label: "JetStream API requests per reconnect", better: "lower" },
    {
      key: "stormConnectsPerServerCpuS",
      label: "storm onto A: connections per server CPU-s",
      better: "higher",
    },
    {
      key: "recoveriesPerServerCpuS",
      label: "recovering reconnects per server CPU-s (B + nats)",
      better: "higher",
    },
    {
      key: "cpuPerRecoveryVsStorm",
      label: "server CPU per recovering reconnect / per storm connection",
      better: "lower",
    },
    { key: "recoveryCpuS", label: "server CPU kill..all recovered (s, B + nats)" },
    { key: "backgroundCpuS", label: "  of which steady publishing (s, measured before the kill)" },
    { key: "listenOverflows", label: "SYNs dropped, listen queue full", better: "lower" },
    { key: "loadgenCpuPct", label: "load generator CPU (% of a core)" },
    { key: "otherOnServerCores", label: "other load on the server core (cores)" },
    { key: "otherOnClientCores", label: "other load on the client core (cores)" },
  ],
  churn: [
    { key: "clients", label: "clients" },
    { key: "ready", label: "ready", better: "higher" },
    { key: "cycles", label: "subscribe + unsubscribe cycles" },
    { key: "cyclesPerS", label: "cycles/s", better: "higher" },
    { key: "subscribeP50Ms", label: "subscribe to subscribed, p50 (ms)", better: "lower" },
    { key: "subscribeP99Ms", label: "subscribe to subscribed, p99 (ms)", better: "lower" },
    { key: "subscribeMaxMs", label: "subscribe to subscribed, max (ms)", better: "lower" },
    { key: "refused", label: "subscribe_errors", better: "lower" },
    { key: "closed", label: "clients closed", better: "lower" },
    { key: "serverCpuS", label: "server CPU (s)", better: "lower" },
    { key: "cyclesPerServerCpuS", label: "subscribe churn per server CPU-s (cycles)", better: "higher" },
    { key: "backendCpuS", label: "backend CPU answering subscribes (s)" },
    { key: "subjectsLeft", label: "NATS subjects left after the churn", better: "lower" },
    { key: "subscriptionsLeft", label: "subscriptions left after the churn", better: "lower" },
    { key: "loadgenCpuPct", label: "load generator CPU (% of a core)" },
    { key: "otherOnServerCores", label: "other load on the server core (cores)" },
    { key: "otherOnClientCores", label: "other load on the client core (cores)" },
  ],
  inbox: [
    { key: "clients", label: "clients (users u0…, one connection each)" },
    { key: "ready", label: "ready", better: "higher" },
    { key: "serverCpuS", label: "storm: server CPU (s)", better: "lower" },
    { key: "connectsPerServerCpuS", label: "storm: connections per server CPU-s", better: "higher" },
    { key: "serverCpuMsPerConnect", label: "storm: server CPU per connection (ms)", better: "lower" },
    { key: "listP50Ms", label: "inbox_list of 50 items, p50 (ms)", better: "lower" },
    { key: "listP99Ms", label: "inbox_list of 50 items, p99 (ms)", better: "lower" },
    {
      key: "listFirstP99Ms",
      label: "  a user's first inbox_list on the gateway (reads its ids), p99 (ms)",
      better: "lower",
    },
    {
      key: "markP50Ms",
      label: "mark read → the user's connection on another gateway, p50 (ms)",
      better: "lower",
    },
    {
      key: "markP99Ms",
      label: "mark read → the user's connection on another gateway, p99 (ms)",
      better: "lower",
    },
    { key: "notified", label: "notifications stored (to the connected users)" },
    { key: "notifyPerS", label: "notifications stored per s", better: "higher" },
    { key: "notifyFailed", label: "notifications not stored", better: "lower" },
    { key: "countsChecked", label: "users' unread counts checked afterwards" },
    { key: "countsWrong", label: "of them not what was sent", better: "lower" },
    { key: "notifyServerCpuS", label: "server CPU while notifying (s)", better: "lower" },
    { key: "loadgenCpuPct", label: "storm: load generator CPU (% of a core)" },
    { key: "otherOnServerCores", label: "storm: other load on the server core (cores)" },
    { key: "otherOnClientCores", label: "storm: other load on the client core (cores)" },
  ],
  scale: [
    { key: "clients", label: "clients (users u0…, one connection each)" },
    { key: "workers", label: "gateway workers (herald gateway --workers, one port)" },
    { key: "loadgens", label: "load generator processes" },
    { key: "ready", label: "connected and ready", better: "higher" },
    { key: "failed", label: "failed to connect", better: "lower" },
    { key: "connectInFlight", label: "connecting at a time (at most)" },
    { key: "timeToAllReadyS", label: "time to connect all (s)", better: "lower" },
    { key: "connectsPerS", label: "connects/s", better: "higher" },
    { key: "connectServerCpuS", label: "connect: server CPU (s)", better: "lower" },
    { key: "connectsPerServerCpuS", label: "connect: connections per server CPU-s", better: "higher" },
    { key: "listenOverflows", label: "connect: SYNs dropped, listen queue full (machine)", better: "lower" },
    { key: "connectLoadgenCpuPct", label: "connect: load generators CPU (% of a core)" },
    { key: "kibPerConnection", label: "memory per connection (KiB, all server processes)", better: "lower" },
    {
      key: "gatewayKibPerConnection",
      label: "  gateway processes, primary + workers (KiB)",
      better: "lower",
    },
    { key: "natsKibPerConnection", label: "  nats-server (KiB)", better: "lower" },
    { key: "primaryRssGrowthMiB", label: "  of the gateway's: the primary's growth (MiB)" },
    { key: "serverRssMiB", label: "server RSS, all processes, at the end (MiB)" },
    {
      key: "idleCpuMsPerS",
      label: "idle server CPU (ms per s, over one heartbeat interval)",
      better: "lower",
    },
    { key: "broadcastSent", label: "broadcast on channel.all: notifications (spaced)" },
    { key: "broadcastSpacingS", label: "broadcast: seconds between notifications" },
    { key: "broadcastExpected", label: "broadcast: deliveries expected" },
    { key: "broadcastLost", label: "broadcast: lost", better: "lower" },
    { key: "broadcastP50Ms", label: "broadcast: latency p50 (ms)", better: "lower" },
    { key: "broadcastP99Ms", label: "broadcast: latency p99 (ms)", better: "lower" },
    { key: "broadcastMaxMs", label: "broadcast: latency max (ms)", better: "lower" },
    {
      key: "broadcastServerCpuPerNotificationS",
      label: "broadcast: server CPU per notification to all (s, idle rate left out)",
      better: "lower",
    },
    {
      key: "broadcastLoadgenCpuPerNotificationS",
      label: "broadcast: load generators CPU per notification (s)",
    },
    { key: "unicastSent", label: "unicast to random users: notifications" },
    { key: "unicastLost", label: "unicast: lost", better: "lower" },
    { key: "unicastP50Ms", label: "unicast: latency p50 (ms)", better: "lower" },
    { key: "unicastP99Ms", label: "unicast: latency p99 (ms)", better: "lower" },
    { key: "unicastMaxMs", label: "unicast: latency max (ms)", better: "lower" },
    {
      key: "unicastDeliveriesPerServerCpuS",
      label: "unicast: deliveries per server CPU-s (the idle connections' cost included)",
      better: "higher",
    },
    { key: "killedWorkerSockets", label: "worker SIGKILLed: its sockets (from /proc)" },
    {
      key: "killedWorkerClients",
      label: "  clients dropped, reconnecting with recover (its own, and any other closed meanwhile)",
    },
    { key: "readyAgain", label: "  ready again on the same port", better: "higher" },
    { key: "notBack", label: "  not ready again", better: "lower" },
    { key: "notRecovered", label: "  ready with recovered: false", better: "lower" },
    {
      key: "retried",
      label: "  tried again after a failed attempt (SDK backoff; connect timeout 15 s)",
      better: "lower",
    },
    { key: "readyP50S", label: "  ready again, p50 (s from the kill)", better: "lower" },
    { key: "readyP99S", label: "  ready again, p99 (s)", better: "lower" },
    { key: "readyMaxS", label: "  ready again, max (s)", better: "lower" },
    { key: "recoveredP99S", label: "  ready and recovered (replay in), p99 (s)", better: "lower" },
    { key: "recoveredMaxS", label: "  ready and recovered, max (s)", better: "lower" },
    { key: "workerRestartS", label: "  the primary's new worker started after (s)" },
    { key: "recoveryServerCpuS", label: "  server CPU, kill..all ready again (s)" },
    { key: "recoveryListenOverflows", label: "  SYNs dropped, listen queue full (machine)", better: "lower" },
    { key: "published", label: "acknowledged publishes meanwhile (numbered per user)" },
    {
      key: "publishFailed",
      label: "publishes not acknowledged in time (the backend would retry)",
      better: "lower",
    },
    { key: "replayed", label: "messages replayed" },
    { key: "lost", label: "lost (never received, no refetch asked)", better: "lower" },
    {
      key: "missedAfterRefetch",
      label: "missed by clients told recovered: false (refetch)",
      better: "lower",
    },
    { key: "duplicated", label: "duplicated", better: "lower" },
    { key: "gapsByPrev", label: "gaps seen through prev", better: "lower" },
    { key: "loadgenRssMiB", label: "load generators RSS, all (MiB)" },
    { key: "loadgenMaxRssMiB", label: "  the largest (MiB)" },
    { key: "otherOnServerCores", label: "connect: other load on the server core (cores)" },
    { key: "otherOnClientCores", label: "connect: other load on the client core (cores)" },
  ],
  slow: [
    { key: "ready", label: "normal clients ready", better: "higher" },
    { key: "stalled", label: "stalled clients (stop reading after ready)" },
    { key: "sent", label: "notifications sent per run" },
    { key: "expected", label: "deliveries expected per run (normal clients)" },
    { key: "baseDelivered", label: "without stalled, before: delivered", better: "higher" },
    { key: "baseLossPct", label: "without stalled, before: loss (%)", better: "lower" },
    { key: "baseP50Ms", label: "without stalled, before: latency p50 (ms)", better: "lower" },
    { key: "baseP99Ms", label: "without stalled, before: latency p99 (ms)", better: "lower" },
    { key: "baseMaxMs", label: "without stalled, before: latency max (ms)", better: "lower" },
    { key: "delivered", label: "with stalled: delivered to normal clients", better: "higher" },
    { key: "lossPct", label: "with stalled: loss (%)", better: "lower" },
    { key: "p50Ms", label: "with stalled: latency p50 (ms)", better: "lower" },
    { key: "p99Ms", label: "with stalled: latency p99 (ms)", better: "lower" },
    { key: "maxMs", label: "with stalled: latency max (ms)", better: "lower" },
    { key: "afterDelivered", label: "without stalled, after: delivered", better: "higher" },
    { key: "afterLossPct", label: "without stalled, after: loss (%)", better: "lower" },
    { key: "afterP50Ms", label: "without stalled, after: latency p50 (ms)", better: "lower" },
    { key: "afterP99Ms", label: "without stalled, after: latency p99 (ms)", better: "lower" },
    { key: "afterMaxMs", label: "without stalled, after: latency max (ms)", better: "lower" },
    { key: "p99Change", label: "p99 with stalled / mean p99 of the runs without" },
    { key: "normalClosed", label: "normal clients closed by the server", better: "lower" },
    { key: "cutoffs", label: "clients cut off as slow consumers (server's count)" },
    { key: "cutoffsWhilePublishing", label: "  of them before the late resume" },
    { key: "firstCutoffS", label: "first cut-off seen (s after publishing began)" },
    { key: "lastCutoffS", label: "last cut-off seen (s after publishing began)" },
    { key: "earlyResumed", label: "stalled clients resumed at once after the cut-off" },
    { key: "earlyResumeS", label: "  resumed at (s after publishing began)" },
    { key: "earlyClose4429", label: "  of them reading close 4429" },
    { key: "earlyReadAfterResume", label: "  notifications read on resuming" },
    { key: "stalledResumedAtEnd", label: "stalled clients resumed at the end" },
    { key: "stalledClose4429", label: "  of them reading close 4429" },
    { key: "stalledClosedOtherwise", label: "  of them closed otherwise" },
    { key: "stalledStillOpen", label: "  of them still open" },
    { key: "stalledReadAfterResume", label: "  notifications read on resuming (mean)" },
    { key: "rssStartMiB", label: "server RSS before the runs (MiB; herald: the gateway)" },
    { key: "rssMaxBaseMiB", label: "server RSS max without stalled, before (MiB)", better: "lower" },
    { key: "rssMaxMiB", label: "server RSS max with stalled (MiB)", better: "lower" },
    { key: "rssMaxAfterMiB", label: "server RSS max without stalled, after (MiB)", better: "lower" },
    { key: "rssEndMiB", label: "server RSS at the end (MiB)", better: "lower" },
    { key: "allRssMaxMiB", label: "all server processes RSS max with stalled (MiB)", better: "lower" },
    { key: "tcpKernelMaxBaseMiB", label: "kernel TCP buffers max without stalled, before (MiB, machine)" },
    { key: "tcpKernelMaxMiB", label: "kernel TCP buffers max with stalled (MiB, machine)" },
    { key: "tcpKernelMaxAfterMiB", label: "kernel TCP buffers max without stalled, after (MiB, machine)" },
    { key: "baseServerCpuS", label: "without stalled, before: server CPU (s)", better: "lower" },
    { key: "serverCpuS", label: "with stalled: server CPU (s)", better: "lower" },
    { key: "afterServerCpuS", label: "without stalled, after: server CPU (s)", better: "lower" },
    { key: "baseLoadgenCpuPct", label: "without stalled, before: load generator CPU (% of a core)" },
    { key: "loadgenCpuPct", label: "with stalled: load generator CPU (% of a core)" },
    { key: "afterLoadgenCpuPct", label: "without stalled, after: load generator CPU (% of a core)" },
    { key: "otherOnServerCores", label: "other load on the server core (cores, worst run)" },
    { key: "otherOnClientCores", label: "other load on the client core (cores, worst run)" },
  ],
};

function deliveryFigures(): FigureDef[] {
  return [
    { key: "ready", label: "clients ready", better: "higher" },
    { key: "sent", label: "notifications sent" },
    { key: "expected", label: "deliveries expected" },
    { key: "delivered", label: "delivered", better: "higher" },
    { key: "lossPct", label: "loss (%)", better: "lower" },
    { key: "deliveriesPerS", label: "deliveries/s", better: "higher" },
    { key: "p50Ms", label: "latency p50 (ms)", better: "lower" },
    { key: "p90Ms", label: "latency p90 (ms)", better: "lower" },
    { key: "p99Ms", label: "latency p99 (ms)", better: "lower" },
    { key: "maxMs", label: "latency max (ms)", better: "lower" },
    { key: "serverCpuS", label: "server CPU (s)", better: "lower" },
    { key: "deliveriesPerServerCpuS", label: "deliveries per server CPU-s", better: "higher" },
    { key: "loadgenCpuPct", label: "load generator CPU (% of a core)" },
    { key: "otherOnServerCores", label: "other load on the server core (cores)" },
    { key: "otherOnClientCores", label: "other load on the client core (cores)" },
  ];
}

export type SystemResult =
  | {
      readonly system: SystemName;
      readonly ok: true;
      readonly figures: Record<string, number>;
      readonly details: Record<string, unknown>;
      readonly profile?: ProfileSummary;
      readonly loadgenProfile?: ProfileSummary;
    }
  | { readonly system: SystemName; readonly ok: false; readonly error: string };
