import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { openFilesLimit } from "./proc-stats.js";

/** What a result file records about the machine, so runs can be compared. */
export interface Environment {
  readonly date: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly natsServer: string;
  readonly redisServer: string;
  readonly openFiles: { soft: number; hard: number };
  readonly loadAverageAtStart: readonly number[];
  readonly gitCommit: string;
}

function firstLine(command: string, args: string[]): string {
  try {
    return (
      execFileSync(command, args, { stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim()
        .split("\n")[0] ?? ""
    );
  } catch {
    return "unavailable";
  }
}

export function describeEnvironment(repoDir: string): Environment {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  return {
    date: new Date().toISOString(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    natsServer: firstLine("nats-server", ["--version"]),
    redisServer: firstLine("redis-server", ["--version"]),
    openFiles: openFilesLimit(),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    gitCommit: firstLine("git", ["-C", repoDir, "rev-parse", "--short", "HEAD"]),
  };
}
