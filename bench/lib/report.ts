import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FigureDef, ScenarioName, ScenarioParams, SystemResult } from "../scenarios/definitions.js";
import type { SystemName } from "./commands.js";
import { formatProfile } from "./cpu-profile.js";
import type { Environment } from "./environment.js";

/** The terminal table (one column per system, then Herald / peer ratios) and the JSON result file. */
/** What each system's column is, printed under every table: every figure names its configuration. */
export const SYSTEM_LEGEND: Record<SystemName, string> = {
  herald:
    "herald = the gateway as it ships: history on (JetStream, file storage, on its nats-server); gateway + nats-server counted",
  "herald-nohistory":
    "herald-nohistory = the same gateway with --history false (at-most-once); gateway + nats-server counted",
  "herald-presence":
    "herald-presence = herald with --events true --presence true (every user with presence on the shared channel); gateway + nats-server counted, storm CPU until every event is stored",
  "herald-http-stream":
    "herald-http-stream = herald, its clients on HTTP-streaming (POST /ws/stream, pongs as POSTs to /ws/send); gateway + nats-server counted",
  "herald-sse":
    "herald-sse = herald, its clients on server-sent events (a ticket POST, then GET /ws/sse; pongs as POSTs); gateway + nats-server counted",
  "herald-inbox":
    "herald-inbox = herald with --inbox true (every connection holds its user's inbox: count, live notifications); gateway + nats-server counted",
  "nats-ws": "nats-ws = nats-server's own WebSocket listener, clients speaking NATS",
  socketio: "socketio = Socket.IO 4.8 + @socket.io/redis-adapter; Node server + redis counted",
};

const FIGURE_LABELS: Record<string, string> = {
  connectsPerServerCpuS: "storm connections per server CPU-s",
  deliveriesPerServerCpuS: "deliveries per server CPU-s",
};

const isHerald = (system: SystemName) => system.startsWith("herald");
const shortName = (system: SystemName) => (system === "herald" ? system : system.slice("herald-".length));

export function formatTable(
  title: string,
  figures: readonly FigureDef[],
  results: readonly SystemResult[],
): string {
  const systems = results.map((r) => r.system);
  const heralds = results.filter((r) => isHerald(r.system));
  const peers = results.filter((r) => !isHerald(r.system));
  const pairs = heralds.flatMap((h) => peers.map((p) => [h, p] as const));
  const header = ["figure", ...systems, ...pairs.map(([h, p]) => `${shortName(h.system)}/${p.system}`)];
  const rows: string[][] = [header];
  for (const figure of figures) {
    const values = results.map((r) => (r.ok ? r.figures[figure.key] : undefined));
    if (values.every((value) => value === undefined || Number.isNaN(value))) continue;
    const ratios = pairs.map(([h, p]) =>
      ratio(h.ok ? h.figures[figure.key] : undefined, p.ok ? p.figures[figure.key] : undefined, figure),
    );
    const label = figure.better ? `${figure.label} ${figure.better === "higher" ? "↑" : "↓"}` : figure.label;
    rows.push([label, ...values.map(formatNumber), ...ratios]);
  }
  for (const r of results) if (!r.ok) rows.push([`${r.system} failed`, r.error.split("\n")[0] ?? ""]);
  const widths = header.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? "").length)));
  const line = (row: string[]) =>
    row
      .map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0)))
      .join("  ");
  const legend = systems.map((system) => `  ${SYSTEM_LEGEND[system]}`);
  return [title, ...rows.map(line), ...legend].join("\n");
}

function ratio(mine: number | undefined, theirs: number | undefined, figure: FigureDef): string {
  if (
    !figure.better ||
    mine === undefined ||
    theirs === undefined ||
    Number.isNaN(mine) ||
    Number.isNaN(theirs)
  )
    return "";
  if (theirs === 0) return mine === 0 ? "=" : "";
  const value = mine / theirs;
  // Within 3% counts as even: run-to-run noise is larger than that.
  const good = figure.better === "higher" ? value >= 0.97 : value <= 1.03;
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}x${good ? "" : " !"}`;
}

function formatNumber(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return "-";
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return value < 10 ? value.toFixed(3).replace(/0+$/, "").replace(/\.$/, "") : value.toFixed(1);
}

export function formatProfiles(results: readonly SystemResult[]): string {
  const sections: string[] = [];
  for (const r of results) {
    if (!r.ok) continue;
    if (r.profile) sections.push(formatProfile(`CPU profile of the ${r.system} server`, r.profile));
    if (r.loadgenProfile)
      sections.push(formatProfile(`CPU profile of the load generator (${r.system})`, r.loadgenProfile));
  }
  return sections.join("\n\n");
}

export interface ResultFile {
  readonly scenario: ScenarioName;
  readonly profile: "full" | "quick";
  readonly environment: Environment & { coresBusyAtStart: number };
  readonly parameters: ScenarioParams & {
    gatewayArgs: readonly string[];
    serverCore: string;
    clientCore: string;
    localAddresses: readonly string[];
  };
  readonly results: readonly SystemResult[];
  readonly table: string;
}

export async function writeResult(dir: string, file: ResultFile): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stamp = file.environment.date.replace(/:\d\d\.\d+Z$/, "").replace(/:/g, "");
  const path = join(dir, `${stamp}-${file.scenario}.json`);
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}

export type { SystemName };

/**
 * Herald's targets, checked against the peers of the same run: `herald` is the default configuration
 * (history on), `herald-nohistory` the one with --history false.
 */
export function formatTargets(scenario: ScenarioName, results: readonly SystemResult[]): string {
  const figures = (system: SystemName) => {
    const r = results.find((x) => x.system === system);
    return r?.ok ? r.figures : undefined;
  };
  const herald = figures("herald");
  const noHistory = figures("herald-nohistory");
  const nats = figures("nats-ws");
  const socketio = figures("socketio");
  const lines: string[] = [];
  const at = (f: Record<string, number>, key: string) => f[key] ?? Number.NaN;
  const check = (label: string, met: boolean, detail: string) =>
    lines.push(`target ${met ? "met   " : "MISSED"}: ${label} (${detail})`);
  /** mine >= factor x theirs, for a figure where higher is better. */
  const atLeast = (
    who: string,
    mine: Record<string, number> | undefined,
    peer: string,
    theirs: Record<string, number> | undefined,
    key: string,
    factor: number,
  ) => {
    if (!mine || !theirs) return;
    const ratioValue = at(mine, key) / at(theirs, key);
    const label = FIGURE_LABELS[key] ?? key;
    check(
      `${who} ${label} >= ${factor}x ${peer}'s`,
      ratioValue >= factor,
      `${at(mine, key)} vs ${at(theirs, key)}: ${ratioValue.toFixed(2)}x`,
    );
  };
  if (scenario === "storm") {
    atLeast("herald (history on)", herald, "socketio", socketio, "connectsPerServerCpuS", 1.2);
    atLeast("herald (history on)", herald, "nats-ws", nats, "connectsPerServerCpuS", 0.5);
  }
  if (scenario === "unicast") {
    atLeast("herald (history on) unicast", herald, "socketio", socketio, "deliveriesPerServerCpuS", 1.0);
    atLeast("herald (history on) unicast", herald, "nats-ws", nats, "deliveriesPerServerCpuS", 0.45);
    atLeast("herald --history false unicast", noHistory, "nats-ws", nats, "deliveriesPerServerCpuS", 0.7);
    if (herald && nats) {
      const mine = at(herald, "p99Ms");
      const theirs = at(nats, "p99Ms");
      check(
        "herald (history on) unicast p99 <= 2x nats-ws",
        mine <= 2 * theirs,
        `${mine} ms vs ${theirs} ms`,
      );
    }
  }
  if (scenario === "broadcast") {
    atLeast("herald (history on) broadcast", herald, "nats-ws", nats, "deliveriesPerServerCpuS", 1.1);
  }
  if (scenario === "idle" && herald) {
    const mine = at(herald, "kibPerConnection");
    check("herald (history on) idle memory <= 8 KiB per authenticated connection", mine <= 8, `${mine} KiB`);
  }
  if (scenario === "reconnect" && herald) {
    const p99 = at(herald, "recoveredP99S");
    check(
      "reconnect: all ready and recovered, p99 <= 3 s",
      p99 <= 3 && at(herald, "notRecovered") === 0,
      `p99 ${p99} s, ${at(herald, "notRecovered")} not recovered`,
    );
    check(
      "reconnect: 0 lost, 0 duplicated",
      at(herald, "lost") === 0 && at(herald, "duplicated") === 0,
      `${at(herald, "lost")} lost, ${at(herald, "duplicated")} duplicated`,
    );
    const cpuRatio = at(herald, "cpuPerRecoveryVsStorm");
    check(
      "reconnect: server CPU per recovering client <= 2x a storm connection",
      cpuRatio <= 2,
      `${cpuRatio}x`,
    );
  }
  return lines.join("\n");
}
