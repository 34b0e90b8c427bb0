import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/testing/free-port.js";
import { launch, type ManagedProcess } from "../lib/processes.js";
import { httpOk, redisPong, waitUntil } from "../lib/wait.js";

/** nats-server and redis-server as the systems under test use them, pinned to the server core. */

export interface NatsProcess {
  readonly process: ManagedProcess;
  readonly url: string;
  readonly websocketUrl: string | undefined;
  /** The HTTP monitoring endpoint (/varz, /connz, /healthz). */
  readonly monitorUrl: string;
  stop(): Promise<void>;
}

export async function startNatsServer(options: {
  core: string;
  websocket: boolean;
  /** JetStream with file storage in the process's own folder (Herald's history stream). */
  jetstream?: boolean;
  verbose: boolean;
}): Promise<NatsProcess> {
  const port = await freePort();
  const monitorPort = await freePort();
  const websocketPort = options.websocket ? await freePort() : undefined;
  const dir = await mkdtemp(join(tmpdir(), "herald-bench-nats-"));
  const config = [
    `listen: "127.0.0.1:${port}"`,
    `http: "127.0.0.1:${monitorPort}"`,
    websocketPort ? `websocket { listen: "127.0.0.1:${websocketPort}", no_tls: true }` : "",
    options.jetstream ? `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }` : "",
  ].join("\n");
  await writeFile(join(dir, "nats.conf"), config);
  const proc = launch({
    name: "nats-server",
    command: "nats-server",
    args: ["-c", join(dir, "nats.conf")],
    core: options.core,
    verbose: options.verbose,
  });
  // The config folder goes with the process, however it ends (also on Ctrl-C).
  void proc.exited.then(() => rm(dir, { recursive: true, force: true }));
  await Promise.race([
    waitUntil("nats-server", () => httpOk(`http://127.0.0.1:${monitorPort}/healthz`), 15_000),
    proc.unexpectedExit().then((err) => Promise.reject(err)),
  ]);
  return {
    process: proc,
    url: `nats://127.0.0.1:${port}`,
    websocketUrl: websocketPort ? `ws://127.0.0.1:${websocketPort}` : undefined,
    monitorUrl: `http://127.0.0.1:${monitorPort}`,
    stop: () => proc.stop(),
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
    waitUntil("redis-server", () => redisPong(port), 15_000),
    proc.unexpectedExit().then((err) => Promise.reject(err)),
  ]);
  return { process: proc, url: `redis://127.0.0.1:${port}`, stop: () => proc.stop() };
}
