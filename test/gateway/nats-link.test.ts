import { expect } from "vitest";
import { loadGatewayConfig } from "../../src/gateway/config/config.js";
import { createLogger } from "../../src/gateway/logger.js";
import { connectNats } from "../../src/gateway/nats/nats-connection.js";
import { waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

test.override({ natsOptions: {} });

/** The gateway's one reader of the NATS connection's status, across a server stop and restart. */
test("tells each listener of a disconnect and the reconnect once, in order, as its flag follows", async ({
  nats,
}) => {
  const config = loadGatewayConfig({ overrides: { nats: [nats.url], gatewayId: "link" } });
  const link = await connectNats(config, createLogger("silent", "link"));
  try {
    const heard: string[] = [];
    for (const name of ["first", "second"]) {
      link.onDisconnect(() => heard.push(`${name} disconnect connected=${link.connected}`));
      link.onReconnect(() => heard.push(`${name} reconnect connected=${link.connected}`));
    }
    expect(link.connected).toBe(true);
    expect(link.notReadyReason()).toBeUndefined();

    await nats.halt();
    await waitUntil(() => heard.length === 2, "the disconnect to be told");
    expect(link.connected).toBe(false);
    expect(link.notReadyReason()).toBe("NATS is not connected");

    await nats.start();
    await waitUntil(() => heard.length >= 4, "the reconnect to be told", { timeoutMs: 10_000 });
    await link.nc.flush();
    expect(heard).toEqual([
      "first disconnect connected=false",
      "second disconnect connected=false",
      "first reconnect connected=true",
      "second reconnect connected=true",
    ]);
    expect(link.connected).toBe(true);
    expect(link.usable).toBe(true);
  } finally {
    await link.nc.close();
  }
  expect(link.connected).toBe(false);
});
