import type { Msg } from "@nats-io/nats-core";
import { afterEach, describe, expect } from "vitest";
import { RpcRefusal } from "../../src/backend/index.js";
import { HeraldRpcError } from "../../src/client/index.js";
import { waitUntil } from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";
import { closeClients, observeClient } from "./observed-client.js";

/** The backend's methods, and `held`: requests a raw responder got and has not answered. */
const test = base.extend<{ held: Msg[] }>({
  held: [
    async ({ backend, raw }, use) => {
      backend.onRpc("time", (_data, context) => ({ now: 1_764_000_000_000, user: context.user }));
      backend.onRpc("order", (data) => {
        if ((data as { id?: unknown })?.id !== 42) throw new RpcRefusal("not_found", "no such order");
        return { id: 42, total: 9.5 };
      });
      const held: Msg[] = [];
      raw.subscribe("herald.rpc.held", {
        callback: (_err, msg) => {
          held.push(msg);
        },
      });
      await raw.flush();
      await backend.flush();
      await use(held);
    },
    { auto: true },
  ],
});

// A nats-server without JetStream, and gateways and a backend without history.
test.override({ natsOptions: {} });

/** `client.rpc()` against a real gateway, nats-server and backend. */
describe("client rpc", () => {
  test.override({
    backendOptions: { history: false, onError: () => undefined },
    gatewayOptions: { history: false, maxFrameBytes: 1024 },
  });
  afterEach(() => closeClients());

  test("resolves with the backend's data, and rejects a refusal with a typed error", async ({ gateway }) => {
    const { client } = observeClient(gateway.url, { getToken: () => "ann" });
    // called before the connection is ready: the call waits for it
    const time = client.rpc<{ now: number; user: string }>("time");
    expect(await time).toEqual({ now: 1_764_000_000_000, user: "ann" });
    expect(await client.rpc("order", { id: 42 })).toEqual({ id: 42, total: 9.5 });
    const refused = await client.rpc("order", { id: 7 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HeraldRpcError);
    expect(refused).toMatchObject({
      code: "REFUSED",
      reason: "not_found",
      message: "no such order",
      method: "order",
      retryable: false,
    });
    expect(client.state).toBe("ready");
  });

  test("rejects unsafe methods, unencodable data and frames over the gateway's limit without sending or closing", async ({
    gateway,
    held,
  }) => {
    const observed = observeClient(gateway.url, { getToken: () => "bo" });
    const { client } = observed;
    await waitUntil(() => client.state === "ready", "ready");
    for (const method of ["a.b", ">", "", "x\r\nPUB y 1", "é"]) {
      await expect(client.rpc(method)).rejects.toMatchObject({ code: "INVALID_METHOD", retryable: false });
    }
    await expect(client.rpc("held", { big: 1n })).rejects.toMatchObject({ code: "INVALID_DATA" });
    await expect(client.rpc("held", "x".repeat(2000))).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
      retryable: false,
    });
    // still connected, and nothing reached the backend
    expect(await client.rpc("time")).toMatchObject({ user: "bo" });
    expect(held).toEqual([]);
    expect(observed.errors).toEqual([]);
    expect(observed.states).toEqual(["connecting", "authenticating", "ready"]);
  });

  test("times out by itself, and ignores the late answer", async ({ gateway, held }) => {
    const { client } = observeClient(gateway.url, { getToken: () => "cy" });
    const call = client.rpc("held", { n: 1 }, { timeout: 300 });
    await expect(call).rejects.toMatchObject({ code: "TIMEOUT", retryable: true });
    expect(held).toHaveLength(1);
    held[0]!.respond(JSON.stringify({ ok: true, data: "too late" }));
    expect(await client.rpc("time")).toMatchObject({ user: "cy" });
  });

  test("fails a call in flight with RPC_INTERRUPTED when the connection drops, and never sends it again", async ({
    startGateway,
    held,
  }) => {
    const own = await startGateway({ history: false });
    try {
      const observed = observeClient(own.url, {
        getToken: () => "dee",
        backoff: { initialMs: 50, maxMs: 100 },
      });
      const { client } = observed;
      await waitUntil(() => client.state === "ready", "ready");
      const call = client.rpc("held", "once", { timeout: 20_000 });
      await waitUntil(() => held.length === 1, "the call at the backend");
      const port = own.port;
      await own.close();
      await expect(call).rejects.toMatchObject({ code: "RPC_INTERRUPTED", retryable: true });
      const again = await startGateway({ history: false, port });
      try {
        await waitUntil(() => observed.readies.length === 2, "ready again", { timeoutMs: 10_000 });
        expect(await client.rpc("time")).toMatchObject({ user: "dee" });
        expect(held).toHaveLength(1);
      } finally {
        await again.close();
      }
    } finally {
      await own.close();
    }
  });

  test("on close(), fails calls sent with RPC_INTERRUPTED, calls not sent and new ones with NOT_CONNECTED", async ({
    gateway,
    held,
  }) => {
    const { client } = observeClient(gateway.url, { getToken: () => "eve" });
    await waitUntil(() => client.state === "ready", "ready");
    const sent = client.rpc("held", 1);
    await waitUntil(() => held.length === 1, "the call at the backend");
    client.close();
    await expect(sent).rejects.toMatchObject({ code: "RPC_INTERRUPTED" });
    await expect(client.rpc("time")).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    // a call waiting for a connection that close() ends before it is ready
    const waiting = client.connect().rpc("time");
    client.close();
    await expect(waiting).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    expect(held).toHaveLength(1);
  });
});
