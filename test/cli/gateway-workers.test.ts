import { describe, expect } from "vitest";
import type { TestClient } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

test.override({ natsOptions: {}, backendOptions: { history: false } });

describe("herald gateway --workers", () => {
  test("serves one port from several processes, delivers through each, and drains them all on SIGTERM", async ({
    nats,
    backend,
    launch,
  }) => {
    const gateway = await launch.gatewayProcess(nats, [
      "--workers",
      "2",
      "--history",
      "false",
      "--gateway-id",
      "multi",
    ]);
    const clients: TestClient[] = [];
    // the cluster hands connections out in turn among the workers already listening
    const ids = new Set<unknown>();
    for (let i = 0; i < 60 && ids.size < 2; i++) {
      const client = await launch.client(gateway, "wendy");
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
  });
});
