import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import * as v from "valibot";

/**
 * Reads the .cpuprofile a Node server wrote with --cpu-prof and ranks functions by self time,
 * counting only samples inside the measured window (V8's profile clock is CLOCK_MONOTONIC in
 * microseconds, the same clock as the harness's process.hrtime).
 */
const CpuProfile = v.object({
  nodes: v.array(
    v.object({
      id: v.number(),
      callFrame: v.object({ functionName: v.string(), url: v.string(), lineNumber: v.number() }),
    }),
  ),
  startTime: v.number(),
  samples: v.array(v.number()),
  timeDeltas: v.array(v.number()),
});

export interface ProfileEntry {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly sampledMs: number;
  readonly windowed: boolean;
  readonly top: readonly ProfileEntry[];
  /** Self time grouped by package / Node internals / the product's own code / GC. */
  readonly byOrigin: readonly { origin: string; percent: number }[];
}

export async function findProfile(dir: string): Promise<string | undefined> {
  const files = await readdir(dir).catch(() => [] as string[]);
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx adds a loader thread).
  const found = files.filter((f) => /\.0\.\d+\.cpuprofile$/.test(f)).sort();
  const last = found[found.length - 1];
  return last ? join(dir, last) : undefined;
}

export async function summarizeProfile(
  file: string,
  window: { fromNs: number; toNs: number } | undefined,
  topN = 15,
): Promise<ProfileSummary> {
  const profile = v.parse(CpuProfile, JSON.parse(await readFile(file, "utf8")));
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const fromUs = window ? window.fromNs / 1000 : Number.NEGATIVE_INFINITY;
  const toUs = window ? window.toNs / 1000 : Number.POSITIVE_INFINITY;
  const selfUs = new Map<string, { name: string; where: string; us: number }>();
  const originUs = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  let inWindow = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromUs || at > toUs) continue;
    inWindow++;
    const frame = frames.get(profile.samples[i] as number);
    if (!frame || frame.functionName === "(idle)") continue;
    const weight = profile.timeDeltas[i + 1] ?? delta;
    const where = shortLocation(frame.url, frame.lineNumber);
    const key = `${frame.functionName}@${where}`;
    const entry = selfUs.get(key) ?? { name: frame.functionName || "(anonymous)", where, us: 0 };
    entry.us += weight;
    selfUs.set(key, entry);
    const origin = originOf(frame.url, frame.functionName);
    originUs.set(origin, (originUs.get(origin) ?? 0) + weight);
    total += weight;
  }
  const windowed = window !== undefined && inWindow > 0;
  if (window && inWindow === 0) return summarizeProfile(file, undefined, topN);
  const percent = (us: number) => Math.round((1000 * us) / Math.max(1, total)) / 10;
  return {
    file,
    sampledMs: Math.round(total / 1000),
    windowed,
    top: [...selfUs.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((e) => ({
        name: e.name,
        where: e.where,
        selfMs: Math.round(e.us / 1000),
        percent: percent(e.us),
      })),
    byOrigin: [...originUs.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([origin, us]) => ({ origin, percent: percent(us) })),
  };
}

function shortLocation(url: string, line: number): string {
  if (!url) return "native";
  const path = url.replace(/^file:\/\//, "");
  const modules = path.lastIndexOf("node_modules/");
  const short =
    modules >= 0
      ? path.slice(modules + "node_modules/".length)
      : path.replace(/^.*\/(dist|src|bench)\//, "$1/");
  return `${short}:${line + 1}`;
}

function originOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "native";
  if (url.startsWith("node:")) return "node internals";
  const path = url.replace(/^file:\/\//, "");
  const modules = path.lastIndexOf("node_modules/");
  if (modules >= 0) {
    const rest = path.slice(modules + "node_modules/".length).split("/");
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] ?? "node_modules");
  }
  return "own code";
}

export function formatProfile(title: string, summary: ProfileSummary): string {
  const lines = [
    `${title}: ${summary.sampledMs} ms of samples${summary.windowed ? " in the measured window" : " (whole process)"}; ${summary.file}`,
    `  by origin: ${summary.byOrigin
      .slice(0, 8)
      .map((o) => `${o.origin} ${o.percent}%`)
      .join(", ")}`,
    ...summary.top.map(
      (e) =>
        `  ${String(e.percent).padStart(5)}%  ${String(e.selfMs).padStart(6)} ms  ${e.name}  (${e.where})`,
    ),
  ];
  return lines.join("\n");
}
