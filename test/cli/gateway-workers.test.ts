import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import { type NatsServer, startGatewayProcess, startNats, TestClient } from "../../src/testing/index.js";

describe("herald gateway --workers", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  beforeAll(async () => {
    nats = await startNats();
    backend = await HeraldBackend.connect({ servers: nats.url, history: false });
    backend.serveAuth((token) => accept({ user: token }));
  });
  afterAll(async () => {
    await backend?.close();
    await nats?.stop();
  });

  it("serves one port from several processes, delivers through each, and drains them all on SIGTERM", async () => {
    const gateway = await startGatewayProcess(nats.url, [
      "--workers",
      "2",
      "--history",
      "false",
      "--gateway-id",
      "multi",
    ]);
    const clients: TestClient[] = [];
    try {
      // the cluster hands connections out in turn among the workers already listening
      const ids = new Set<unknown>();
      for (let i = 0; i < 60 && ids.size < 2; i++) {
        const client = await TestClient.ready(gateway.url, "wendy");
        clients.push(client);
        ids.add(client.frames[0]?.gateway);
        if (ids.size < 2) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ids).toEqual(new Set(["multi-w0", "multi-w1"]));
      await backend.publish("wendy", { hello: "all tabs" });
      for (const c of clients)
        expect((await c.waitForMessages(1))[0]).toMatchObject({ data: { hello: "all tabs" } });
      expect(await gateway.stop("SIGTERM")).toBe(0);
      for (const c of clients) expect((await c.waitClose()).code).toBe(1012);
    } finally {
      for (const c of clients) c.close();
      await gateway.stop("SIGKILL");
    }
  });
});
