import { afterEach, describe, expect } from "vitest";
import { accept } from "../../src/backend/index.js";
import { waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";
import { closeClients, observeClient } from "./observed-client.js";

// A nats-server without JetStream, and a gateway and a backend without history.
test.override({ natsOptions: {} });

/** What the client SDK does when the backend disconnects its user, against a real gateway. */
describe("client disconnected by the backend", () => {
  test.override({
    // tokens are `<user>-<n>`: a fresh one per connect
    backendOptions: { history: false, authorize: (token) => accept({ user: token.split("-")[0] ?? "" }) },
    gatewayOptions: { history: false },
  });
  afterEach(() => closeClients());

  test("stops for good on a disconnect: DISCONNECTED, 4430, not retried", async ({ backend, gateway }) => {
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

  test("reconnects with a fresh token on a disconnect with reconnect: true", async ({ backend, gateway }) => {
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
