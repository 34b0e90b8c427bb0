import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { test as base } from "vitest";
import type { ClientOptions as WsClientOptions } from "ws";
import { type AuthHandler, accept, HeraldBackend, type HeraldConnectOptions } from "../src/backend/index.js";
import type { GatewayConfig, RunningGateway, StartOptions } from "../src/gateway/index.js";
import {
  HttpStreamClient,
  type HttpStreamOptions,
  type NatsServer,
  type NatsServerOptions,
  type RawBackend,
  startNats,
  startRawBackend,
  startTestGateway,
  TestClient,
} from "../src/testing/index.js";
import { Launcher } from "./launcher.js";

/** How the SDK backend connects, and how it answers auth (default: any token is its own user). */
export type BackendOptions = Partial<HeraldConnectOptions> & { authorize?: AuthHandler };

/** How a client connects: to the test's gateway unless `at` names another. */
export interface ClientOptions {
  /** The `auth` frame's `recover` field. */
  recover?: unknown;
  at?: RunningGateway;
  /** How long `ready` may take (default 5 s). */
  timeoutMs?: number;
  /** More fields for the `auth` frame. */
  frame?: Record<string, unknown>;
}

/** Where a socket opens: the test's gateway unless `at` names another. */
export interface SocketOptions {
  at?: RunningGateway;
  headers?: Record<string, string>;
  localAddress?: string;
  /** The TCP socket under the WebSocket (e.g. one that writes a PROXY header first). */
  createConnection?: WsClientOptions["createConnection"];
}

export type OpenClient = (token: string, options?: ClientOptions) => Promise<TestClient>;

/** How an HTTP stream opens: HTTP-streaming unless `transport: "sse"`, to the test's gateway unless `at`. */
export type StreamOptions = HttpStreamOptions & { at?: RunningGateway };

/** What a `ready` frame says with history on. */
export interface Ready {
  readonly epoch: string;
  readonly positions: Record<string, number>;
  readonly recovered?: boolean;
}

/** A ready client and its `ready` frame. */
export async function connectReady(
  client: OpenClient,
  token: string,
  options: ClientOptions = {},
): Promise<{ client: TestClient; ready: Ready }> {
  const opened = await client(token, options);
  return { client: opened, ready: opened.frames[0] as unknown as Ready };
}

interface StackFixtures {
  /** How this file's nats-server starts (`test.override({ natsOptions })` at the file's top level). */
  natsOptions: NatsServerOptions;
  /** A real nats-server, with JetStream unless `natsOptions` says otherwise; one per test file. */
  nats: NatsServer;
  /** Whoever answers the gateways' auth requests: the backend of `test` or of `rawTest`. */
  authResponder: unknown;
  /** Options of the test's gateway (`test.override({ gatewayOptions: {...} })`). */
  gatewayOptions: Partial<GatewayConfig>;
  /** Start options of the test's gateway, e.g. a position-marker hook. */
  gatewayHooks: StartOptions;
  /** Starts another gateway (history on as by default, then `options`); closed after the test. */
  startGateway: (options?: Partial<GatewayConfig>, hooks?: StartOptions) => Promise<RunningGateway>;
  /** The test's gateway: the gateway's defaults (history on) unless `gatewayOptions` say otherwise. */
  gateway: RunningGateway;
  /** The test's gateway and a second one with the same options and hooks, as two gateways of one cluster. */
  gatewayPair: readonly [RunningGateway, RunningGateway];
  /** A plain NATS connection to the test's server, as a backend in any language (or a gateway) has; closed after the test. */
  raw: NatsConnection;
  /** Collects every message on `subject` (wildcards allowed) through `raw`, from now until the test ends. */
  collect: (subject: string) => Promise<Msg[]>;
  /**
   * Adds the history stream as a gateway would, on the file's server (deleted after the test) or on
   * a server of the test's own.
   */
  historyStream: (server?: NatsServer) => Promise<JetStreamManager>;
  /** Opens a socket, sends `auth` and waits for `ready`; closed after the test. */
  client: OpenClient;
  /** Opens a socket without authenticating; closed after the test. */
  socket: (options?: SocketOptions) => Promise<TestClient>;
  /** Opens an HTTP stream (or SSE), sends `auth` and waits for `ready`; closed after the test. */
  streamClient: (
    token: string,
    options?: StreamOptions & Pick<ClientOptions, "recover" | "frame">,
  ) => Promise<HttpStreamClient>;
  /** Opens an HTTP stream (or SSE) whose first frame is `frame`, waiting for nothing; closed after the test. */
  openStream: (frame: unknown, options?: StreamOptions) => Promise<HttpStreamClient>;
  /**
   * Starts what the test needs beyond its stack (more servers, a cluster, gateway processes,
   * `herald` commands, clients at any gateway); all of it ended after the test, the last first.
   */
  launch: Launcher;
  /** The same for a file whose tests build on one another: ended after the file's last test. */
  launchForFile: Launcher;
}

/**
 * What a gateway test needs, declared by name and set up and torn down for it: the nats-server once
 * per file; the backend, the gateways and every client they opened per test.
 */
const stack = base.extend<StackFixtures>({
  natsOptions: [{ jetstream: true }, { scope: "file", injected: false }],
  nats: [
    async ({ natsOptions }, use) => {
      const nats = await startNats(natsOptions);
      await use(nats);
      await nats.stop();
    },
    { scope: "file" },
  ],
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from its first parameter
  authResponder: async ({}) => {
    throw new Error("a test stack needs a backend that answers auth: use `test` or `rawTest`");
  },
  gatewayOptions: [{}, { injected: false }],
  gatewayHooks: [{}, { injected: false }],
  // The gateways' auth requests need the backend: it is set up before them and torn down after.
  startGateway: async ({ nats, authResponder }, use) => {
    void authResponder;
    const started: RunningGateway[] = [];
    await use(async (options = {}, hooks = {}) => {
      const gateway = await startTestGateway(nats, { history: true, ...options }, hooks);
      started.push(gateway);
      return gateway;
    });
    await Promise.all(started.map((gateway) => gateway.close()));
  },
  gateway: async ({ startGateway, gatewayOptions, gatewayHooks }, use) => {
    await use(await startGateway(gatewayOptions, gatewayHooks));
  },
  gatewayPair: async ({ gateway, startGateway, gatewayOptions, gatewayHooks }, use) => {
    await use([gateway, await startGateway(gatewayOptions, gatewayHooks)]);
  },
  raw: async ({ nats }, use) => {
    const raw = await connect({ servers: nats.url });
    await use(raw);
    await raw.close();
  },
  collect: async ({ raw }, use) => {
    await use(async (subject) => {
      const messages: Msg[] = [];
      // Ends with `raw`, after the test.
      raw.subscribe(subject, { callback: (_err, msg) => void messages.push(msg) });
      await raw.flush();
      return messages;
    });
  },
  historyStream: async ({ nats, raw, launch }, use) => {
    const created: JetStreamManager[] = [];
    const subjects = ["herald.user.>", "herald.channel.>"];
    await use(async (server = nats) => {
      if (server === nats) {
        const jsm = await jetstreamManager(raw);
        await jsm.streams.add({ name: "HERALD", subjects });
        created.push(jsm);
        return jsm;
      }
      const nc = launch.own(await connect({ servers: server.url, maxReconnectAttempts: -1 }), (own) =>
        own.close(),
      );
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "HERALD", subjects });
      return jsm;
    });
    for (const jsm of created) await jsm.streams.delete("HERALD");
  },
  // Clients and sockets go to the test's gateway, which is up before the test starts, or to `at`.
  client: async ({ gateway }, use) => {
    const opened: TestClient[] = [];
    await use(async (token, { recover, at = gateway, timeoutMs, frame } = {}) => {
      const extra = { ...frame, ...(recover === undefined ? {} : { recover }) };
      const client = await TestClient.ready(at.url, token, extra, timeoutMs);
      opened.push(client);
      return client;
    });
    for (const client of opened) client.close();
  },
  socket: async ({ gateway }, use) => {
    const opened: TestClient[] = [];
    await use(async ({ at = gateway, ...options } = {}) => {
      const client = await TestClient.open(at.url, options);
      opened.push(client);
      return client;
    });
    for (const client of opened) client.close();
  },
  streamClient: async ({ gateway }, use) => {
    const opened: HttpStreamClient[] = [];
    await use(async (token, { at = gateway, recover, frame, ...options } = {}) => {
      const extra = { ...frame, ...(recover === undefined ? {} : { recover }) };
      const client = await HttpStreamClient.ready(at.url, token, extra, options);
      opened.push(client);
      return client;
    });
    for (const client of opened) client.close();
  },
  openStream: async ({ gateway }, use) => {
    const opened: HttpStreamClient[] = [];
    await use(async (frame, { at = gateway, ...options } = {}) => {
      const client = await HttpStreamClient.open(at.url, frame, options);
      opened.push(client);
      return client;
    });
    for (const client of opened) client.close();
  },
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from its first parameter
  launch: async ({}, use) => {
    const launcher = new Launcher();
    await use(launcher);
    await launcher.end();
  },
  launchForFile: [
    // biome-ignore lint/correctness/noEmptyPattern: as above
    async ({}, use) => {
      const launcher = new Launcher();
      await use(launcher);
      await launcher.end();
    },
    { scope: "file" },
  ],
});

/** The stack for a backend of a test's own: extend it with one and name it the `authResponder`. */
export const stackTest = stack;

/** The stack with a backend on the SDK, as a team writes one: it answers auth and publishes. */
export const test = stack.extend<{
  /** The backend's connection and auth answers (`test.override({ backendOptions: {...} })`). */
  backendOptions: BackendOptions;
  backend: HeraldBackend;
  authResponder: HeraldBackend;
}>({
  backendOptions: [{}, { injected: false }],
  backend: async ({ nats, backendOptions }, use) => {
    const { authorize = (token) => accept({ user: token }), ...connect } = backendOptions;
    const backend = await HeraldBackend.connect({ servers: nats.url, ...connect });
    backend.serveAuth(authorize);
    await backend.flush();
    await use(backend);
    await backend.close();
  },
  authResponder: async ({ backend }, use) => use(backend),
});

/** The stack with a raw responder that answers auth with anything a hostile backend would. */
export const rawTest = stack.extend<{
  backend: RawBackend;
  authResponder: RawBackend;
  /** A backend SDK connection that publishes (acknowledged by the history stream); one per file. */
  publisher: HeraldBackend;
}>({
  backend: async ({ nats }, use) => {
    const backend = await startRawBackend(nats.url);
    await use(backend);
    await backend.close();
  },
  authResponder: async ({ backend }, use) => use(backend),
  publisher: [
    async ({ nats }, use) => {
      const publisher = await HeraldBackend.connect({ servers: nats.url });
      await use(publisher);
      await publisher.close();
    },
    { scope: "file" },
  ],
});
