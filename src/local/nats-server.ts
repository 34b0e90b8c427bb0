import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNatsServer } from "./find-nats-server.js";
import { freePort } from "./ports.js";
import { answersOk, waitUntil } from "./wait-until.js";

export interface NatsServerOptions {
  /** Enable JetStream, storing in `storeDir` (by default a temporary folder, removed on stop). */
  jetstream?: boolean;
  storeDir?: string;
  /** Also open nats-server's own WebSocket listener (no TLS) on a free port. */
  websocket?: boolean;
  /** Extra lines for the config file. */
  extraConfig?: string;
  /** Address clients connect to (default 127.0.0.1); monitoring stays on 127.0.0.1. */
  host?: string;
  /** Binary to run; nats-server from PATH or Debian's usual places by default. */
  binary?: string;
  /** Runs nats-server under this command, e.g. `["taskset", "-c", "0"]` to pin it to a core. */
  commandPrefix?: readonly string[];
  /** Its own process group: a terminal's Ctrl-C then reaches only the parent, which stops it in turn. */
  detached?: boolean;
  /** Told about each warning or error nats-server writes once it is ready. */
  onLog?: (line: string) => void;
  /** Told about each process started (restarts too), e.g. for a harness that tracks its processes. */
  onSpawn?: (child: ChildProcess) => void;
  /** How long it may take to answer /healthz (default 20 s). */
  readyTimeoutMs?: number;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly monitorUrl: string;
  readonly websocketUrl: string | undefined;
  readonly storeDir: string | undefined;
  readonly pid: number | undefined;
  /** Resolves when the process running now ends, for any reason, with its exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and removes the temporary folders it made. */
  stop(): Promise<void>;
  /** Stops and starts again on the same ports and store, e.g. to test reconnects. */
  restart(): Promise<void>;
  /** Stops the process but keeps ports and store, for an outage; `start()` brings it back. */
  halt(): Promise<void>;
  /** SIGKILL, sent at once: a crash, with no goodbye to clients or cluster peers. Ports and store are kept. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP: the process hangs (its sockets stay open, nothing answers) until `resume()`. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Subscriptions the server holds right now (from the monitoring endpoint `/subsz`). */
  subscriptionCount(): Promise<number>;
  /** Whether some client's subscription matches `subject` at the server right now (`/subsz?test=`). */
  hasSubscriber(subject: string): Promise<boolean>;
}

/**
 * Starts a real `nats-server` on free ports: the one launcher of the tests, the bench and
 * `herald start`. Ready once its monitoring endpoint answers /healthz.
 */
export async function startNats(options: NatsServerOptions = {}): Promise<NatsServer> {
  // Ports picked here were free a moment ago; another process may still bind one first, so a
  // bind race is retried with fresh picks.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsOnce(options);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

async function startNatsOnce(options: NatsServerOptions): Promise<NatsServer> {
  const host = options.host ?? "127.0.0.1";
  const port = await freePort(host);
  const monitorPort = await freePort();
  const websocketPort = options.websocket ? await freePort(host) : undefined;
  const workDir = await mkdtemp(join(tmpdir(), "herald-nats-"));
  const storeDir = options.jetstream ? (options.storeDir ?? join(workDir, "js")) : undefined;
  if (storeDir) await mkdir(storeDir, { recursive: true });
  const configPath = join(workDir, "nats.conf");
  const lines = [
    `listen: ${JSON.stringify(`${host}:${port}`)}`,
    `http: "127.0.0.1:${monitorPort}"`,
    storeDir ? `jetstream { store_dir: ${JSON.stringify(storeDir)} }` : "",
    websocketPort ? `websocket { listen: ${JSON.stringify(`${host}:${websocketPort}`)}, no_tls: true }` : "",
    options.extraConfig ?? "",
  ];
  await writeFile(configPath, lines.join("\n"));
  const binary = options.binary ?? findNatsServer() ?? "nats-server";
  const [command = binary, ...prefixArgs] = [...(options.commandPrefix ?? []), binary];

  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  const launch = async (): Promise<void> => {
    const spawned = spawn(command, [...prefixArgs, "-c", configPath], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: options.detached ?? false,
    });
    child = spawned;
    exited = new Promise((resolve) => spawned.once("exit", (code) => resolve(code)));
    const output = readOutput(spawned, options.onLog);
    const healthy = async () => {
      // Once it has exited, the rejection below says why.
      if (spawned.exitCode !== null || spawned.signalCode !== null) throw new Error("nats-server exited");
      return answersOk(`http://127.0.0.1:${monitorPort}/healthz`);
    };
    const ready = new Promise<void>((resolve, reject) => {
      spawned.once("error", (err) =>
        reject(new Error(`cannot run ${binary} (${err.message}); install it: apt-get install nats-server`)),
      );
      void exited.then((code) => reject(new Error(`nats-server exited with ${code}: ${output.tail()}`)));
      const timeoutMs = options.readyTimeoutMs ?? 20_000;
      void waitUntil(healthy, "nats-server to answer /healthz", { timeoutMs, intervalMs: 50 }).then(
        resolve,
        reject,
      );
    });
    options.onSpawn?.(spawned);
    await ready;
    output.ready();
  };
  const halt = async (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    const running = child;
    child = undefined;
    // Never started (no such binary), or already gone.
    if (!running?.pid || running.exitCode !== null || running.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    // A paused process would only take the SIGTERM once continued.
    running.kill("SIGCONT");
    running.kill(signal);
    const timer = setTimeout(() => running.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(timer);
  };
  const signal = (name: NodeJS.Signals): void => {
    if (!child || child.exitCode !== null || child.signalCode !== null)
      throw new Error(`nats-server on port ${port} is not running`);
    child.kill(name);
  };

  try {
    await launch();
  } catch (err) {
    await halt("SIGKILL");
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
  const monitorUrl = `http://127.0.0.1:${monitorPort}`;
  return {
    url: `nats://${host}:${port}`,
    port,
    monitorUrl,
    websocketUrl: websocketPort ? `ws://${host}:${websocketPort}` : undefined,
    storeDir,
    get pid() {
      return child?.pid;
    },
    get exited() {
      return exited;
    },
    async stop() {
      await halt();
      await rm(workDir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
    halt: () => halt(),
    kill: () => halt("SIGKILL"),
    start: launch,
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT"),
    async subscriptionCount() {
      const body = (await (await fetch(`${monitorUrl}/subsz`)).json()) as { num_subscriptions?: number };
      return body.num_subscriptions ?? 0;
    },
    async hasSubscriber(subject) {
      const url = `${monitorUrl}/subsz?subs=1&test=${encodeURIComponent(subject)}`;
      const body = (await (await fetch(url)).json()) as { subscriptions_list?: unknown[] };
      return (body.subscriptions_list?.length ?? 0) > 0;
    },
  };
}

/**
 * Reads nats-server's output for its whole life (an unread pipe would fill and block it): the
 * last lines for an error message, and once it is ready its warnings and errors for `onLog`.
 */
function readOutput(
  child: ChildProcess,
  onLog: ((line: string) => void) | undefined,
): { tail(): string; ready(): void } {
  let recent = "";
  let partial = "";
  let ready = false;
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    recent = (recent + text).slice(-4000);
    if (!ready || !onLog) return;
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    // Its info lines (connections, shutdown steps) are noise here; warnings and errors are not.
    for (const line of lines) if (/\[(WRN|ERR|FTL)\]/.test(line)) onLog(line);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  return {
    tail: () => recent.trim(),
    ready: () => {
      ready = true;
    },
  };
}
