import { type ChildProcess, spawn } from "node:child_process";

/**
 * Every process the harness starts goes through `launch`, so one registry can stop them all at the
 * end of a run, on an error, and on Ctrl-C. Processes are pinned to a core with `taskset -c` (the
 * exec keeps the pid, so /proc/<pid> is the real process).
 */
export interface LaunchOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** `taskset -c` core list, e.g. "0". */
  readonly core?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Open a Node IPC channel (the child is a Node process speaking bench/lib/ipc.ts). */
  readonly ipc?: boolean;
  /** Print the child's output as it comes (otherwise only its tail, when it dies). */
  readonly verbose?: boolean;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  private tail = "";
  private stopping = false;
  private exitStatus: ExitStatus | undefined;

  /** Tracks a process already spawned (stdout and stderr piped), e.g. by the shared nats-server launcher. */
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    verbose = false,
  ) {
    if (child.pid === undefined) throw new Error(`cannot start ${name} (${child.spawnfile})`);
    this.pid = child.pid;
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      this.tail = (this.tail + text).slice(-6000);
      if (verbose) process.stderr.write(prefixLines(name, text));
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exitStatus = { code, signal };
        live.delete(this);
        resolve(this.exitStatus);
      });
      this.child.once("error", (err) => {
        this.tail += `\n${err.message}`;
        this.exitStatus = { code: -1, signal: null };
        live.delete(this);
        resolve(this.exitStatus);
      });
    });
    live.add(this);
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** True when the process ended without being asked to. */
  get diedUnexpectedly(): boolean {
    return !this.running && !this.stopping;
  }

  /** The last lines the process printed, for error messages. */
  get outputTail(): string {
    return this.tail;
  }

  /** Resolves when the process ends by itself; rejects never. Used to abort a run when a server dies. */
  async unexpectedExit(): Promise<Error> {
    const status = await this.exited;
    return new Error(
      `${this.name} (pid ${this.pid}) exited with ${status.signal ?? status.code}; last output:\n${this.tail.trim()}`,
    );
  }

  /** SIGKILL at once: the process dies as in a crash (no drain, no close frames). */
  kill(): void {
    this.stopping = true;
    if (this.running) this.child.kill("SIGKILL");
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 8000): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

const live = new Set<ManagedProcess>();

export function launch(options: LaunchOptions): ManagedProcess {
  const [command = options.command, ...args] = [...pinnedTo(options.core), options.command, ...options.args];
  const child = spawn(command, args, {
    env: { ...process.env, ...options.env },
    stdio: options.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
  });
  return new ManagedProcess(options.name, child, options.verbose);
}

/** The command prefix that pins a process to `core` (`taskset -c`; the exec keeps the pid), if any. */
export function pinnedTo(core: string | undefined): string[] {
  return core ? ["taskset", "-c", core] : [];
}

/** Stops every process still running, newest first (clients before servers). */
export async function stopAll(): Promise<void> {
  const running = [...live].reverse();
  for (const proc of running) await proc.stop(3000);
}

/** Ctrl-C, SIGTERM or a crash of the harness stops everything it started before exiting. */
export function stopAllOnSignals(): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\nbench: ${signal}, stopping every process started...\n`);
    void stopAll().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // A bug in the harness must not leave servers running either.
  const onCrash = (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    void stopAll().finally(() => process.exit(1));
  };
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);
}

/** Rejects with the first server process that dies on its own, so a run fails fast and says why. */
export function failOnUnexpectedExit(processes: readonly ManagedProcess[]): Promise<never> {
  return new Promise((_, reject) => {
    for (const proc of processes) {
      void proc.exited.then(async () => {
        if (proc.diedUnexpectedly) reject(await proc.unexpectedExit());
      });
    }
  });
}

function prefixLines(name: string, text: string): string {
  return text
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => `[${name}] ${line}\n`)
    .join("");
}
