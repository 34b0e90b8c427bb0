import { spawn } from "node:child_process";
import { npmEnv } from "./packed-herald.js";

export interface ProjectProcess {
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects when the process ends first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code once the process has ended by itself. */
  readonly exited: Promise<number | null>;
  /**
   * Sends `signal` to the whole process group and resolves once every process of it has ended;
   * SIGKILL after `killAfterMs`. A group because `npx` does not pass signals on to the command it runs.
   */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<void>;
}

/** `command args` in the project folder, in a process group of its own. */
export function startInProject(command: string, args: readonly string[], cwd: string): ProjectProcess {
  const child = spawn(command, [...args], { cwd, env: npmEnv(), detached: true, stdio: "pipe" });
  const pgid = child.pid;
  if (pgid === undefined) throw new Error(`cannot start ${command}`);
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  let ended = false;
  void exited.then(() => {
    ended = true;
  });

  const groupAlive = (): boolean => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pgid, signal);
    } catch {
      // the group is gone already
    }
  };

  return {
    output: () => output,
    exited,
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output.match(pattern);
        if (match) return match;
        if (ended) throw new Error(`${command} ended before printing ${pattern}:\n${output}`);
        if (Date.now() > deadline)
          throw new Error(`no ${pattern} from ${command} in ${timeoutMs} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop(signal = "SIGTERM", killAfterMs = 20_000) {
      signalGroup(signal);
      const deadline = Date.now() + killAfterMs;
      while (groupAlive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      if (groupAlive()) {
        signalGroup("SIGKILL");
        throw new Error(`${command} did not end within ${killAfterMs} ms of ${signal}:\n${output}`);
      }
      await exited;
    },
  };
}
