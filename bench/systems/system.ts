import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { answersOk, freePort, waitUntil } from "../../src/testing/index.js";
import type { SystemName } from "../lib/commands.js";
import { IpcClient } from "../lib/ipc.js";
import { launch, type ManagedProcess } from "../lib/processes.js";
import { startNatsServer, startRedisServer } from "./servers.js";
import { heraldEventsStored, heraldSlowConsumerCloses, natsSlowConsumers } from "./slow-consumer-probes.js";

/**
 * A system under test, started as separate processes: the server side pinned to the server core,
 * the application's helpers (auth backend) on the client core. `serverProcesses` are the ones whose
 * CPU and memory are counted.
 */
export interface SystemOptions {
  readonly serverCore: string;
  readonly clientCore: string;
  /** When set, Node servers run with --cpu-prof writing here. */
  readonly profileDir: string | undefined;
  readonly verbose: boolean;
  /** Extra `herald gateway` flags, e.g. to measure an option (`--compression true`). */
  readonly gatewayArgs: readonly string[];
}

export type PublisherTarget =
  | { readonly kind: "nats"; readonly url: string }
  | { readonly kind: "socketio"; readonly url: string };

export interface RunningSystem {
  readonly name: SystemName;
  readonly clientUrl: string;
  readonly serverProcesses: readonly ManagedProcess[];
  /** The application's own processes the system needs (not counted as server). */
  readonly helperProcesses: readonly ManagedProcess[];
  readonly publisher: PublisherTarget;
  /** The Node server process whose memory per connection is reported on its own, if any. */
  readonly nodeServer: ManagedProcess | undefined;
  /** Clients the server has cut off for reading too slowly so far, if the server has such a limit. */
  readonly slowConsumerCutoffs: (() => Promise<number>) | undefined;
  /**
   * Resolves once the server's own work for `ready` connections is done (Herald with events: their
   * events stored), so a scenario measures its CPU whole; absent when nothing follows `ready`.
   */
  readonly backgroundDone?: (ready: number) => Promise<void>;
  /** Herald's parts, for scenarios that need more than one gateway (`reconnect`). */
  readonly herald?: {
    readonly gateway: HeraldGateway;
    readonly nats: ManagedProcess;
    readonly natsUrl: string;
    readonly history: boolean;
    /** Another gateway on the same nats-server, stopped with the system. */
    startGateway(): Promise<HeraldGateway>;
  };
  stop(): Promise<void>;
}

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const REPO_DIR = dirname(BENCH_DIR);

/** A bench helper written in TypeScript, run by Node through tsx. */
export function launchHelper(
  name: string,
  script: string,
  args: readonly string[],
  core: string,
  options: { verbose: boolean; nodeArgs?: readonly string[] },
): { process: ManagedProcess; ipc: IpcClient } {
  const proc = launch({
    name,
    command: process.execPath,
    args: [...(options.nodeArgs ?? []), "--import", "tsx", join(BENCH_DIR, "procs", script), ...args],
    core,
    ipc: true,
    verbose: options.verbose,
  });
  return { process: proc, ipc: new IpcClient(proc) };
}

async function profileArgs(options: SystemOptions, name: string): Promise<string[]> {
  if (!options.profileDir) return [];
  const dir = join(options.profileDir, name);
  await mkdir(dir, { recursive: true });
  return ["--cpu-prof", "--cpu-prof-dir", dir];
}

export async function startSystem(name: SystemName, options: SystemOptions): Promise<RunningSystem> {
  switch (name) {
    case "herald":
    case "herald-http-stream":
    case "herald-sse":
      return startHerald(name, options, true, false);
    case "herald-nohistory":
      return startHerald(name, options, false, false);
    case "herald-presence":
      return startHerald(name, options, true, true);
    case "herald-inbox":
      return startHerald(name, options, true, false, true);
    case "nats-ws":
      return startNatsWs(options);
    case "socketio":
      return startSocketIo(options);
  }
}

/** A Herald gateway process on the system's nats-server, ready to accept clients. */
export interface HeraldGateway {
  readonly process: ManagedProcess;
  readonly clientUrl: string;
  readonly metricsUrl: string;
}

async function startHerald(
  name: SystemName,
  options: SystemOptions,
  history: boolean,
  tracking: boolean,
  inbox = false,
): Promise<RunningSystem> {
  const cli = join(REPO_DIR, "dist", "cli", "main.js");
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build (scripts/bench.sh does)`);
  const nats = await startNatsServer({
    core: options.serverCore,
    websocket: false,
    jetstream: history,
    verbose: options.verbose,
  });
  const stops: (() => Promise<void>)[] = [() => nats.stop()];
  const stopAllOf = async () => {
    for (const stop of stops.reverse()) await stop();
  };
  let gateways = 0;
  /** Gateways share the nats-server; the first is the one clients use, more serve `reconnect`. */
  const startGateway = async (): Promise<HeraldGateway> => {
    gateways++;
    const port = await freePort();
    const metricsPort = await freePort();
    const gateway = launch({
      name: gateways === 1 ? "herald-gateway" : `herald-gateway-${gateways}`,
      command: process.execPath,
      args: [
        ...(await profileArgs(options, gateways === 1 ? name : `${name}-${gateways}`)),
        cli,
        "gateway",
        ...["--host", "127.0.0.1", "--port", String(port), "--nats", nats.url],
        // The gateway's defaults (history on, file storage; log level info, which logs nothing per
        // connection or message that succeeds); only the row without history says otherwise.
        ...(history ? [] : ["--history", "false"]),
        ...(tracking ? ["--events", "true", "--presence", "true"] : []),
        ...(inbox ? ["--inbox", "true"] : []),
        ...["--drain-window", "0"],
        ...[
          "--max-connections-per-ip",
          "0",
          "--connect-rate-per-ip",
          "0",
          "--metrics-port",
          String(metricsPort),
          "--metrics-host",
          "127.0.0.1",
        ],
        ...options.gatewayArgs,
      ],
      core: options.serverCore,
      verbose: options.verbose,
    });
    stops.push(() => gateway.stop(20_000));
    await Promise.race([
      waitUntil(() => answersOk(`http://127.0.0.1:${port}/readyz`), "the herald gateway's /readyz", {
        timeoutMs: 20_000,
        intervalMs: 100,
      }),
      gateway.unexpectedExit().then((err) => Promise.reject(err)),
    ]);
    return {
      process: gateway,
      clientUrl: `ws://127.0.0.1:${port}/ws`,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    };
  };
  try {
    const auth = launchHelper(
      "herald-auth",
      "herald-auth.ts",
      [nats.url, ...(tracking ? ["presence"] : [])],
      options.clientCore,
      options,
    );
    stops.push(() => auth.process.stop());
    await auth.ipc.ready(20_000);
    const gateway = await startGateway();
    return {
      name,
      clientUrl: gateway.clientUrl,
      serverProcesses: [gateway.process, nats.process],
      helperProcesses: [auth.process],
      publisher: { kind: "nats", url: nats.url },
      nodeServer: gateway.process,
      slowConsumerCutoffs: () => heraldSlowConsumerCloses(gateway.metricsUrl),
      ...(tracking
        ? {
            // The last event of each connection is its `subscribed` to the shared channel.
            backgroundDone: (ready: number) =>
              waitUntil(
                async () =>
                  (await heraldEventsStored(gateway.metricsUrl, "subscribed").catch(() => 0)) >= ready,
                "every connection's events stored",
                { timeoutMs: 120_000, intervalMs: 100 },
              ),
          }
        : {}),
      herald: { gateway, nats: nats.process, natsUrl: nats.url, history, startGateway },
      stop: stopAllOf,
    };
  } catch (err) {
    await stopAllOf();
    throw err;
  }
}

async function startNatsWs(options: SystemOptions): Promise<RunningSystem> {
  const nats = await startNatsServer({ core: options.serverCore, websocket: true, verbose: options.verbose });
  return {
    name: "nats-ws",
    clientUrl: nats.websocketUrl as string,
    serverProcesses: [nats.process],
    helperProcesses: [],
    publisher: { kind: "nats", url: nats.url },
    nodeServer: undefined,
    slowConsumerCutoffs: () => natsSlowConsumers(nats.monitorUrl),
    stop: () => nats.stop(),
  };
}

async function startSocketIo(options: SystemOptions): Promise<RunningSystem> {
  const redis = await startRedisServer({ core: options.serverCore, verbose: options.verbose });
  try {
    const port = await freePort();
    const server = launchHelper(
      "socketio-server",
      "socketio-server.ts",
      [String(port), redis.url],
      options.serverCore,
      {
        verbose: options.verbose,
        nodeArgs: await profileArgs(options, "socketio"),
      },
    );
    try {
      await server.ipc.ready(20_000);
    } catch (err) {
      await server.process.stop();
      throw err;
    }
    return {
      name: "socketio",
      clientUrl: `http://127.0.0.1:${port}`,
      serverProcesses: [server.process, redis.process],
      helperProcesses: [],
      publisher: { kind: "socketio", url: redis.url },
      nodeServer: server.process,
      // Socket.IO has no outbound limit: it buffers for a slow client as long as the connection lives.
      slowConsumerCutoffs: undefined,
      stop: async () => {
        await server.process.stop();
        await redis.stop();
      },
    };
  } catch (err) {
    await redis.stop();
    throw err;
  }
}
