import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import type { HeraldBackend } from "../../src/backend/index.js";
import { loadGatewayConfig } from "../../src/gateway/config/config.js";
import { ChannelHub } from "../../src/gateway/delivery/channel-hub.js";
import { History } from "../../src/gateway/history/history.js";
import { StreamFeed } from "../../src/gateway/history/live-feed.js";
import { StreamMarker } from "../../src/gateway/history/stream-marker.js";
import { createLogger } from "../../src/gateway/logger.js";
import { GatewayMetrics } from "../../src/gateway/metrics.js";
import { subjectsFor } from "../../src/protocol/index.js";
import { type NatsServer, type ReceivedFrame, waitUntil } from "../../src/testing/index.js";
import { connectReady, test } from "../fixtures.js";

const numbers = (frames: ReceivedFrame[]) => frames.map((f) => (f.data as { n: number }).n);

const eventually = (condition: () => boolean | Promise<boolean>, what: string) =>
  waitUntil(condition, what, { timeoutMs: 10_000 });

/**
 * A message stored after a connection's subscription went live, but before its position was taken,
 * reaches it exactly once. The position marker is held (a test hook) while the message is stored.
 */
describe("joining while messages are stored", () => {
  /** Runs once, in place of the next position marker's publication, then is cleared. */
  let inWindow: (() => Promise<void>) | undefined;
  test.override({
    gatewayHooks: {
      beforePositionMarker: async () => {
        const hook = inWindow;
        inWindow = undefined;
        await hook?.();
      },
    },
  });

  /** Once the gateway's subscription for `user` is live at the server, stores `n` for that user. */
  function storeInWindow(
    { nats, backend }: { nats: NatsServer; backend: HeraldBackend },
    user: string,
    n: number,
  ): Promise<number> {
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

  test("on a first connection", async ({ nats, backend, client }) => {
    const stored = storeInWindow({ nats, backend }, "ana", 1);
    const first = await connectReady(client, "ana");
    const seq = await stored;
    expect(first.ready.positions["user.ana"]).toBeLessThan(seq);
    await backend.publishStored("ana", { n: 2 });
    expect(numbers(await first.client.waitForMessages(2))).toEqual([1, 2]);
    expect(first.client.messages()[0]?.seq).toBe(seq);
  });

  test("on a recovering connection, after the replayed messages", async ({ nats, backend, client }) => {
    const first = await connectReady(client, "bea");
    await backend.publishStored("bea", { n: 1 });
    const [seen] = await first.client.waitForMessages(1);
    first.client.close();
    await backend.publishStored("bea", { n: 2 }); // while away
    const stored = storeInWindow({ nats, backend }, "bea", 3);
    const back = await connectReady(client, "bea", {
      recover: { epoch: first.ready.epoch, since: { "user.bea": seen?.seq } },
    });
    await stored;
    expect(back.ready.recovered).toBe(true);
    await backend.publishStored("bea", { n: 4 });
    expect(numbers(await back.client.waitForMessages(3))).toEqual([2, 3, 4]);
  });

  test("on a recovering connection to a channel with nothing stored yet", async ({
    nats,
    backend,
    client,
  }) => {
    const first = await connectReady(client, "cid");
    first.client.close();
    const stored = storeInWindow({ nats, backend }, "cid", 1);
    const since = first.ready.positions["user.cid"];
    const back = await connectReady(client, "cid", {
      recover: { epoch: first.ready.epoch, since: { "user.cid": since } },
    });
    await stored;
    expect(back.ready.recovered).toBe(true);
    await backend.publishStored("cid", { n: 2 });
    expect(numbers(await back.client.waitForMessages(2))).toEqual([1, 2]);
  });
});

/** The hub resolves a join only once the channel's subscription is live, for every member. */
describe("ChannelHub.join", () => {
  /** A hub whose position markers are held until `release()`. */
  const hubTest = test.extend<{
    heldHub: { hub: ChannelHub; held: () => boolean; release: () => void };
  }>({
    heldHub: async ({ nats }, use) => {
      const nc = await connect({ servers: nats.url });
      const config = loadGatewayConfig({ overrides: { nats: [nats.url], history: true, gatewayId: "hub" } });
      const logger = createLogger("silent", "hub");
      const subjects = subjectsFor(config.prefix);
      await History.open({ nc, config, subjects, logger });
      let release: (() => void) | undefined;
      const marker = new StreamMarker({
        nc,
        subjects,
        gatewayId: "hub",
        logger,
        onLost: () => undefined,
        beforePublish: () =>
          new Promise<void>((resolve) => {
            release = resolve;
          }),
      });
      const feed = new StreamFeed(subjects, marker);
      const hub = new ChannelHub({ nc, feed, logger, metrics: new GatewayMetrics(false) });
      await use({ hub, held: () => release !== undefined, release: () => release?.() });
      release?.();
      hub.close();
      await nc.close();
    },
  });

  hubTest(
    "makes a second member wait for the subscription the first one is waiting for",
    async ({ heldHub: { hub, held, release } }) => {
      const settled: string[] = [];
      const member = { deliver: () => undefined, fail: () => undefined };
      const first = hub.join("user.eve", member).then((p) => settled.push(`first ${p}`));
      await eventually(held, "the marker to be held");
      const second = hub
        .join("user.eve", { deliver: () => undefined, fail: () => undefined })
        .then((p) => settled.push(`second ${p}`));
      // Several turns of the event loop: a join that did not wait would have settled by now.
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(settled).toEqual([]);
      release();
      await Promise.all([first, second]);
      expect(settled).toHaveLength(2);
      expect(settled[0]?.split(" ")[1]).toBe(settled[1]?.split(" ")[1]);
    },
  );
});
