import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort } from "../local/ports.js";
import { answersOk, waitUntil } from "../local/wait-until.js";

export interface GatewayProcess {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Sends a signal and resolves with the exit code (null when killed by the signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Everything the process wrote to stderr and stdout so far. */
  output(): string;
}

const cliEntry = fileURLToPath(new URL("../cli/main.ts", import.meta.url));

/** `herald gateway` as its own process (run from source with tsx), ready once /readyz answers 200. */
export async function startGatewayProcess(
  natsUrl: string,
  args: readonly string[] = [],
  port?: number,
): Promise<GatewayProcess> {
  const listenPort = port ?? (await freePort());
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      cliEntry,
      "gateway",
      "--host",
      "127.0.0.1",
      "--port",
      String(listenPort),
      "--nats",
      natsUrl,
      "--log-level",
      "warn",
      "--metrics-port",
      "0",
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = async () => {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}: ${output}`);
    return answersOk(`http://127.0.0.1:${listenPort}/readyz`);
  };
  try {
    await waitUntil(ready, "the gateway's /readyz", { timeoutMs: 30_000, intervalMs: 100 });
  } catch (err) {
    if (child.exitCode !== null) throw err;
    child.kill("SIGKILL");
    throw new Error(`gateway not ready within 30 s: ${output}`);
  }
  return {
    port: listenPort,
    url: `ws://127.0.0.1:${listenPort}/ws`,
    pid: child.pid ?? 0,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    output: () => output,
  };
}

/**
 * One `herald gateway` process per id (`--gateway-id`), started at once on the same NATS. When one
 * fails to start, those that did are stopped again before the error is thrown.
 */
export async function startGatewayProcesses(
  natsUrl: string,
  ids: readonly string[],
  args: readonly string[] = [],
): Promise<GatewayProcess[]> {
  const started = await Promise.allSettled(
    ids.map((id) => startGatewayProcess(natsUrl, [...args, "--gateway-id", id])),
  );
  const gateways = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await Promise.all(gateways.map((gateway) => gateway.stop("SIGKILL")));
    throw failed.reason;
  }
  return gateways;
}
