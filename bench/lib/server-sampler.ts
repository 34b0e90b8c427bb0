import { tcpKernelMemoryBytes, treeRssBytes } from "./proc-stats.js";
import type { ManagedProcess } from "./processes.js";

/** One reading of the server side. */
export interface ServerSample {
  /** process.hrtime (monotonic) of the reading. */
  readonly atNs: number;
  /** RSS per server process (with its descendants), bytes. */
  readonly rssBytes: Readonly<Record<string, number>>;
  /** Kernel TCP buffer memory, machine-wide, bytes. */
  readonly tcpKernelBytes: number;
  /** Clients cut off for reading too slowly so far (undefined: no such figure, or not read yet). */
  cutoffs: number | undefined;
}

/**
 * Reads the server processes' RSS, the kernel's TCP buffer memory and the server's slow-consumer
 * cut-off count every `intervalMs`, from `start()` to `stop()`. Bounded: at most `maxSamples` kept
 * (an hour at 500 ms), and at most one cut-off probe in flight.
 */
export class ServerSampler {
  private readonly kept: ServerSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private latest: number | undefined;

  constructor(
    private readonly processes: readonly ManagedProcess[],
    private readonly cutoffProbe: (() => Promise<number>) | undefined,
    private readonly intervalMs = 500,
    private readonly maxSamples = 7200,
  ) {}

  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get samples(): readonly ServerSample[] {
    return this.kept;
  }

  /** The cut-off count of the latest probe that answered. */
  get latestCutoffs(): number | undefined {
    return this.latest;
  }

  /** Takes one reading now (also outside the interval, e.g. at the end of a phase). */
  sample(): ServerSample {
    const rssBytes: Record<string, number> = {};
    for (const p of this.processes) rssBytes[p.name] = treeRssBytes(p.pid);
    const reading: ServerSample = {
      atNs: Number(process.hrtime.bigint()),
      rssBytes,
      tcpKernelBytes: tcpKernelMemoryBytes(),
      cutoffs: undefined,
    };
    if (this.kept.length < this.maxSamples) this.kept.push(reading);
    if (this.cutoffProbe && !this.probing) {
      this.probing = true;
      this.cutoffProbe().then(
        (n) => {
          reading.cutoffs = n;
          this.latest = n;
          this.probing = false;
        },
        () => {
          this.probing = false;
        },
      );
    }
    return reading;
  }
}
