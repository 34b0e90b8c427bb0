import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type NatsServer, startNats, startTestGateway, waitUntil } from "../../src/testing/index.js";
import { closeClients, observeClient } from "./observed-client.js";

/** What the client SDK does when the backend disconnects its user, against a real gateway. */
describe("client disconnected by the backend", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateway: RunningGateway;

  beforeAll(async () => {
    nats = await startNats();
    backend = await HeraldBackend.connect({ servers: nats.url, history: false });
    // tokens are `<user>-<n>`: a fresh one per connect
    backend.serveAuth((token) => accept({ user: token.split("-")[0] ?? "" }));
    gateway = await startTestGateway(nats);
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  it("stops for good on a disconnect: DISCONNECTED, 4430, not retried", async () => {
    let n = 0;
    const observed = observeClient(gateway.url, { getToken: () => `ann-${++n}` });
    await waitUntil(() => observed.client.state === "ready", "ready");
    await backend.disconnect("ann", { reason: "signed out everywhere" });
    await waitUntil(() => observed.client.state === "closed", "closed");
    expect(observed.errors).toHaveLength(1);
    expect(observed.errors[0]).toMatchObject({
      code: "DISCONNECTED",
      closeCode: 4430,
      retryable: false,
      message: 'the backend disconnected this user: "signed out everywhere"',
    });
    await expect(observed.client.rpc("anything")).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    expect(n).toBe(1);
  });

  it("reconnects with a fresh token on a disconnect with reconnect: true", async () => {
    let n = 0;
    const observed = observeClient(gateway.url, { getToken: () => `bea-${++n}` });
    await waitUntil(() => observed.client.state === "ready", "ready");
    await backend.disconnect("bea", { reconnect: true });
    await waitUntil(() => observed.readies.length === 2, "ready again", { timeoutMs: 10_000 });
    expect(observed.errors).toMatchObject([
      { code: "RECONNECT_REQUESTED", closeCode: 4431, retryable: true },
    ]);
    expect(n).toBe(2);
    expect(await observed.client.rpc("nothing-here").catch((e: { code: string }) => e.code)).toBe(
      "NO_RESPONDERS",
    );
  });
});
