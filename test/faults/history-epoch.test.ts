import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { expect } from "vitest";
import { accept } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import type { ClusterNode } from "../../src/testing/index.js";
import { connectReady, test } from "../fixtures.js";

const STREAM = "HERALD";

test("the history's epoch is one, however many gateways made the stream at once and whichever replica leads", async ({
  launch,
}) => {
  const cluster = await launch.cluster(3);
  const [a, b, c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  await launch.backend(c, { authorize: (token) => accept({ user: token }) });
  const nc = launch.own(await connect({ servers: [...cluster.urls] }), (opened) => opened.close());
  const epochAt = async (gateway: RunningGateway) =>
    (await launch.client(gateway, "u1")).frames[0]?.epoch as string | undefined;

  // Gateways starting together each ask to create the stream; they must all take one epoch.
  const together = await Promise.all([a, b, c].map((node) => launch.gateway(node, { history: true })));
  const epochs = new Set(await Promise.all(together.map(epochAt)));
  expect(epochs.size).toBe(1);

  // And a gateway reading the stream while another replica leads finds the same one, or every
  // recovery through it is a refetch.
  const leaders = new Set<string>();
  for (let step = 0; step < 4; step++) {
    const leader = await cluster.waitForStreamLeader(STREAM);
    leaders.add(leader);
    epochs.add((await epochAt(await launch.gateway(a, { history: true }))) as string);
    await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${STREAM}`, "", { timeout: 5000 });
    await cluster.waitForStreamLeader(STREAM, { not: leader });
  }
  expect(leaders.size).toBeGreaterThan(1);
  expect([...epochs]).toHaveLength(1);
});

test("a stream made before the epoch was kept in its settings takes its creation time, once", async ({
  raw,
  startGateway,
  client,
}) => {
  await startGateway();
  const jsm = await jetstreamManager(raw);
  // as such a stream was: no description
  const { config } = await jsm.streams.info(STREAM);
  await jsm.streams.update(STREAM, { ...config, description: "" });

  const upgraded = await startGateway();
  const { ready } = await connectReady(client, "u2", { at: upgraded });
  const info = await jsm.streams.info(STREAM);
  expect(ready.epoch).toBe(String(Date.parse(info.created)));
  expect(info.config.description).toContain(ready.epoch);

  // every gateway from then on, the first one after a re-read included, finds the same
  const again = await startGateway();
  expect((await connectReady(client, "u3", { at: again })).ready.epoch).toBe(ready.epoch);
});
