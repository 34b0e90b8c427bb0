import { describe, expect } from "vitest";
import { CloseCode } from "../../src/protocol/index.js";
import { TestClient, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

const eventually = (check: () => Promise<boolean> | boolean, what: string) =>
  waitUntil(check, what, { timeoutMs: 10_000, intervalMs: 50 });

// A nats-server without JetStream, and gateways and a backend without history.
test.override({ natsOptions: {} });

describe("gateway resilience", () => {
  test.override({ backendOptions: { history: false }, gatewayOptions: { history: false } });

  test("keeps sockets open across a NATS restart and resumes delivery", async ({
    nats,
    backend,
    gateway,
    client: ready,
  }) => {
    const client = await ready("restart-user");
    await backend.publish("restart-user", { before: true });
    await client.waitForMessages(1);
    await nats.restart();
    const base = gateway.url.replace("ws://", "http://").replace("/ws", "");
    // the gateway's and the backend's connections come back and re-subscribe
    await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, "/readyz 200");
    await eventually(async () => (await nats.subscriptionCount()) >= 2, "the subscriptions back");
    await eventually(async () => {
      try {
        await backend.publish("restart-user", { after: true });
        await backend.flush();
      } catch {
        return false; // the backend is still reconnecting
      }
      await new Promise((r) => setTimeout(r, 100));
      return client.messages().length >= 2;
    }, "a message after the restart");
    expect(client.closed).toBeUndefined();
    expect(client.messages()[1]).toMatchObject({ data: { after: true } });
  });

  test("leaves no NATS subscription behind after 1,000 connect/auth/disconnect cycles", async ({
    nats,
    gateway,
  }) => {
    await eventually(async () => (await fetch(`${nats.monitorUrl}/healthz`)).ok, "NATS healthy");
    // after a restart in a test above, wait until the gateway's and backend's own subscriptions
    // are there: one full auth round trip works, and nothing is left of it
    (await TestClient.ready(gateway.url, "warm-up")).socket.close(1000);
    await eventually(() => gateway.sessionCount === 0 && gateway.subjectCount === 0, "the warm-up gone");
    const baseline = await nats.subscriptionCount();
    for (let round = 0; round < 50; round++) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, i) => TestClient.ready(gateway.url, `cycle-${round}-${i % 7}`)),
      );
      expect(batch.every((c) => c.frames[0]?.type === "ready")).toBe(true);
      for (const c of batch) c.socket.close(1000);
      await Promise.all(batch.map((c) => c.waitClose()));
    }
    await eventually(() => gateway.sessionCount === 0, "every session gone");
    expect(gateway.subjectCount).toBe(0);
    await eventually(async () => (await nats.subscriptionCount()) === baseline, "the baseline");
  });

  test("keeps sockets open while NATS is down and answers new ones with 1013", async ({
    nats,
    gateway,
    client,
    socket,
  }) => {
    const held = await client("outage-user");
    const base = gateway.url.replace("ws://", "http://").replace("/ws", "");
    await nats.halt();
    await eventually(async () => (await fetch(`${base}/readyz`)).status === 503, "/readyz 503");
    const probe = await socket();
    probe.send({ type: "auth", token: "probe" });
    expect(await probe.next("error")).toMatchObject({ code: "BACKEND_UNAVAILABLE" });
    expect((await probe.waitClose()).code).toBe(CloseCode.TryAgainLater);
    expect(held.closed).toBeUndefined();
    await nats.start();
    await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, "/readyz 200");
    // the backend reconnects on its own schedule; until it has, auth answers 1013 and clients retry
    await eventually(async () => {
      try {
        (await TestClient.ready(gateway.url, "after-outage")).close();
        return true;
      } catch {
        return false;
      }
    }, "a client ready after the outage");
  });
});
