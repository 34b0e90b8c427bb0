import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FigureDef, ScenarioName, ScenarioParams, SystemResult } from "../scenarios/definitions.js";
import type { SystemName } from "./commands.js";
import { formatProfile } from "./cpu-profile.js";
import type { Environment } from "./environment.js";

/** The terminal table (one column per system, then Herald / peer ratios) and the JSON result file. */
export function formatTable(
  title: string,
  figures: readonly FigureDef[],
  results: readonly SystemResult[],
): string {
  const systems = results.map((r) => r.system);
  const herald = results.find((r) => r.system === "herald");
  const peers = results.filter((r) => r.system !== "herald");
  const header = ["figure", ...systems, ...(herald ? peers.map((p) => `herald/${p.system}`) : [])];
  const rows: string[][] = [header];
  for (const figure of figures) {
    const values = results.map((r) => (r.ok ? r.figures[figure.key] : undefined));
    if (values.every((value) => value === undefined || Number.isNaN(value))) continue;
    const ratios = herald
      ? peers.map((peer) =>
          ratio(
            herald.ok ? herald.figures[figure.key] : undefined,
            peer.ok ? peer.figures[figure.key] : undefined,
            figure,
          ),
        )
      : [];
    const label = figure.better ? `${figure.label} ${figure.better === "higher" ? "↑" : "↓"}` : figure.label;
    rows.push([label, ...values.map(formatNumber), ...ratios]);
  }
  for (const r of results) if (!r.ok) rows.push([`${r.system} failed`, r.error.split("\n")[0] ?? ""]);
  const widths = header.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? "").length)));
  const line = (row: string[]) =>
    row
      .map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0)))
      .join("  ");
  return [title, ...rows.map(line)].join("\n");
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

/** Herald's targets from the issue that set up this benchmark, checked against the peers of the same run. */
export function formatTargets(scenario: ScenarioName, results: readonly SystemResult[]): string {
  const figures = (system: SystemName) => {
    const r = results.find((x) => x.system === system);
    return r?.ok ? r.figures : undefined;
  };
  const herald = figures("herald");
  const nats = figures("nats-ws");
  if (!herald) return "";
  const lines: string[] = [];
  const check = (label: string, met: boolean, detail: string) =>
    lines.push(`target ${met ? "met   " : "MISSED"}: ${label} (${detail})`);
  const at = (f: Record<string, number>, key: string) => f[key] ?? Number.NaN;
  if ((scenario === "unicast" || scenario === "broadcast") && nats) {
    const mine = at(herald, "deliveriesPerServerCpuS");
    const theirs = at(nats, "deliveriesPerServerCpuS");
    check(`${scenario} deliveries per server CPU-s >= nats-ws`, mine >= theirs, `${mine} vs ${theirs}`);
  }
  if (scenario === "unicast" && nats) {
    const mine = at(herald, "p99Ms");
    const theirs = at(nats, "p99Ms");
    check("unicast p99 <= 2x nats-ws", mine <= 2 * theirs, `${mine} ms vs ${theirs} ms`);
  }
  if (scenario === "storm" && nats) {
    const mine = at(herald, "connectsPerServerCpuS");
    const theirs = at(nats, "connectsPerServerCpuS");
    check(
      "connections (with a NATS auth round trip) per server CPU-s >= nats-ws",
      mine >= theirs,
      `${mine} vs ${theirs}`,
    );
  }
  if (scenario === "idle") {
    const mine = at(herald, "kibPerConnection");
    check("idle memory <= 10 KiB per authenticated connection", mine <= 10, `${mine} KiB`);
  }
  return lines.join("\n");
}
