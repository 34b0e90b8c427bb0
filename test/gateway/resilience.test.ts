import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import { type NatsServer, startNats, startTestGateway, TestClient } from "../../src/testing/index.js";

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("gateway resilience", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateway: RunningGateway;

  beforeAll(async () => {
    nats = await startNats();
    backend = await HeraldBackend.connect({ servers: nats.url, history: false });
    backend.serveAuth((token) => accept({ user: token }));
    gateway = await startTestGateway(nats);
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  it("keeps sockets open across a NATS restart and resumes delivery", async () => {
    const client = await TestClient.ready(gateway.url, "restart-user");
    try {
      await backend.publish("restart-user", { before: true });
      await client.waitForMessages(1);
      await nats.restart();
      const base = gateway.url.replace("ws://", "http://").replace("/ws", "");
      // the gateway's and the backend's connections come back and re-subscribe
      await eventually(async () => (await fetch(`${base}/readyz`)).status === 200);
      await eventually(async () => (await nats.subscriptionCount()) >= 2);
      await eventually(async () => {
        try {
          await backend.publish("restart-user", { after: true });
          await backend.flush();
        } catch {
          return false; // the backend is still reconnecting
        }
        await new Promise((r) => setTimeout(r, 100));
        return client.messages().length >= 2;
      });
      expect(client.closed).toBeUndefined();
      expect(client.messages()[1]).toMatchObject({ data: { after: true } });
    } finally {
      client.close();
    }
  });

  it("leaves no NATS subscription behind after 1,000 connect/auth/disconnect cycles", async () => {
    await eventually(async () => (await fetch(`${nats.monitorUrl}/healthz`)).ok);
    // after the restart above, wait until the gateway's and backend's own subscriptions are back:
    // one full auth round trip works, and nothing is left of it
    (await TestClient.ready(gateway.url, "warm-up")).socket.close(1000);
    await eventually(() => gateway.sessionCount === 0 && gateway.subjectCount === 0);
    const baseline = await nats.subscriptionCount();
    for (let round = 0; round < 50; round++) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, i) => TestClient.ready(gateway.url, `cycle-${round}-${i % 7}`)),
      );
      expect(batch.every((c) => c.frames[0]?.type === "ready")).toBe(true);
      for (const c of batch) c.socket.close(1000);
      await Promise.all(batch.map((c) => c.waitClose()));
    }
    await eventually(() => gateway.sessionCount === 0);
    expect(gateway.subjectCount).toBe(0);
    await eventually(async () => (await nats.subscriptionCount()) === baseline);
  });

  it("keeps sockets open while NATS is down and answers new ones with 1013", async () => {
    const client = await TestClient.ready(gateway.url, "outage-user");
    const base = gateway.url.replace("ws://", "http://").replace("/ws", "");
    try {
      await nats.halt();
      await eventually(async () => (await fetch(`${base}/readyz`)).status === 503);
      const probe = await TestClient.open(gateway.url);
      probe.send({ type: "auth", token: "probe" });
      expect(await probe.next("error")).toMatchObject({ code: "BACKEND_UNAVAILABLE" });
      expect((await probe.waitClose()).code).toBe(CloseCode.TryAgainLater);
      expect(client.closed).toBeUndefined();
      await nats.start();
      await eventually(async () => (await fetch(`${base}/readyz`)).status === 200);
      // the backend reconnects on its own schedule; until it has, auth answers 1013 and clients retry
      await eventually(async () => {
        try {
          (await TestClient.ready(gateway.url, "after-outage")).close();
          return true;
        } catch {
          return false;
        }
      });
    } finally {
      client.close();
    }
  });
});
