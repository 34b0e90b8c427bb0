import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import {
  type NatsServer,
  type RawBackend,
  startNats,
  startRawBackend,
  startTestGateway,
  TestClient,
  waitUntil,
} from "../../src/testing/index.js";

/**
 * `<prefix>.control.unsubscribe` from a plain NATS publish: every gateway takes the channel from
 * every connection of that user, whether granted at auth or subscribed, and nobody else's.
 */
describe("control.unsubscribe", () => {
  let nats: NatsServer;
  let backend: RawBackend;
  let publisher: HeraldBackend;
  let control: NatsConnection;
  let gateways: RunningGateway[];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    backend = await startRawBackend(nats.url);
    publisher = await HeraldBackend.connect({ servers: nats.url });
    control = await connect({ servers: nats.url });
    gateways = [
      await startTestGateway(nats, { history: true, historyStorage: "memory" }),
      await startTestGateway(nats, { history: true, historyStorage: "memory" }),
    ];
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await control?.close();
    await publisher?.close();
    await backend?.close();
    await nats?.stop();
  });

  async function ready(gateway: RunningGateway, token: string): Promise<TestClient> {
    const client = await TestClient.ready(gateway.url, token);
    clients.push(client);
    return client;
  }

  async function subscribe(client: TestClient, channel: string): Promise<void> {
    client.send({ type: "subscribe", channel });
    await client.next("subscribed");
  }

  it("takes the channel from every connection of the user on both gateways, and only theirs", async () => {
    const [g1, g2] = gateways as [RunningGateway, RunningGateway];
    backend.replies.set("uma", JSON.stringify({ ok: true, user: "uma", channels: ["hall"] }));
    backend.replies.set("uma-tab", JSON.stringify({ ok: true, user: "uma" }));
    const umaOnG1 = await ready(g1, "uma"); // granted at auth
    const umaOnG2 = await ready(g2, "uma-tab"); // another tab, on another gateway: subscribed
    await subscribe(umaOnG2, "channel.hall");
    const vic = await ready(g1, "vic");
    await subscribe(vic, "channel.hall");

    control.publish("herald.control.unsubscribe", JSON.stringify({ user: "uma", channel: "channel.hall" }));
    for (const c of [umaOnG1, umaOnG2]) {
      expect(await c.next("unsubscribed")).toEqual({
        type: "unsubscribed",
        channel: "channel.hall",
        reason: "removed",
      });
    }
    // g2 held the channel for uma alone: its subscription is gone; g1 keeps it for vic
    await waitUntil(async () => g2.subjectCount === 1, "g2 let go of channel.hall");
    await publisher.publishStored({ channel: "hall" }, "after");
    await publisher.publishStored("uma", "to uma");
    expect((await vic.waitForMessages(1))[0]).toMatchObject({ channel: "channel.hall", data: "after" });
    for (const c of [umaOnG1, umaOnG2]) {
      const [message] = await c.waitForMessages(1);
      expect(message).toMatchObject({ channel: "user.uma", data: "to uma" });
      expect(c.messages()).toHaveLength(1);
      expect(c.closed).toBeUndefined();
    }
  });

  it("ignores a control message that breaks its schema, and one for a channel nobody holds", async () => {
    const [g1] = gateways as [RunningGateway];
    const wes = await ready(g1, "wes");
    await subscribe(wes, "channel.yard");
    for (const bad of [
      "not json",
      JSON.stringify({ user: "wes" }),
      JSON.stringify({ user: "wes", channel: "yard" }),
      JSON.stringify({ user: "wes", channel: "channel.>" }),
      JSON.stringify({ user: "w.*", channel: "channel.yard" }),
      JSON.stringify({ user: "wes", channel: "user.wes" }),
    ]) {
      control.publish("herald.control.unsubscribe", bad);
    }
    control.publish("herald.control.unsubscribe", JSON.stringify({ user: "wes", channel: "channel.other" }));
    control.publish("herald.control.no-such-verb", "{}");
    // a message published after them all is the next thing the connection gets
    await control.flush();
    await publisher.publishStored({ channel: "yard" }, "still here");
    expect(await wes.next()).toMatchObject({ type: "message", channel: "channel.yard", data: "still here" });
    expect(wes.frames.filter((f) => f.type === "unsubscribed")).toEqual([]);
  });
});
