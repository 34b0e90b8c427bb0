import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** CPU and memory of processes read from /proc, the same way for every system under test. */

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** User and system CPU seconds of all threads of `pid` (resolution 1/CLK_TCK). */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

/** Resident set size of `pid` in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * Busy CPU seconds since boot from /proc/stat, of the given cores (`cpu0`, `cpu1`... lines).
 * Includes interrupt and softirq time, which no process is charged for.
 */
export function busySeconds(cores: readonly number[]): number {
  const wanted = new Set(cores.map((c) => `cpu${c}`));
  let ticks = 0;
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const [name, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/);
    if (!name || !wanted.has(name)) continue;
    ticks += [user, nice, system, irq, softirq, steal].reduce(
      (total, value) => total + Number(value ?? 0),
      0,
    );
  }
  return ticks / CLOCK_TICKS;
}

/** A taskset core list like "0", "1,3" or "0-2" as core numbers. */
export function parseCoreList(list: string): number[] {
  const cores: number[] = [];
  for (const part of list.split(",")) {
    const [from, to] = part.split("-").map(Number);
    if (from === undefined || !Number.isInteger(from))
      throw new Error(`bad core list ${JSON.stringify(list)}`);
    for (let core = from; core <= (to ?? from); core++) cores.push(core);
  }
  return cores;
}

/** The open-files limit of this process (inherited by everything the harness starts). */
export function openFilesLimit(): { soft: number; hard: number } {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  const parse = (value: string | undefined) => (value === "unlimited" ? 1_048_576 : Number(value ?? 1024));
  return { soft: parse(match?.[1]), hard: parse(match?.[2]) };
}

/**
 * `root` and all its descendants (e.g. `herald gateway --workers N` forks workers), found by
 * scanning the parent pid of every process in /proc.
 */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const siblings = children.get(ppid) ?? [];
      siblings.push(Number(entry));
      children.set(ppid, siblings);
    } catch {
      // the process ended while we looked
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i] as number) ?? []));
  return tree;
}

/** Sockets a process holds open (its file descriptors that are sockets). */
export function socketCount(pid: number): number {
  let sockets = 0;
  for (const fd of tryList(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) sockets++;
    } catch {
      // closed while we looked
    }
  }
  return sockets;
}

function tryList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Resident set size of a process and all its descendants, in bytes. */
export function treeRssBytes(root: number): number {
  return processTree(root).reduce((total, pid) => total + (tryRead(() => rssBytes(pid)) ?? 0), 0);
}

function tryTimes(pid: number): { user: number; system: number } | undefined {
  try {
    return cpuTimes(pid);
  } catch {
    return undefined;
  }
}

function tryRead(read: () => number): number | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** CPU seconds used by named processes (each with its descendants) since construction. */
export class CpuMeter {
  private readonly trees: Map<string, number[]>;
  private readonly startCpu = new Map<number, { user: number; system: number }>();
  private readonly startBusy: number;
  private readonly startNs: bigint;

  /**
   * `cores`: the cores these processes are pinned to, whose busy time is read alongside.
   * `followNewChildren`: each read looks for descendants born since (a gateway worker restarted by
   * its primary) and counts all their CPU; otherwise the trees are those at construction.
   */
  constructor(
    private readonly roots: ReadonlyMap<string, number>,
    private readonly cores: readonly number[],
    private readonly followNewChildren = false,
  ) {
    this.trees = new Map([...roots].map(([name, pid]) => [name, processTree(pid)]));
    for (const pids of this.trees.values()) {
      for (const pid of pids) this.startCpu.set(pid, tryTimes(pid) ?? { user: 0, system: 0 });
    }
    this.startBusy = busySeconds(cores);
    this.startNs = process.hrtime.bigint();
  }

  /**
   * Seconds per process name (user + system, and the system part alone: time in the kernel, e.g.
   * socket syscalls), and the busy seconds of their cores, since construction.
   */
  read(): {
    perProcess: Record<string, number>;
    systemPerProcess: Record<string, number>;
    coresBusy: number;
    wallSeconds: number;
  } {
    const perProcess: Record<string, number> = {};
    const systemPerProcess: Record<string, number> = {};
    if (this.followNewChildren) {
      for (const [name, root] of this.roots) {
        const known = new Set(this.trees.get(name));
        // Born after construction: every CPU second it used is inside the window.
        const born = processTree(root).filter((pid) => !known.has(pid));
        for (const pid of born) this.startCpu.set(pid, { user: 0, system: 0 });
        this.trees.get(name)?.push(...born);
      }
    }
    for (const [name, pids] of this.trees) {
      let user = 0;
      let system = 0;
      for (const pid of pids) {
        const start = this.startCpu.get(pid) ?? { user: 0, system: 0 };
        // A process that ended meanwhile counts as nothing rather than as a negative.
        const now = tryTimes(pid) ?? start;
        user += now.user - start.user;
        system += now.system - start.system;
      }
      perProcess[name] = round3(user + system);
      systemPerProcess[name] = round3(system);
    }
    return {
      perProcess,
      systemPerProcess,
      coresBusy: round3(busySeconds(this.cores) - this.startBusy),
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

/**
 * Memory the kernel holds in TCP socket buffers, machine-wide (`/proc/net/sockstat`, "TCP: ... mem"
 * in pages): data a stalled reader has not read yet sits there before the server's own buffer grows.
 */
export function tcpKernelMemoryBytes(): number {
  const match = /^TCP:.*\smem\s+(\d+)/m.exec(readFileSync("/proc/net/sockstat", "utf8"));
  return match ? Number(match[1]) * PAGE_SIZE : 0;
}

const PAGE_SIZE = Number(execFileSync("getconf", ["PAGESIZE"]).toString().trim()) || 4096;
