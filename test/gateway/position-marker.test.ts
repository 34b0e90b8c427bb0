import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

/** The history stream must capture the gateways' position markers, and a gateway sees to it. */
describe("position markers", () => {
  test("are put back in the stream when a gateway of an older version took them out", async ({
    nats,
    backend,
    socket,
    client,
  }) => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const { config } = await jsm.streams.info("HERALD");
      // what an older gateway does at its start: the stream's subjects without the markers
      await jsm.streams.update("HERALD", { ...config, subjects: ["herald.user.>", "herald.channel.>"] });
      const refused = await socket();
      refused.send({ type: "auth", token: "ora" });
      expect(await refused.next("error", 15_000)).toMatchObject({ code: "BACKEND_UNAVAILABLE" });
      // the gateway noticed its marker did not come back, and put the subject back
      const markersCaptured = async () =>
        (await jsm.streams.info("HERALD")).config.subjects.includes("herald.marker.>");
      await waitUntil(markersCaptured, "the marker subject to be put back", {
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      const ora = await client("ora");
      await backend.publishStored("ora", { n: 1 });
      expect((await ora.waitForMessages(1))[0]?.data).toEqual({ n: 1 });
    } finally {
      await nc.close();
    }
  });
});
