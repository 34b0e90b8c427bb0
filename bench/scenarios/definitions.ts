import type { SystemName } from "../lib/commands.js";
import type { ProfileSummary } from "../lib/cpu-profile.js";

/** The scenarios, their parameters, the figures each reports, and what a run of one returns. */
export const SCENARIO_NAMES = ["unicast", "broadcast", "storm", "idle"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface ScenarioParams {
  readonly clients: number;
  /** Notifications per second (unicast, broadcast). */
  readonly rate: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly payloadBytes: number;
  /** Idle: seconds to let memory settle after connecting, then seconds of idle CPU measured. */
  readonly settleS: number;
  readonly holdS: number;
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
