import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import { ChannelHub } from "../../src/gateway/channel-hub.js";
import { loadGatewayConfig } from "../../src/gateway/config.js";
import { History } from "../../src/gateway/history.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { createLogger } from "../../src/gateway/logger.js";
import { GatewayMetrics } from "../../src/gateway/metrics.js";
import { StreamMarker } from "../../src/gateway/stream-marker.js";
import { subjectsFor } from "../../src/protocol/index.js";
import {
  type NatsServer,
  type ReceivedFrame,
  startNats,
  startTestGateway,
  TestClient,
} from "../../src/testing/index.js";

interface Ready {
  epoch: string;
  positions: Record<string, number>;
  recovered?: boolean;
}

const numbers = (frames: ReceivedFrame[]) => frames.map((f) => (f.data as { n: number }).n);

async function eventually(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A message stored after a connection's subscription went live, but before its position was taken,
 * reaches it exactly once. The position marker is held (a test hook) while the message is stored.
 */
describe("joining while messages are stored", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateway: RunningGateway;
  /** Runs once, in place of the next position marker's publication, then is cleared. */
  let inWindow: (() => Promise<void>) | undefined;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    backend = await HeraldBackend.connect({ servers: nats.url });
    backend.serveAuth((token) => accept({ user: token }));
    gateway = await startTestGateway(
      nats,
      { history: true },
      {
        beforePositionMarker: async () => {
          const hook = inWindow;
          inWindow = undefined;
          await hook?.();
        },
      },
    );
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  async function ready(token: string, recover?: unknown): Promise<{ client: TestClient; ready: Ready }> {
    const client = await TestClient.open(gateway.url);
    clients.push(client);
    client.send(recover ? { type: "auth", token, recover } : { type: "auth", token });
    const frame = await client.next();
    expect(frame.type).toBe("ready");
    return { client, ready: frame as unknown as Ready };
  }

  /** Once the gateway's subscription for `user` is live at the server, stores `n` for that user. */
  function storeInWindow(user: string, n: number): Promise<number> {
    return new Promise((resolve, reject) => {
      inWindow = async () => {
        try {
          await eventually(() => nats.hasSubscriber(`herald.live.user.${user}`), "the subscription");
          resolve((await backend.publishStored(user, { n })).seq);
        } catch (err) {
          reject(err);
        }
      };
    });
  }

  it("on a first connection", async () => {
    const stored = storeInWindow("ana", 1);
    const first = await ready("ana");
    const seq = await stored;
    expect(first.ready.positions["user.ana"]).toBeLessThan(seq);
    await backend.publishStored("ana", { n: 2 });
    expect(numbers(await first.client.waitForMessages(2))).toEqual([1, 2]);
    expect(first.client.messages()[0]?.seq).toBe(seq);
  });

  it("on a recovering connection, after the replayed messages", async () => {
    const first = await ready("bea");
    await backend.publishStored("bea", { n: 1 });
    const [seen] = await first.client.waitForMessages(1);
    first.client.close();
    await backend.publishStored("bea", { n: 2 }); // while away
    const stored = storeInWindow("bea", 3);
    const back = await ready("bea", { epoch: first.ready.epoch, since: { "user.bea": seen?.seq } });
    await stored;
    expect(back.ready.recovered).toBe(true);
    await backend.publishStored("bea", { n: 4 });
    expect(numbers(await back.client.waitForMessages(3))).toEqual([2, 3, 4]);
  });

  it("on a recovering connection to a channel with nothing stored yet", async () => {
    const first = await ready("cid");
    first.client.close();
    const stored = storeInWindow("cid", 1);
    const since = first.ready.positions["user.cid"];
    const back = await ready("cid", { epoch: first.ready.epoch, since: { "user.cid": since } });
    await stored;
    expect(back.ready.recovered).toBe(true);
    await backend.publishStored("cid", { n: 2 });
    expect(numbers(await back.client.waitForMessages(2))).toEqual([1, 2]);
  });
});

/** The hub resolves a join only once the channel's subscription is live, for every member. */
describe("ChannelHub.join", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let hub: ChannelHub;
  let release: (() => void) | undefined;
  let held: Promise<void> | undefined;

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    nc = await connect({ servers: nats.url });
    const config = loadGatewayConfig({ overrides: { nats: [nats.url], history: true, gatewayId: "hub" } });
    const logger = createLogger("silent", "hub");
    const subjects = subjectsFor(config.prefix);
    await History.open(nc, config, subjects, logger);
    const marker = new StreamMarker(
      nc,
      subjects,
      "hub",
      logger,
      () => undefined,
      () => {
        held = new Promise((resolve) => {
          release = resolve;
        });
        return held;
      },
    );
    hub = new ChannelHub(nc, (c) => subjects.liveOf(c), marker, logger, new GatewayMetrics(false));
  });
  afterAll(async () => {
    release?.();
    hub?.close();
    await nc?.close();
    await nats?.stop();
  });

  it("makes a second member wait for the subscription the first one is waiting for", async () => {
    const settled: string[] = [];
    const member = { deliver: () => undefined, fail: () => undefined };
    const first = hub.join("user.eve", member).then((p) => settled.push(`first ${p}`));
    await eventually(async () => release !== undefined, "the marker to be held");
    const second = hub
      .join("user.eve", { deliver: () => undefined, fail: () => undefined })
      .then((p) => settled.push(`second ${p}`));
    // Several turns of the event loop: a join that did not wait would have settled by now.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(settled).toEqual([]);
    release!();
    await Promise.all([first, second]);
    expect(settled).toHaveLength(2);
    expect(settled[0]?.split(" ")[1]).toBe(settled[1]?.split(" ")[1]);
  });
});
