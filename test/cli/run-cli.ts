import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process exits; kills it (SIGKILL) after `killAfterMs` so a hang fails the test. */
  exited(killAfterMs?: number): Promise<CliResult & { killed: boolean }>;
}

/** Starts `herald <args>` from the TypeScript sources (no build needed), with a clean HERALD_* env. */
export function startCli(args: readonly string[], env: Record<string, string> = {}): CliProcess {
  const cleanEnv = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("HERALD_")),
  );
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: ROOT,
    env: { ...cleanEnv, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    async exited(killAfterMs = 20_000) {
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, killAfterMs);
      const { code, signal } = await exit;
      clearTimeout(timer);
      return { code, signal, stdout, stderr, killed };
    },
  };
}

/** Runs `herald <args>` to completion. */
export function runCli(args: readonly string[], env: Record<string, string> = {}, killAfterMs?: number) {
  return startCli(args, env).exited(killAfterMs);
}
