import { test as base } from "vitest";
import type { GatewayConfig, RunningGateway } from "../src/gateway/index.js";
import {
  type NatsServer,
  type RawBackend,
  startNats,
  startRawBackend,
  startTestGateway,
  TestClient,
} from "../src/testing/index.js";

export interface HeraldFixtures {
  /** Options for this file's gateway (`test.override({ gatewayOptions: {...} })`). */
  gatewayOptions: Partial<GatewayConfig>;
  /** A real nats-server with JetStream, one per test file. */
  nats: NatsServer;
  /** A backend answering auth requests on real NATS: any token is its own user, unless told otherwise. */
  backend: RawBackend;
  /** A gateway with history on (memory storage), one per test. */
  gateway: RunningGateway;
  /** Opens a socket, sends `auth` and waits for `ready`; closed after the test. */
  client: (token: string, extra?: Record<string, unknown>) => Promise<TestClient>;
  /** Opens a socket without authenticating; closed after the test. */
  socket: () => Promise<TestClient>;
}

/**
 * What a gateway test needs, declared by name and set up and torn down for it: the nats-server and
 * the backend once per file, a gateway per test, and every client it opened closed afterwards.
 */
export const test = base.extend<HeraldFixtures>({
  gatewayOptions: [{}, { injected: false }],
  nats: [
    // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from its first parameter
    async ({}, use) => {
      const nats = await startNats({ jetstream: true });
      await use(nats);
      await nats.stop();
    },
    { scope: "file" },
  ],
  backend: [
    async ({ nats }, use) => {
      const backend = await startRawBackend(nats.url);
      await use(backend);
      await backend.close();
    },
    { scope: "file" },
  ],
  gateway: async ({ nats, backend, gatewayOptions }, use) => {
    void backend; // the gateway's auth requests need it
    const gateway = await startTestGateway(nats, {
      history: true,
      historyStorage: "memory",
      ...gatewayOptions,
    });
    await use(gateway);
    await gateway.close();
  },
  client: async ({ gateway }, use) => {
    const opened: TestClient[] = [];
    await use(async (token, extra = {}) => {
      const client = await TestClient.ready(gateway.url, token, extra);
      opened.push(client);
      return client;
    });
    for (const client of opened) client.close();
  },
  socket: async ({ gateway }, use) => {
    const opened: TestClient[] = [];
    await use(async () => {
      const client = await TestClient.open(gateway.url);
      opened.push(client);
      return client;
    });
    for (const client of opened) client.close();
  },
});
