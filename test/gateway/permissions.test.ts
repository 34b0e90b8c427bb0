import { describe, expect } from "vitest";
import { accept, grant, refuse } from "../../src/backend/index.js";
import { httpBase } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

test.override({
  natsOptions: {
    jetstream: true,
    extraConfig: `
      authorization {
        users = [
          { user: gateway, password: gw-secret, permissions: {
              publish: ["herald.auth", "herald.subscribe", "herald.rpc.>", "herald.marker.>", "herald.gateway.>", "$JS.API.>"],
              subscribe: ["herald.>", "_INBOX.>"], allow_responses: true } }
          { user: oldgateway, password: gw-secret, permissions: {
              publish: ["herald.auth", "$JS.API.>"], subscribe: ["herald.>", "_INBOX.>"] } }
          { user: backend, password: be-secret, permissions: {
              publish: ["herald.user.>", "herald.channel.>", "herald.control.>"],
              subscribe: ["herald.auth", "herald.subscribe", "herald.rpc.>", "_INBOX.>"],
              allow_responses: true } }
        ]
      }`,
  },
  backendOptions: {
    user: "backend",
    pass: "be-secret",
    authorize: (token) => accept({ user: token, channels: ["news"] }),
  },
  gatewayOptions: { natsUser: "gateway", natsPassword: "gw-secret" },
});

/** The NATS permissions docs/operations.md gives, on a real server: nothing more is needed. */
describe("least-privilege NATS users", () => {
  test("authenticates, delivers, stores and recovers with only the documented permissions", async ({
    backend,
    client,
    socket,
  }) => {
    const first = await client("pat");
    const ready = first.frames[0] as unknown as { epoch: string };
    const stored = await backend.publishStored("pat", { n: 1 });
    await backend.publishToChannel("news", { n: 2 });
    const got = await first.waitForMessages(2);
    expect(got.map((m) => (m.data as { n: number }).n)).toEqual([1, 2]);
    first.close();
    await backend.publishStored("pat", { n: 3 });
    const back = await socket();
    back.send({
      type: "auth",
      token: "pat",
      recover: { epoch: ready.epoch, since: { "user.pat": stored.seq } },
    });
    expect(await back.next("ready")).toMatchObject({ recovered: true });
    const [replayed] = await back.waitForMessages(1);
    expect(replayed?.data).toEqual({ n: 3 });
  });

  test("answers rpc calls and disconnects users with only the documented permissions", async ({
    backend,
    client: ready,
  }) => {
    backend.onRpc("time", (_data, context) => ({ user: context.user }));
    await backend.flush();
    const client = await ready("quinn");
    client.send({ type: "rpc", id: 1, method: "time" });
    expect(await client.next("rpc_result")).toMatchObject({ id: 1, data: { user: "quinn" } });
    await backend.disconnect("quinn");
    expect(await client.next("error")).toMatchObject({ code: "DISCONNECTED" });
    expect((await client.waitClose()).code).toBe(4430);
  });

  test("subscribes and takes a channel away with only the documented permissions", async ({
    backend,
    client: ready,
  }) => {
    backend.onSubscribe((channel) => (channel === "channel.open" ? grant() : refuse("no", "not this one")));
    await backend.flush();
    const client = await ready("rae");
    client.send({ type: "subscribe", channel: "channel.open" });
    expect(await client.next("subscribed")).toMatchObject({ channel: "channel.open" });
    client.send({ type: "subscribe", channel: "channel.shut" });
    expect(await client.next("subscribe_error")).toMatchObject({ code: "SUBSCRIBE_REFUSED", reason: "no" });
    await backend.publishStored({ channel: "open" }, { n: 1 });
    expect((await client.waitForMessages(1))[0]).toMatchObject({ channel: "channel.open" });
    await backend.unsubscribe("rae", "channel.open");
    expect(await client.next("unsubscribed")).toMatchObject({ channel: "channel.open", reason: "removed" });
  });

  test("passes an HTTP stream's POSTs and an SSE ticket between gateways with only the documented permissions", async ({
    gatewayPair: [first, second],
    streamClient,
  }) => {
    const stream = await streamClient("sam", { at: first, transport: "sse", redeemAt: httpBase(second.url) });
    expect(stream.frames[0]).toMatchObject({ type: "ready", gateway: second.id });
    expect(await stream.send({ type: "ping" }, first.url)).toBe(204);
    await stream.next("pong");
  });

  test("refuses to start, saying why, when it may not publish its position markers", async ({
    startGateway,
  }) => {
    await expect(startGateway({ natsUser: "oldgateway", natsPassword: "gw-secret" })).rejects.toThrow(
      /not allowed to publish to herald\.marker\./,
    );
  });

  test("refuses to start with wrong NATS credentials, saying why", async ({ startGateway }) => {
    await expect(
      startGateway({ history: false, natsUser: "gateway", natsPassword: "wrong" }),
    ).rejects.toThrow(/auth/i);
  });
});
