import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Registry } from "prom-client";
import { WebSocketServer } from "ws";
import { CloseCode, subjectsFor } from "../protocol/index.js";
import { backendRequests } from "./backend/backend-requests.js";
import { ControlListener } from "./backend/control-listener.js";
import { InFlightPerAddress } from "./backend/in-flight-per-address.js";
import type { GatewayConfig } from "./config/config.js";
import { Session } from "./connection/session.js";
import { SessionRegistry } from "./connection/session-registry.js";
import { WsClientSocket } from "./connection/ws-client-socket.js";
import { ChannelHub } from "./delivery/channel-hub.js";
import { DEFLATE_WINDOW_BITS } from "./delivery/outbound-frame.js";
import type { GatewayContext } from "./gateway-context.js";
import { createRecovery, type HistoryParts, startHistory } from "./history/history-setup.js";
import { PlainFeed } from "./history/live-feed.js";
import { LiveInterruption } from "./history/live-interruption.js";
import { handleHttp, type MetricsExposition } from "./http/http-routes.js";
import { UpgradeGate } from "./http/upgrade-gate.js";
import { NO_INBOX } from "./inbox/inbox-connections.js";
import { type Inbox, startInbox } from "./inbox/start-inbox.js";
import { createLogger, type Logger } from "./logger.js";
import { GatewayMetrics } from "./metrics.js";
import { connectNats } from "./nats/nats-connection.js";
import { UNTRACKED } from "./tracking/events/untracked.js";
import { startTracking, type TrackingService } from "./tracking/tracking.js";
import { HttpTransports } from "./transports/http-transports.js";

export interface RunningGateway {
  readonly id: string;
  readonly port: number;
  /** Port of the metrics listener (/metrics, /healthz, /readyz); undefined with metrics off. */
  readonly metricsPort: number | undefined;
  /** ws://host:port/path, with 127.0.0.1 when listening on all interfaces. */
  readonly url: string;
  /** Open sessions (authenticated or not). */
  readonly sessionCount: number;
  /** NATS subjects subscribed right now. */
  readonly subjectCount: number;
  /** Graceful stop: refuse new sockets, ask clients to reconnect spread over the drain window, drain NATS. */
  drain(): Promise<void>;
  /** Immediate stop: close every socket with 1001 and the NATS connection. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Add Node process metrics (CPU, memory, event loop) to /metrics. Default true. */
  processMetrics?: boolean;
  /**
   * What /metrics answers with, given this gateway's registry (default: that registry's figures).
   * `herald gateway --workers` passes one answering with every worker's figures summed.
   */
  metricsExposition?: (registry: Registry) => MetricsExposition;
  /**
   * For tests: runs before each position marker is published (history on), so a test can hold the
   * moment a new subscription's position is taken and publish in that window.
   */
  beforePositionMarker?: () => Promise<void>;
}

/** Starts a gateway: connects to NATS, ensures the history stream, listens for WebSockets. */
export async function startGateway(
  config: GatewayConfig,
  options: StartOptions = {},
): Promise<RunningGateway> {
  const logger = options.logger ?? createLogger(config.logLevel, config.gatewayId);
  const metrics = new GatewayMetrics(options.processMetrics ?? true);
  // Before anything listens: a cluster's primary asks a worker for its figures once it listens.
  const exposition = options.metricsExposition?.(metrics.registry) ?? {
    contentType: metrics.registry.contentType,
    text: () => metrics.registry.metrics(),
  };
  const subjects = subjectsFor(config.prefix);
  const link = await connectNats(config, logger);
  const nc = link.nc;
  let parts: HistoryParts | undefined;
  let tracking: TrackingService | undefined;
  let inbox: Inbox | undefined;
  try {
    const { beforePositionMarker } = options;
    if (config.history) parts = await startHistory({ link, config, subjects, logger, beforePositionMarker });
    tracking = await startTracking({ nc, config, logger, metrics });
    if (config.inbox) inbox = await startInbox({ nc, config, logger, metrics });
  } catch (err) {
    await nc.close();
    throw err;
  }
  const history = parts?.history;
  const hub = new ChannelHub({ nc, feed: parts?.feed ?? new PlainFeed(nc, subjects), logger, metrics });
  const recovery = history ? createRecovery({ nc, config, history, live: hub, metrics }) : undefined;
  if (history) LiveInterruption.watch({ link, hub, history, logger });
  const backend = backendRequests({ nc, usable: () => link.usable, subjects, config, logger, metrics });
  const { auth, subscribe, rpc } = backend;
  const sessions = new SessionRegistry(config.heartbeatTimeout, config.heartbeatInterval);
  // An auth answer arrives at most the request timeout after its request went out, and a control
  // message that came before the request went out was not overtaken by it (the backend stops
  // granting first): remembering them that long, and a margin, is enough.
  const control = new ControlListener({
    nc,
    subjects,
    connections: sessions,
    logger,
    rememberMs: config.authRequestTimeout + 10_000,
    capacity: config.rememberedRevocations,
    forgottenEarly: metrics.revocationsForgotten,
  });
  const ctx: GatewayContext = {
    config,
    auth,
    subscribe,
    hub,
    recovery,
    rpc,
    inFlightPerAddress: new InFlightPerAddress(config.maxInFlightPerIp, logger, metrics),
    control,
    logger,
    metrics,
    tracking: tracking?.tracker ?? UNTRACKED,
    inbox: inbox?.connections ?? NO_INBOX,
  };
  // NATS parts a stop lets go of, after the sessions.
  const stopNatsParts = () => {
    control.close();
    hub.close();
    backend.close();
    history?.close();
    void inbox?.stop();
    transports?.close();
  };
  let draining = false;
  link.onReconnect(() => {
    tracking?.reconnected();
    inbox?.reconnected();
  });

  const gate = new UpgradeGate(config, metrics, logger);
  const transports = config.httpTransports
    ? new HttpTransports({
        config,
        gate,
        nc,
        subjects,
        usable: () => link.usable,
        draining: () => draining,
        logger,
        metrics,
        startSession: (socket, address, req) => {
          const headers = forwardedHeaders(req, config.forwardHeaders);
          const session = new Session({
            socket,
            ctx,
            remoteAddress: address,
            headers,
            onClosed: sessions.forget,
          });
          sessions.add(session);
          return session;
        },
      })
    : undefined;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxFrameBytes,
    perMessageDeflate: config.compression && PER_MESSAGE_DEFLATE,
    clientTracking: false,
    // Pings are answered by the session, within the client's frame budget.
    autoPong: false,
  });
  const readiness = {
    notReadyReason: () => (draining ? "draining" : link.notReadyReason()),
  };
  // Headers must arrive within the upgrade timeout, checked every second: a slowloris costs nothing.
  const timeouts = {
    headersTimeout: config.upgradeTimeout,
    requestTimeout: config.upgradeTimeout * 2,
    connectionsCheckingInterval: Math.min(1000, config.upgradeTimeout),
  };
  const server = createServer(timeouts, (req, res) => {
    if (!transports?.handle(req, res)) handleHttp(req, res, readiness, undefined);
  });
  // Below the open-files limit even with every slot taken and more sockets waiting to be refused.
  server.maxConnections = gate.limits.maxTotal + 128;
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== config.path) return reject(socket, 404, "Not Found");
    if (draining) return reject(socket, 503, "Service Unavailable");
    const answer = gate.admit(req);
    if (!answer.admitted) return reject(socket, answer.status, answer.text, answer.retryAfter);
    const address = answer.address;
    gate.holdUntilClose(socket, answer.key);
    // Read before the handshake: no closure that outlives it may hold the request (and its headers).
    const headers = forwardedHeaders(req, config.forwardHeaders);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const client = new WsClientSocket(ws, socket);
      const onClosed = sessions.forget;
      const session = new Session({ socket: client, ctx, remoteAddress: address, headers, onClosed });
      client.listen(session);
      sessions.add(session);
    });
  });
  server.on("clientError", (err, socket) => {
    gate.clientError(err, socket);
    socket.destroy();
  });
  gate.attach(server);

  try {
    await control.ready();
    await listen(server, config.port, config.host, "");
  } catch (err) {
    sessions.stopHeartbeats();
    stopNatsParts();
    await tracking?.stop(0);
    await nc.close().catch(() => undefined);
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  let metricsServer: Server | undefined;
  if (config.metrics) {
    // Off the public port: connection counts and process figures are for operators, not the internet.
    metricsServer = createServer((req, res) => handleHttp(req, res, readiness, exposition));
    try {
      await listen(metricsServer, config.metricsPort, config.metricsHost, " (metrics)");
    } catch (err) {
      server.close();
      sessions.stopHeartbeats();
      stopNatsParts();
      await tracking?.stop(0);
      await nc.close().catch(() => undefined);
      throw err;
    }
  }
  const metricsPort = metricsServer ? (metricsServer.address() as AddressInfo).port : undefined;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  logger.info(
    { port, host: config.host, path: config.path, history: history !== undefined, metricsPort },
    "gateway listening",
  );

  let drained: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  const stopServer = () =>
    new Promise<void>((resolve) => {
      gate.close();
      metricsServer?.close();
      metricsServer?.closeAllConnections();
      server.close(() => resolve());
      server.closeAllConnections();
    });

  return {
    id: config.gatewayId,
    port,
    metricsPort,
    url: `ws://${host.includes(":") ? `[${host}]` : host}:${port}${config.path}`,
    get sessionCount() {
      return sessions.size;
    },
    get subjectCount() {
      return hub.subjectCount;
    },
    drain() {
      drained ??= (async () => {
        draining = true;
        sessions.stopHeartbeats();
        logger.info({ sessions: sessions.size, window: config.drainWindow }, "draining");
        // Spread the reconnects over the window so the other gateways are not hit all at once.
        const all = sessions.all();
        const step = all.length > 1 ? config.drainWindow / all.length : 0;
        for (let i = 0; i < all.length && !closed; i++) {
          all[i]?.fail("DRAINING", "the gateway is restarting; reconnect");
          if (step > 0 && i < all.length - 1) await sleepMs(step);
        }
        if (closed) return closed;
        // The connections' disconnected events, then this gateway's records and heartbeat.
        await tracking?.stop(EVENTS_GRACE_MS);
        await inbox?.stop();
        stopNatsParts();
        await stopServer();
        await nc.drain().catch(() => undefined);
        logger.info("drained");
      })();
      return drained;
    },
    close() {
      // Also cuts a drain short: the sessions it has not reached yet are closed now with 1001.
      closed ??= (async () => {
        draining = true;
        sessions.stopHeartbeats();
        for (const session of sessions.all()) session.close(CloseCode.GoingAway, "gateway closing");
        await tracking?.stop(CLOSE_EVENTS_GRACE_MS);
        await inbox?.stop();
        stopNatsParts();
        await stopServer();
        await nc.close().catch(() => undefined);
      })();
      return closed;
    },
  };
}

/**
 * permessage-deflate as the gateway offers it. Frames are deflated once per message for every
 * socket (OutboundFrame.deflatedWire), so no socket keeps a deflate stream (~240 KiB each): that
 * takes no context taken over between messages, and one window every client accepts (a client that
 * asks for a smaller server window gets no compression). What a client sends `ws` inflates, in a
 * stream per socket kept from the client's first compressed frame on (its 32 KiB window and state):
 * its output buffer is sized for the small frames clients send, not the default 16 KiB.
 */
const PER_MESSAGE_DEFLATE = {
  serverNoContextTakeover: true,
  serverMaxWindowBits: DEFLATE_WINDOW_BITS,
  zlibInflateOptions: { chunkSize: 4096 },
};

/** How long a drain waits for the connections' disconnected events to be stored. */
const EVENTS_GRACE_MS = 5000;
/** The same for an immediate close; what is not stored by then, another gateway publishes. */
const CLOSE_EVENTS_GRACE_MS = 2000;

/** Listens with a deep accept queue: a reconnect storm must wait in it, not lose SYNs and retry later. */
async function listen(server: Server, port: number, host: string, what: "" | " (metrics)"): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host, backlog: 65_535 }, () => resolve());
    });
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === "EADDRINUSE"
        ? `port ${port} is in use`
        : (err as Error).message;
    throw new Error(`cannot listen on ${host}:${port}${what}: ${reason}`, { cause: err });
  }
}

function reject(socket: Duplex, status: number, text: string, retryAfter?: number): void {
  const wait = retryAfter === undefined ? "" : `Retry-After: ${retryAfter}\r\n`;
  socket.end(`HTTP/1.1 ${status} ${text}\r\n${wait}Connection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** No headers to forward (the default): every session shares one empty record. */
const NO_HEADERS: Record<string, string> = Object.freeze({});

function forwardedHeaders(req: IncomingMessage, names: readonly string[]): Record<string, string> {
  if (names.length === 0) return NO_HEADERS;
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = req.headers[name];
    if (typeof value === "string") out[name] = value;
    else if (Array.isArray(value)) out[name] = value.join(", ");
  }
  return out;
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
