import { describe, expect } from "vitest";
import { accept, refuse } from "../../src/backend/index.js";
import { test } from "../fixtures.js";
import { closeClients, observeClient } from "./observed-client.js";
import { sleep, until } from "./scripted-gateway.js";

/** The SDK against the real thing: a gateway with history on JetStream, a real nats-server, a backend. */
describe("client SDK against a real gateway and nats-server", () => {
  test.override({
    // Tokens are `<user>`; `refused` is refused, as a backend refuses an expired or forged token.
    backendOptions: {
      authorize: (token) =>
        token === "refused"
          ? refuse("invalid_token", "token expired")
          : accept({ user: token, channels: ["news"] }),
    },
  });
  test.afterEach(() => closeClients());

  test("connects, gets ready and receives personal and shared-channel messages", async ({
    backend,
    gateway,
  }) => {
    const observed = observeClient(gateway.url, { getToken: async () => "ann" });
    const news: unknown[] = [];
    observed.client.channel("channel.news", (m) => news.push(m.data));
    await until(() => observed.client.state === "ready", "ready", 10_000);
    expect(observed.states).toEqual(["connecting", "authenticating", "ready"]);
    expect(observed.readies[0]).toMatchObject({ user: "ann", channels: ["user.ann", "channel.news"] });
    expect(observed.readies[0]!.epoch).toEqual(expect.any(String));

    await backend.publishStored("ann", { n: 1 });
    await backend.publishStored({ channel: "news" }, "headline");
    await until(() => observed.messages.length === 2, "two messages");
    expect(observed.messages.map((m) => [m.channel, m.data])).toEqual([
      ["user.ann", { n: 1 }],
      ["channel.news", "headline"],
    ]);
    expect(news).toEqual(["headline"]);
    expect(observed.messages[0]!.seq).toEqual(expect.any(Number));
    expect(observed.errors).toEqual([]);
  });

  test("reconnects after the gateway is closed and restarted on the same port, and recovers what it missed", async ({
    backend,
    gateway,
    startGateway,
  }) => {
    const port = gateway.port;
    const observed = observeClient(gateway.url, {
      getToken: () => "bob",
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await until(() => observed.client.state === "ready", "ready", 10_000);
    await backend.publishStored("bob", { n: 1 });
    await until(() => observed.messages.length === 1, "the first message");

    await gateway.close();
    await until(() => observed.client.state === "reconnecting", "reconnecting");
    // Published while no gateway runs: only the history can bring these to the client.
    await backend.publishStored("bob", { n: 2 });
    await backend.publishStored("bob", { n: 3 });
    await sleep(300);

    await startGateway({ port });
    await until(() => observed.readies.length === 2, "ready on the restarted gateway", 15_000);
    expect(observed.readies[1]!.recovered).toBe(true);
    await backend.publishStored("bob", { n: 4 });
    await until(() => observed.messages.length === 4, "every message", 10_000);

    expect(observed.messages.map((m) => (m.data as { n: number }).n)).toEqual([1, 2, 3, 4]);
    expect(observed.resyncs).toEqual([]);
    expect(observed.states).toContain("reconnecting");
    expect(observed.client.state).toBe("ready");
    // The gateway went away with 1001, then connection attempts failed until it was back.
    expect(observed.errors[0]?.closeCode).toBe(1001);
    expect(observed.errors.every((e) => e.retryable)).toBe(true);
  });

  test("surfaces a refused token with the backend's reason and does not retry it", async ({
    startGateway,
  }) => {
    const gateway = await startGateway({ history: false });
    let tokenCalls = 0;
    const observed = observeClient(gateway.url, {
      getToken: () => {
        tokenCalls++;
        return "refused";
      },
    });
    await until(() => observed.client.state === "closed", "closed", 10_000);
    expect(observed.errors).toHaveLength(1);
    expect(observed.errors[0]).toMatchObject({
      code: "AUTH_REFUSED",
      closeCode: 4401,
      retryable: false,
      reason: "invalid_token",
    });
    // Zero backoff: a retry would have happened many times over by now.
    await sleep(500);
    expect(tokenCalls).toBe(1);
    expect(observed.errors).toHaveLength(1);
  });
});
