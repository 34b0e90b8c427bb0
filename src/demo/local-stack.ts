import {
  type GatewayConfig,
  loadGatewayConfig,
  type RunningGateway,
  startGateway,
} from "../gateway/index.js";
import { type NatsServer, startNats } from "../local/nats-server.js";
import { freePort } from "../local/ports.js";
import { DEFAULT_PREFIX } from "../protocol/index.js";
import { type RunningDemoApp, startDemoApp } from "./demo-app.js";

export interface LocalStackOptions {
  /** NATS servers to use; when unset an embedded nats-server is started (needs `natsBinary`). */
  nats?: readonly string[];
  natsBinary?: string;
  /** The embedded nats-server's JetStream store; a temporary folder when unset. */
  dataDir?: string;
  /** Address the demo page and the gateway listen on (default 127.0.0.1). */
  host?: string;
  /** The demo page's port; 0 for any free port. */
  port: number;
  /** The gateway's port; 0 for any free port. */
  gatewayPort: number;
  prefix?: string;
  /** The WebSocket URL the page connects to, when not the gateway's own (e.g. behind a proxy). */
  pageGatewayUrl?: string;
  logLevel?: GatewayConfig["logLevel"];
  /** Environment for the gateway's other options (HERALD_HEARTBEAT_INTERVAL, ...); none by default. */
  gatewayEnv?: NodeJS.ProcessEnv;
  tokenTtlMs?: number;
  clientBundle?: string;
  /** Where nats-server's and the demo's own messages go (default: stderr). */
  onLog?: (line: string) => void;
}

export interface LocalStack {
  readonly pageUrl: string;
  readonly gatewayUrl: string;
  readonly natsUrl: string;
  /** Set when this stack started its own nats-server. */
  readonly embeddedNats: NatsServer | undefined;
  readonly gateway: RunningGateway;
  readonly demo: RunningDemoApp;
  /**
   * Closes the gateway and starts a new one on the same port, as a redeploy would; `whileDown` runs
   * in between (e.g. to watch clients notice).
   */
  restartGateway(whileDown?: () => Promise<void>): Promise<void>;
  /** Stops the demo app, the gateway and the embedded nats-server, in that order. */
  stop(): Promise<void>;
}

/**
 * Everything the demo needs on one machine: NATS (embedded or given), a gateway with history, presence and the inbox on,
 * and the demo app, which plays the backend and serves the page.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.onLog ?? ((line: string) => process.stderr.write(`${line}\n`));
  const host = options.host ?? "127.0.0.1";
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  let embeddedNats: NatsServer | undefined;
  if (!options.nats?.length) {
    if (!options.natsBinary) throw new Error("no NATS URL and no nats-server binary to start one");
    embeddedNats = await startNats({
      binary: options.natsBinary,
      jetstream: true,
      ...(options.dataDir !== undefined ? { storeDir: options.dataDir } : {}),
      // Its own process group: a terminal's Ctrl-C reaches only herald, which stops the gateway
      // first and nats-server last, instead of NATS vanishing under a running gateway.
      detached: true,
      onLog: (line) => log(`nats-server: ${line}`),
    });
  }
  const nats = embeddedNats ? [embeddedNats.url] : [...(options.nats ?? [])];
  const cleanups: (() => Promise<void>)[] = [];
  if (embeddedNats) cleanups.push(embeddedNats.stop);
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };

  try {
    // The gateway admits only the demo page's origin, so the page's port is fixed before it starts.
    const pagePort = options.port || (await freePort(host));
    const pageHosts = new Set([host, "127.0.0.1", "localhost"]);
    const config = loadGatewayConfig({
      env: options.gatewayEnv ?? {},
      overrides: {
        host,
        port: options.gatewayPort,
        allowedOrigins: [...pageHosts].filter(isOriginHost).map((h) => `http://${h}:${pagePort}`),
        metricsPort: 0,
        nats,
        prefix,
        history: true,
        presence: true,
        inbox: true,
        logLevel: options.logLevel ?? "warn",
      },
    });
    let gateway = await startGateway(config, { processMetrics: false });
    cleanups.push(() => gateway.close());
    // The next gateway must listen where the page expects it, also when the first one took port 0.
    const fixedPortConfig = Object.freeze({ ...config, port: gateway.port });

    const flags = [
      ...(embeddedNats ? [] : [`--nats ${nats.join(",")}`]),
      ...(prefix !== DEFAULT_PREFIX ? [`--prefix ${prefix}`] : []),
    ].join(" ");
    const demo = await startDemoApp({
      nats,
      prefix,
      host,
      port: pagePort,
      gatewayUrl: options.pageGatewayUrl ?? gateway.url,
      publishFlags: flags,
      onError: (message) => log(`demo: ${message}`),
      ...(options.tokenTtlMs !== undefined ? { tokenTtlMs: options.tokenTtlMs } : {}),
      ...(options.clientBundle !== undefined ? { clientBundle: options.clientBundle } : {}),
    });
    cleanups.push(demo.close);

    let stopping: Promise<void> | undefined;
    return {
      pageUrl: demo.url,
      gatewayUrl: gateway.url,
      natsUrl: nats.join(","),
      embeddedNats,
      get gateway() {
        return gateway;
      },
      demo,
      async restartGateway(whileDown) {
        await gateway.close();
        await whileDown?.();
        gateway = await startGateway(fixedPortConfig, { processMetrics: false });
      },
      stop() {
        stopping ??= cleanup();
        return stopping;
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Hosts that can stand in an origin (a wildcard listen address cannot). */
function isOriginHost(host: string): boolean {
  return host !== "0.0.0.0" && host !== "::" && !host.includes(":");
}
