import { readFileSync } from "node:fs";

/** Why an upgrade is refused before any WebSocket work, as the HTTP answer it gets. */
export interface Refusal {
  readonly status: 429 | 503;
  readonly reason: "per_ip" | "total";
}

/** File descriptors kept free for /healthz, /readyz, NATS and logs when the limit is derived. */
export const FD_HEADROOM = 256;

/**
 * Open connections per process and per client address (its `addressKey`): the one owner of both
 * counts. Checked at the HTTP upgrade, so a refused client costs one short HTTP answer and never a
 * WebSocket. Addresses are counted only when a per-address limit is set.
 */
export class ConnectionLimits {
  private total = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(
    /** Connections this process takes at most. */
    readonly maxTotal: number,
    /** Connections one client address holds at most; 0 for no limit. */
    readonly maxPerAddress: number,
  ) {}

  get open(): number {
    return this.total;
  }

  /** Counts the connection in, or says why not. A counted connection must be released exactly once. */
  admit(address: string): Refusal | undefined {
    if (this.total >= this.maxTotal) return { status: 503, reason: "total" };
    if (this.maxPerAddress === 0) {
      this.total++;
      return undefined;
    }
    const held = this.perAddress.get(address) ?? 0;
    if (held >= this.maxPerAddress) return { status: 429, reason: "per_ip" };
    this.total++;
    this.perAddress.set(address, held + 1);
    return undefined;
  }

  release(address: string): void {
    this.total--;
    if (this.maxPerAddress === 0) return;
    const held = (this.perAddress.get(address) ?? 1) - 1;
    if (held > 0) this.perAddress.set(address, held);
    else this.perAddress.delete(address);
  }
}

/**
 * The connection limit when none is configured: the soft open-files limit less a headroom, so the
 * process never runs out of descriptors and its health endpoints keep answering.
 */
export function derivedMaxConnections(): { limit: number; openFiles: number | undefined } {
  const openFiles = softOpenFilesLimit();
  if (openFiles === undefined) return { limit: 10_000, openFiles };
  return { limit: Math.max(16, openFiles - FD_HEADROOM), openFiles };
}

/** Linux's soft RLIMIT_NOFILE from /proc; undefined elsewhere or when unlimited. */
function softOpenFilesLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}
