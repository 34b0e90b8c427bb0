import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";

export interface NatsServerOptions {
  /** Enable JetStream with file storage in `storeDir` (a fresh temp folder by default). */
  jetstream?: boolean;
  storeDir?: string;
  /** Also open nats-server's own WebSocket listener (no TLS) on a free port. */
  websocket?: boolean;
  /** Extra lines for the config file. */
  extraConfig?: string;
  /** Binary to run; `nats-server` from PATH by default. */
  binary?: string;
  /** Ports to reuse, e.g. to restart a server on the same address. */
  port?: number;
  monitorPort?: number;
  websocketPort?: number;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly monitorUrl: string;
  readonly websocketUrl: string | undefined;
  readonly storeDir: string | undefined;
  readonly pid: number | undefined;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and removes the temp folders it made. */
  stop(): Promise<void>;
  /** Stops and starts again on the same ports and store, e.g. to test reconnects. */
  restart(): Promise<void>;
  /** Stops the process but keeps ports and store, for an outage; `start()` brings it back. */
  halt(): Promise<void>;
  /** SIGKILL: a crash, with no goodbye to clients or cluster peers. Ports and store are kept. */
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

/** Starts a real `nats-server` on free loopback ports; every test gets its own. */
export async function startNats(options: NatsServerOptions = {}): Promise<NatsServer> {
  // Ports picked here were free a moment ago; another process may still bind one first, so a
  // bind race is retried with fresh picks (ports given by the caller are kept as they are).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsOnce(options);
    } catch (err) {
      const picked = options.port === undefined && options.monitorPort === undefined;
      if (!picked || attempt >= 3 || !/address already in use/.test(String(err))) throw err;
    }
  }
}

async function startNatsOnce(options: NatsServerOptions): Promise<NatsServer> {
  const port = options.port ?? (await freePort());
  const monitorPort = options.monitorPort ?? (await freePort());
  const websocketPort = options.websocket ? (options.websocketPort ?? (await freePort())) : undefined;
  const workDir = await mkdtemp(join(tmpdir(), "herald-nats-"));
  const ownStore = options.jetstream && !options.storeDir;
  const storeDir = options.jetstream ? (options.storeDir ?? join(workDir, "js")) : undefined;
  const configPath = join(workDir, "nats.conf");
  const lines = [
    `listen: "127.0.0.1:${port}"`,
    `http: "127.0.0.1:${monitorPort}"`,
    "max_payload: 1MB",
    storeDir
      ? `jetstream { store_dir: ${JSON.stringify(storeDir)}, max_memory_store: 256MB, max_file_store: 1GB }`
      : "",
    websocketPort ? `websocket { listen: "127.0.0.1:${websocketPort}", no_tls: true }` : "",
    options.extraConfig ?? "",
  ];
  await writeFile(configPath, lines.join("\n"));

  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    child = spawn(options.binary ?? "nats-server", ["-c", configPath], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const spawned = child;
    await new Promise<void>((resolve, reject) => {
      spawned.once("error", (err) =>
        reject(
          new Error(`cannot start nats-server (${err.message}); install it: apt-get install nats-server`),
        ),
      );
      spawned.once("exit", (code) => reject(new Error(`nats-server exited with ${code}: ${stderr}`)));
      void waitForHealth(monitorPort, 10_000).then(resolve, reject);
    });
  };
  const halt = async (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    // A paused process would only take the SIGTERM once continued.
    running.kill("SIGCONT");
    running.kill(signal);
    const timer = setTimeout(() => running.kill("SIGKILL"), 5000);
    await exited;
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
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorUrl: `http://127.0.0.1:${monitorPort}`,
    websocketUrl: websocketPort ? `ws://127.0.0.1:${websocketPort}` : undefined,
    storeDir,
    get pid() {
      return child?.pid;
    },
    async stop() {
      await halt();
      await rm(workDir, { recursive: true, force: true });
      if (ownStore && storeDir) await rm(storeDir, { recursive: true, force: true });
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
      const res = await fetch(`http://127.0.0.1:${monitorPort}/subsz`);
      const body = (await res.json()) as { num_subscriptions?: number };
      return body.num_subscriptions ?? 0;
    },
    async hasSubscriber(subject) {
      const url = `http://127.0.0.1:${monitorPort}/subsz?subs=1&test=${encodeURIComponent(subject)}`;
      const body = (await (await fetch(url)).json()) as { subscriptions_list?: unknown[] };
      return (body.subscriptions_list?.length ?? 0) > 0;
    },
  };
}

async function waitForHealth(monitorPort: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not become healthy within ${timeoutMs} ms`);
}
