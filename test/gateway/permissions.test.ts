import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type NatsServer, startNats, startTestGateway, TestClient } from "../../src/testing/index.js";

/** The NATS permissions docs/operations.md gives, on a real server: nothing more is needed. */
describe("least-privilege NATS users", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateway: RunningGateway;

  beforeAll(async () => {
    nats = await startNats({
      jetstream: true,
      extraConfig: `
        authorization {
          users = [
            { user: gateway, password: gw-secret, permissions: {
                publish: ["herald.auth", "herald.rpc.>", "herald.marker.>", "$JS.API.>"],
                subscribe: ["herald.>", "_INBOX.>"] } }
            { user: oldgateway, password: gw-secret, permissions: {
                publish: ["herald.auth", "$JS.API.>"], subscribe: ["herald.>", "_INBOX.>"] } }
            { user: backend, password: be-secret, permissions: {
                publish: ["herald.user.>", "herald.channel.>", "herald.control.>"],
                subscribe: ["herald.auth", "herald.rpc.>", "_INBOX.>"], allow_responses: true } }
          ]
        }`,
    });
    backend = await HeraldBackend.connect({ servers: nats.url, user: "backend", pass: "be-secret" });
    backend.serveAuth((token) => accept({ user: token, channels: ["news"] }));
    backend.onRpc("time", (_data, context) => ({ user: context.user }));
    gateway = await startTestGateway(nats, { history: true, natsUser: "gateway", natsPassword: "gw-secret" });
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  it("authenticates, delivers, stores and recovers with only the documented permissions", async () => {
    const client = await TestClient.ready(gateway.url, "pat");
    const ready = client.frames[0] as unknown as { epoch: string };
    const stored = await backend.publishStored("pat", { n: 1 });
    await backend.publishToChannel("news", { n: 2 });
    const got = await client.waitForMessages(2);
    expect(got.map((m) => (m.data as { n: number }).n)).toEqual([1, 2]);
    client.close();
    await backend.publishStored("pat", { n: 3 });
    const back = await TestClient.open(gateway.url);
    back.send({
      type: "auth",
      token: "pat",
      recover: { epoch: ready.epoch, since: { "user.pat": stored.seq } },
    });
    expect(await back.next("ready")).toMatchObject({ recovered: true });
    const [replayed] = await back.waitForMessages(1);
    expect(replayed?.data).toEqual({ n: 3 });
    back.close();
  });

  it("answers rpc calls and disconnects users with only the documented permissions", async () => {
    const client = await TestClient.ready(gateway.url, "quinn");
    client.send({ type: "rpc", id: 1, method: "time" });
    expect(await client.next("rpc_result")).toMatchObject({ id: 1, data: { user: "quinn" } });
    await backend.disconnect("quinn");
    expect(await client.next("error")).toMatchObject({ code: "DISCONNECTED" });
    expect((await client.waitClose()).code).toBe(4430);
  });

  it("refuses to start, saying why, when it may not publish its position markers", async () => {
    await expect(
      startTestGateway(nats, { history: true, natsUser: "oldgateway", natsPassword: "gw-secret" }),
    ).rejects.toThrow(/not allowed to publish to herald\.marker\./);
  });

  it("refuses to start with wrong NATS credentials, saying why", async () => {
    await expect(startTestGateway(nats, { natsUser: "gateway", natsPassword: "wrong" })).rejects.toThrow(
      /auth/i,
    );
  });
});
