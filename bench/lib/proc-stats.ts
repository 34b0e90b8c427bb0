import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** CPU and memory of processes read from /proc, the same way for every system under test. */

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** utime + stime of all threads of `pid`, in seconds (resolution 1/CLK_TCK). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS;
}

/** Resident set size of `pid` in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** CPU seconds every process on the machine has used since boot (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const first = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const [, user, nice, system, , , irq, softirq, steal] = first.trim().split(/\s+/).map(Number);
  return (
    ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLOCK_TICKS
  );
}

/** The open-files limit of this process (inherited by everything the harness starts). */
export function openFilesLimit(): { soft: number; hard: number } {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  const parse = (value: string | undefined) => (value === "unlimited" ? 1_048_576 : Number(value ?? 1024));
  return { soft: parse(match?.[1]), hard: parse(match?.[2]) };
}

/** CPU seconds used by a set of processes between `start()` and `stop()`. */
export class CpuMeter {
  private readonly startCpu: Map<number, number>;
  private readonly startMachine: number;
  private readonly startNs: bigint;

  constructor(private readonly pids: ReadonlyMap<string, number>) {
    this.startCpu = new Map([...pids.values()].map((pid) => [pid, cpuSeconds(pid)]));
    this.startMachine = machineBusySeconds();
    this.startNs = process.hrtime.bigint();
  }

  /** Seconds per process name, and the machine's total busy seconds, since construction. */
  read(): { perProcess: Record<string, number>; machine: number; wallSeconds: number } {
    const perProcess: Record<string, number> = {};
    for (const [name, pid] of this.pids) {
      perProcess[name] = round3(cpuSeconds(pid) - (this.startCpu.get(pid) ?? 0));
    }
    return {
      perProcess,
      machine: round3(machineBusySeconds() - this.startMachine),
      wallSeconds: Number(process.hrtime.bigint() - this.startNs) / 1e9,
    };
  }
}

export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The kernel's count of connections dropped because a listen queue was full (machine-wide). */
export function listenOverflows(): number {
  const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = (lines[i] ?? "").trim().split(/\s+/);
    if (names[0] !== "TcpExt:") continue;
    const values = (lines[i + 1] ?? "").trim().split(/\s+/);
    const at = names.indexOf("ListenOverflows");
    return at < 0 ? 0 : Number(values[at] ?? 0);
  }
  return 0;
}
