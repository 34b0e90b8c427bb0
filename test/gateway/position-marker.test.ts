import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type NatsServer, startNats, startTestGateway, TestClient } from "../../src/testing/index.js";

/** The history stream must capture the gateways' position markers, and a gateway sees to it. */
describe("position markers", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateway: RunningGateway;

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    backend = await HeraldBackend.connect({ servers: nats.url });
    backend.serveAuth((token) => accept({ user: token }));
    gateway = await startTestGateway(nats, { history: true });
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  it("are put back in the stream when a gateway of an older version took them out", async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    const { config } = await jsm.streams.info("HERALD");
    // what an older gateway does at its start: the stream's subjects without the markers
    await jsm.streams.update("HERALD", { ...config, subjects: ["herald.user.>", "herald.channel.>"] });
    const refused = await TestClient.open(gateway.url);
    refused.send({ type: "auth", token: "ora" });
    expect(await refused.next("error", 15_000)).toMatchObject({ code: "BACKEND_UNAVAILABLE" });
    // the gateway noticed its marker did not come back, and put the subject back
    const deadline = Date.now() + 10_000;
    while (!(await jsm.streams.info("HERALD")).config.subjects.includes("herald.marker.>")) {
      if (Date.now() > deadline) throw new Error("the marker subject was not put back");
      await new Promise((r) => setTimeout(r, 20));
    }
    const client = await TestClient.ready(gateway.url, "ora");
    await backend.publishStored("ora", { n: 1 });
    expect((await client.waitForMessages(1))[0]?.data).toEqual({ n: 1 });
    client.close();
    await nc.close();
  });
});
