import { freePort, startNats, waitUntil } from "../../src/testing/index.js";
import { launch, ManagedProcess, pinnedTo } from "../lib/processes.js";
import { redisPong } from "../lib/wait.js";

/** nats-server and redis-server as the systems under test use them, pinned to the server core. */

export interface NatsProcess {
  readonly process: ManagedProcess;
  readonly url: string;
  readonly websocketUrl: string | undefined;
  /** The HTTP monitoring endpoint (/varz, /connz, /healthz). */
  readonly monitorUrl: string;
  stop(): Promise<void>;
}

/** The shared launcher's nats-server, pinned with `taskset` and tracked like every process of a run. */
export async function startNatsServer(options: {
  core: string;
  websocket: boolean;
  /** JetStream with file storage in the process's own folder (Herald's history stream). */
  jetstream?: boolean;
  verbose: boolean;
}): Promise<NatsProcess> {
  let proc: ManagedProcess | undefined;
  const nats = await startNats({
    websocket: options.websocket,
    jetstream: options.jetstream ?? false,
    commandPrefix: pinnedTo(options.core),
    readyTimeoutMs: 15_000,
    onSpawn: (child) => {
      proc = new ManagedProcess("nats-server", child, options.verbose);
    },
  });
  if (!proc) throw new Error("nats-server started without a process");
  // Its folders go with the process however it ends, also when the harness stops it on Ctrl-C.
  void proc.exited.then(() => nats.stop());
  return {
    process: proc,
    url: nats.url,
    websocketUrl: nats.websocketUrl,
    monitorUrl: nats.monitorUrl,
    stop: () => nats.stop(),
  };
}

export interface RedisProcess {
  readonly process: ManagedProcess;
  readonly url: string;
  stop(): Promise<void>;
}

export async function startRedisServer(options: { core: string; verbose: boolean }): Promise<RedisProcess> {
  const port = await freePort();
  const proc = launch({
    name: "redis-server",
    command: "redis-server",
    // No persistence: Redis only carries the adapter's pub/sub here.
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--maxclients",
      "1000",
    ],
    core: options.core,
    verbose: options.verbose,
  });
  await Promise.race([
    waitUntil(() => redisPong(port), "redis-server to answer PING", { timeoutMs: 15_000, intervalMs: 100 }),
    proc.unexpectedExit().then((err) => Promise.reject(err)),
  ]);
  return { process: proc, url: `redis://127.0.0.1:${port}`, stop: () => proc.stop() };
}
