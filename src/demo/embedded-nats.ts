import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { anyFreePort } from "./ports.js";

export interface EmbeddedNatsOptions {
  /** The nats-server binary (see findNatsServer). */
  binary: string;
  /** JetStream's store; a temporary folder, removed on stop, when unset. */
  dataDir?: string;
  host?: string;
  /** Told about each warning or error nats-server writes after it is ready. */
  onLog?: (line: string) => void;
}

export interface EmbeddedNats {
  readonly url: string;
  readonly storeDir: string;
  readonly pid: number | undefined;
  /** Resolves when the process ends for any reason, with its exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 5 s; removes the temporary store. */
  stop(): Promise<void>;
  /** Last resort on process exit: a synchronous SIGKILL. */
  kill(): void;
}

/** Debian installs nats-server to /usr/sbin, which is not on an ordinary user's PATH. */
const EXTRA_DIRS = ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"];

/** The nats-server executable from PATH (or Debian's usual places), or undefined when there is none. */
export function findNatsServer(path = process.env.PATH ?? ""): string | undefined {
  for (const dir of [...path.split(delimiter).filter(Boolean), ...EXTRA_DIRS]) {
    const candidate = join(dir, "nats-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const READY_TIMEOUT_MS = 20_000;
const PORT_ATTEMPTS = 3;

/** Starts nats-server as a child process on a free loopback port, with JetStream on. */
export async function startEmbeddedNats(options: EmbeddedNatsOptions): Promise<EmbeddedNats> {
  const host = options.host ?? "127.0.0.1";
  const ownStore = options.dataDir === undefined;
  const storeDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "herald-nats-")));
  await mkdir(storeDir, { recursive: true });
  let lastError: Error | undefined;
  // The free port can be taken between the probe and nats-server's listen: try another one then.
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await anyFreePort(host);
    try {
      const child = await launch(options, host, port, storeDir);
      return running(child, `nats://${host}:${port}`, storeDir, ownStore);
    } catch (error) {
      lastError = error as Error;
      if (!/address already in use/i.test(lastError.message)) break;
    }
  }
  if (ownStore) await rm(storeDir, { recursive: true, force: true });
  throw lastError ?? new Error("nats-server did not start");
}

function launch(
  options: EmbeddedNatsOptions,
  host: string,
  port: number,
  storeDir: string,
): Promise<ChildProcess> {
  const child = spawn(options.binary, ["-a", host, "-p", String(port), "-js", "-sd", storeDir], {
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: a terminal's Ctrl-C reaches only herald, which stops the gateway first
    // and nats-server last, instead of NATS vanishing under a running gateway.
    detached: true,
  });
  return new Promise((resolve, reject) => {
    let ready = false;
    let recent = "";
    let partial = "";
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.off("exit", onEarlyExit);
      if (error) {
        child.kill("SIGKILL");
        reject(error);
      } else resolve(child);
    };
    const timer = setTimeout(
      () => settle(new Error(`nats-server was not ready within ${READY_TIMEOUT_MS} ms: ${recent.trim()}`)),
      READY_TIMEOUT_MS,
    );
    const onEarlyExit = (code: number | null) =>
      settle(new Error(`nats-server exited with ${code}: ${recent.trim()}`));
    child.once("exit", onEarlyExit);
    child.once("error", (error) => settle(new Error(`cannot run ${options.binary}: ${error.message}`)));
    // Read every line for the process's whole life: an unread pipe would fill and block nats-server.
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      recent = (recent + text).slice(-4000);
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (ready) {
          // Its info lines (connections, shutdown steps) are noise here; warnings and errors are not.
          if (/\[(WRN|ERR|FTL)\]/.test(line)) options.onLog?.(line);
        } else if (line.includes("Server is ready")) {
          ready = true;
          settle();
        }
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
  });
}

function running(child: ChildProcess, url: string, storeDir: string, ownStore: boolean): EmbeddedNats {
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
  let stopping: Promise<void> | undefined;
  return {
    url,
    storeDir,
    pid: child.pid,
    exited,
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(timer);
        }
        if (ownStore) await rm(storeDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
