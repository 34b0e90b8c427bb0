import { describe, expect } from "vitest";
import { WebSocket } from "ws";
import { grant, type HeraldBackend, type PublishTarget, refuse } from "../../src/backend/index.js";
import { connect, type HeraldClient } from "../../src/client/index.js";
import {
  type GatewayProcess,
  startGatewayProcesses,
  startTcpBalancer,
  type TcpBalancer,
  waitUntil,
} from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";

const TOTAL = 400;

/** Two gateway processes on the test's nats-server, behind a TCP balancer. */
const test = base.extend<{ gateways: GatewayProcess[]; balancer: TcpBalancer }>({
  gateways: async ({ nats, backend }, use) => {
    void backend; // the gateways' auth requests need it
    const args = ["--drain-window", "300", "--heartbeat-interval", "1000", "--heartbeat-timeout", "3000"];
    const gateways = await startGatewayProcesses(nats.url, ["gw-a", "gw-b"], args);
    await use(gateways);
    await Promise.all(gateways.map((g) => g.stop("SIGKILL")));
  },
  balancer: async ({ gateways }, use) => {
    const balancer = await startTcpBalancer(() => gateways.map((g) => g.port));
    await use(balancer);
    await balancer.close();
  },
});

/**
 * A publisher sends a numbered sequence without pause while something fails; the client must end
 * with every number exactly once, in order. Gateways are real processes behind a TCP balancer.
 */
describe("no message lost", () => {
  let client: HeraldClient | undefined;
  test.afterEach(() => client?.close());

  /** Publishes 1..TOTAL with a JetStream ack each, retrying (idempotently) through any outage. */
  async function publishAll(
    backend: HeraldBackend,
    target: PublishTarget,
    onProgress: (n: number) => Promise<void>,
  ): Promise<void> {
    const run = Math.random().toString(36).slice(2);
    for (let n = 1; n <= TOTAL; n++) {
      for (;;) {
        try {
          await backend.publishStored(target, { n }, { msgId: `${run}-${n}`, timeout: 1000 });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await onProgress(n);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async function connectClient(
    balancer: TcpBalancer,
    user: string,
  ): Promise<{ received: number[]; gateways: string[] }> {
    const received: number[] = [];
    const seen: string[] = [];
    client = connect({
      url: balancer.url(),
      getToken: () => user,
      WebSocket,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    client.on("message", (m) => received.push((m.data as { n: number }).n));
    await new Promise<void>((resolve) =>
      client!.on("ready", (ready) => {
        seen.push(ready.gateway);
        resolve();
      }),
    );
    return { received, gateways: seen };
  }

  async function expectAll(received: number[]): Promise<void> {
    const all = () => received.length >= TOTAL;
    await waitUntil(all, "every message", { timeoutMs: 30_000, intervalMs: 50 }).catch(() => undefined);
    expect(received.length).toBe(TOTAL);
    expect(received).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  }

  test("survives SIGKILL of the client's gateway", async ({ backend, gateways, balancer }) => {
    const { received, gateways: seen } = await connectClient(balancer, "kill-user");
    const victim = gateways.find((g) => seen[0]!.endsWith(g === gateways[0] ? "a" : "b"))!;
    await publishAll(backend, "kill-user", async (n) => {
      if (n === 100) expect(await victim.stop("SIGKILL")).toBeNull();
    });
    await expectAll(received);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.at(-1)).not.toBe(seen[0]);
  });

  test("survives SIGKILL of the client's gateway on a subscribed channel: resubscribed with recovery", async ({
    backend,
    gateways,
    balancer,
  }) => {
    backend.onSubscribe((channel, { user }) =>
      channel === `channel.${user}-room` ? grant() : refuse("forbidden", "not your room"),
    );
    await backend.flush();
    const { gateways: seen } = await connectClient(balancer, "room-user");
    const room = client!.subscribe("channel.room-user-room");
    const received: number[] = [];
    const resyncs: unknown[] = [];
    room.on("message", (m) => received.push((m.data as { n: number }).n));
    room.on("resync", (frame) => resyncs.push(frame));
    await new Promise<void>((resolve) => room.on("subscribed", () => resolve()));
    const victim = gateways.find((g) => seen[0]!.endsWith(g === gateways[0] ? "a" : "b"))!;
    await publishAll(backend, { channel: "room-user-room" }, async (n) => {
      if (n === 100) expect(await victim.stop("SIGKILL")).toBeNull();
    });
    await expectAll(received);
    expect(resyncs).toEqual([]);
    expect(room.state).toBe("subscribed");
    expect(seen.at(-1)).not.toBe(seen[0]);
  });

  test("survives a SIGTERM drain of the client's gateway, which exits 0", async ({
    backend,
    gateways,
    balancer,
  }) => {
    const { received, gateways: seen } = await connectClient(balancer, "drain-user");
    const victim = gateways.find((g) => seen[0]!.endsWith(g === gateways[0] ? "a" : "b"))!;
    let exit: Promise<number | null> | undefined;
    await publishAll(backend, "drain-user", async (n) => {
      if (n === 100) exit = victim.stop("SIGTERM");
    });
    await expectAll(received);
    expect(await exit).toBe(0);
    expect(seen.at(-1)).not.toBe(seen[0]);
  });

  test("survives a NATS server restart (file storage)", async ({ nats, backend, balancer }) => {
    const { received } = await connectClient(balancer, "nats-user");
    await publishAll(backend, "nats-user", async (n) => {
      if (n === 100) await nats.restart();
    });
    await expectAll(received);
  });
});
