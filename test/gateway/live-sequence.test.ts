import { jetstreamManager } from "@nats-io/jetstream";
import { headers, type Msg } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { liveSequence, rawHeaderBlock } from "../../src/gateway/history/live-sequence.js";
import { waitUntil } from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";

/** Four messages as a stream's RePublish sends them, the third with headers of its own. */
const test = base.extend<{ live: Msg[] }>({
  live: [
    async ({ nats }, use) => {
      const live: Msg[] = [];
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({
        name: "LIVE",
        subjects: ["t.user.>"],
        republish: { src: "t.>", dest: "t.live.>" },
      });
      nc.subscribe("t.live.>", { callback: (_err, msg) => void live.push(msg) });
      await nc.flush();
      const withHeaders = headers();
      withHeaders.set("Nats-Msg-Id", "id-1");
      withHeaders.set("X-App", "Nats-Sequence: 999");
      nc.publish("t.user.a", "1");
      nc.publish("t.user.b", "2");
      nc.publish("t.user.a", "3", { headers: withHeaders });
      nc.publish("t.user.a", "4");
      await waitUntil(() => live.length === 4, "the republished messages");
      await nc.close();
      await use(live);
    },
    { scope: "file" },
  ],
});

/** The stream position read from a real RePublish's raw headers agrees with the general parser. */
describe("liveSequence", () => {
  test("reads seq and prev from the raw header block, as the general parser does", ({ live }) => {
    const read = live.map((msg) => liveSequence(msg));
    expect(read).toEqual([
      { seq: 1, prev: 0 },
      { seq: 2, prev: 0 },
      { seq: 3, prev: 1 },
      { seq: 4, prev: 3 },
    ]);
    for (const msg of live) {
      expect(rawHeaderBlock(msg)).toBeDefined(); // the fast path, not the fallback
      expect(liveSequence(msg)).toEqual({
        seq: Number(msg.headers?.get("Nats-Sequence")),
        prev: Number(msg.headers?.get("Nats-Last-Sequence")),
      });
    }
  });

  test("gives nothing for a message without a stream sequence", async ({ nats }) => {
    const nc = await connect({ servers: nats.url });
    const got = new Promise<Msg>((resolve) => nc.subscribe("plain", { callback: (_e, m) => resolve(m) }));
    await nc.flush();
    nc.publish("plain", "x");
    expect(liveSequence(await got)).toBeUndefined();
    await nc.close();
  });
});
