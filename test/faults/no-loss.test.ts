import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import { connect, type HeraldClient } from "../../src/client/index.js";
import {
  type GatewayProcess,
  type NatsServer,
  startGatewayProcess,
  startNats,
  startTcpBalancer,
  type TcpBalancer,
} from "../../src/testing/index.js";

const TOTAL = 400;

/**
 * A publisher sends a numbered sequence without pause while something fails; the client must end
 * with every number exactly once, in order. Gateways are real processes behind a TCP balancer.
 */
describe("no message lost", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateways: GatewayProcess[];
  let balancer: TcpBalancer;
  let client: HeraldClient | undefined;

  beforeEach(async () => {
    nats = await startNats({ jetstream: true });
    backend = await HeraldBackend.connect({ servers: nats.url });
    backend.serveAuth((token) => accept({ user: token }));
    const args = ["--drain-window", "300", "--heartbeat-interval", "1000", "--heartbeat-timeout", "3000"];
    gateways = await Promise.all([
      startGatewayProcess(nats.url, [...args, "--gateway-id", "gw-a"]),
      startGatewayProcess(nats.url, [...args, "--gateway-id", "gw-b"]),
    ]);
    balancer = await startTcpBalancer(() => gateways.map((g) => g.port));
  });
  afterEach(async () => {
    client?.close();
    await balancer?.close();
    await Promise.all(gateways.map((g) => g.stop("SIGKILL")));
    await backend?.close();
    await nats?.stop();
  });

  /** Publishes 1..TOTAL with a JetStream ack each, retrying (idempotently) through any outage. */
  async function publishAll(user: string, onProgress: (n: number) => Promise<void>): Promise<void> {
    const run = Math.random().toString(36).slice(2);
    for (let n = 1; n <= TOTAL; n++) {
      for (;;) {
        try {
          await backend.publishStored(user, { n }, { msgId: `${run}-${n}`, timeout: 1000 });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await onProgress(n);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async function connectClient(user: string): Promise<{ received: number[]; gateways: string[] }> {
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
    const deadline = Date.now() + 30_000;
    while (received.length < TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(received.length).toBe(TOTAL);
    expect(received).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  }

  it("survives SIGKILL of the client's gateway", async () => {
    const { received, gateways: seen } = await connectClient("kill-user");
    const victim = gateways.find((g) => seen[0]!.endsWith(g === gateways[0] ? "a" : "b"))!;
    await publishAll("kill-user", async (n) => {
      if (n === 100) expect(await victim.stop("SIGKILL")).toBeNull();
    });
    await expectAll(received);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.at(-1)).not.toBe(seen[0]);
  });

  it("survives a SIGTERM drain of the client's gateway, which exits 0", async () => {
    const { received, gateways: seen } = await connectClient("drain-user");
    const victim = gateways.find((g) => seen[0]!.endsWith(g === gateways[0] ? "a" : "b"))!;
    let exit: Promise<number | null> | undefined;
    await publishAll("drain-user", async (n) => {
      if (n === 100) exit = victim.stop("SIGTERM");
    });
    await expectAll(received);
    expect(await exit).toBe(0);
    expect(seen.at(-1)).not.toBe(seen[0]);
  });

  it("survives a NATS server restart (file storage)", async () => {
    const { received } = await connectClient("nats-user");
    await publishAll("nats-user", async (n) => {
      if (n === 100) await nats.restart();
    });
    await expectAll(received);
  });
});
