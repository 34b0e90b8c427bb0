import { type AuthHandler, HeraldBackend, type HeraldConnectOptions } from "../src/backend/index.js";
import type { GatewayConfig, RunningGateway, StartOptions } from "../src/gateway/index.js";
import {
  type GatewayProcess,
  type NatsCluster,
  type NatsServer,
  type NatsServerOptions,
  type RawBackend,
  startGatewayProcess,
  startGatewayProcesses,
  startNats,
  startNatsCluster,
  startRawBackend,
  startTcpBalancer,
  startTestGateway,
  type TcpBalancer,
  TestClient,
} from "../src/testing/index.js";
import { type CliProcess, startCli } from "./cli/run-cli.js";

/** A gateway a client can reach: in this process, a child process, or behind a balancer. */
export interface Reachable {
  readonly url: string;
}

/** Where a NATS connection goes: a server, a cluster node, or URLs (comma-separated). */
export type NatsTarget = NatsServer | string;

const urlOf = (nats: NatsTarget): string => (typeof nats === "string" ? nats : nats.url);

/**
 * Everything a test (or a file, through `launchForFile`) starts or opens beyond its stack, by name:
 * servers, clusters, gateways in this process and as child processes, `herald` commands, backends and
 * clients. All of it is ended afterwards, the last started first, so clients go before the gateways
 * they are on and gateways before their NATS.
 */
export class Launcher {
  private readonly ends: (() => Promise<unknown>)[] = [];

  /** Takes something the test started itself, e.g. nginx: `end` runs with the rest. */
  own<T>(value: T, end: (value: T) => unknown): T {
    this.ends.push(async () => end(value));
    return value;
  }

  /** A nats-server of its own (no JetStream unless `options` say). */
  async nats(options: NatsServerOptions = {}): Promise<NatsServer> {
    return this.own(await startNats(options), (server) => server.stop());
  }

  /** `size` nats-servers with clustered JetStream, ready once they agree on a meta leader. */
  async cluster(size = 3): Promise<NatsCluster> {
    return this.own(await startNatsCluster(size), (cluster) => cluster.stop());
  }

  /** A gateway in this process, as `startTestGateway` starts it (history off unless `options` say). */
  async gateway(
    nats: NatsTarget,
    options: Partial<GatewayConfig> = {},
    hooks: StartOptions = {},
  ): Promise<RunningGateway> {
    return this.own(await startTestGateway(nats, options, hooks), (gateway) => gateway.close());
  }

  /** `herald gateway` as a child process; SIGKILLed afterwards unless it has ended already. */
  async gatewayProcess(nats: NatsTarget, args: readonly string[] = []): Promise<GatewayProcess> {
    return this.own(await startGatewayProcess(urlOf(nats), args), (gateway) => gateway.stop("SIGKILL"));
  }

  /** One `herald gateway` process per id (`--gateway-id`), started at once. */
  async gatewayProcesses(
    nats: NatsTarget,
    ids: readonly string[],
    args: readonly string[] = [],
  ): Promise<GatewayProcess[]> {
    const gateways = await startGatewayProcesses(urlOf(nats), ids, args);
    for (const gateway of gateways) this.own(gateway, (started) => started.stop("SIGKILL"));
    return gateways;
  }

  /** A TCP balancer in front of the gateways on `ports()`. */
  async balancer(ports: () => readonly number[]): Promise<TcpBalancer> {
    return this.own(await startTcpBalancer(ports), (balancer) => balancer.close());
  }

  /** `herald <args>` from the sources; SIGKILLed afterwards unless it has ended already. */
  cli(args: readonly string[], env: Record<string, string> = {}): CliProcess {
    return this.own(startCli(args, env), async (cli) => {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill("SIGKILL");
      await cli.exited();
    });
  }

  /** A backend on the SDK; it answers auth with `authorize` when given one. */
  async backend(
    nats: NatsTarget,
    { authorize, ...options }: Partial<HeraldConnectOptions> & { authorize?: AuthHandler } = {},
  ): Promise<HeraldBackend> {
    const backend = this.own(await HeraldBackend.connect({ servers: urlOf(nats), ...options }), (opened) =>
      opened.close(),
    );
    if (authorize) {
      backend.serveAuth(authorize);
      await backend.flush();
    }
    return backend;
  }

  /** A raw backend that answers auth and subscribe with anything a hostile backend would. */
  async rawBackend(nats: NatsTarget): Promise<RawBackend> {
    return this.own(await startRawBackend(urlOf(nats)), (backend) => backend.close());
  }

  /** Opens a socket at `at`, sends `auth` (with `frame`'s fields) and waits for `ready`. */
  async client(
    at: Reachable,
    token: string,
    { frame = {}, timeoutMs }: { frame?: Record<string, unknown>; timeoutMs?: number } = {},
  ): Promise<TestClient> {
    return this.own(await TestClient.ready(at.url, token, frame, timeoutMs), (client) => client.close());
  }

  /** Opens a socket at `at` without authenticating. */
  async socket(at: Reachable, options: Parameters<typeof TestClient.open>[1] = {}): Promise<TestClient> {
    return this.own(await TestClient.open(at.url, options), (client) => client.close());
  }

  /** Ends everything, the last started first; every step runs even when one fails. */
  async end(): Promise<void> {
    const failures: unknown[] = [];
    for (const end of this.ends.splice(0).reverse())
      await end().catch((error: unknown) => failures.push(error));
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, "ending what the test started failed");
  }
}
