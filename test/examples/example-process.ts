import { type ChildProcess, spawn } from "node:child_process";

export interface Command {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
}

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function spawnWith(cmd: Command, env: Record<string, string>): ChildProcess {
  return spawn(cmd.command, cmd.args, {
    cwd: cmd.cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs a command to its end, killed after `timeoutMs` (then the result says so in `stderr`). */
export function runToEnd(cmd: Command, env: Record<string, string>, timeoutMs = 30_000): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawnWith(cmd, env);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd.command}: ${err.message}`));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * A long-running example process (an auth responder): started, awaited until it prints the line that
 * says it is serving, and stopped with SIGTERM (SIGKILL if it has not exited 5 s later).
 */
export class ExampleProcess {
  private output = "";
  private readonly exited: Promise<number | null>;
  private readonly listeners: Array<() => void> = [];

  private constructor(private readonly child: ChildProcess) {
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString();
      for (const listener of this.listeners.splice(0)) listener();
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code) => {
        for (const listener of this.listeners.splice(0)) listener();
        resolve(code);
      });
    });
  }

  static async start(
    cmd: Command,
    env: Record<string, string>,
    ready: RegExp,
    timeoutMs = 15_000,
  ): Promise<ExampleProcess> {
    const example = new ExampleProcess(spawnWith(cmd, env));
    try {
      await example.waitFor(ready, timeoutMs);
    } catch (err) {
      await example.stop();
      throw err;
    }
    return example;
  }

  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once the process's output (stdout and stderr) matches `pattern`. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (!this.isRunning) throw new Error(`exited before printing ${pattern}: ${this.output.slice(-500)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${pattern} within ${timeoutMs} ms: ${this.output.slice(-500)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit code (null when killed by a signal). */
  async stop(): Promise<number | null> {
    if (this.isRunning) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
      const code = await this.exited;
      clearTimeout(timer);
      return code;
    }
    return this.exited;
  }
}
